"""``detector eval``: inject schemes into Bitcoin-Alpha, replay each stream through our engine and the baselines,
and report account- and scheme-level metrics (definitions in docs/evaluation.md).

Per seed, one stream: the real Bitcoin-Alpha ratings with organic profiles and ``rings`` farming rings plus
``bursts`` bought follower bursts of stratified shapes (see :func:`detector.simulation.generate`). Seeds run in
parallel processes; everything is deterministic for a seed. ``--background synthetic`` injects into the simulated
background instead, as dense as the training streams (whose seeds it refuses): the check that a result on the sparse
real network carries over to denser traffic.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from operator import attrgetter
from pathlib import Path
from typing import Protocol

import orjson
from sklearn.metrics import average_precision_score

from detector.baselines import heuristic, midas
from detector.core.events import Event
from detector.core.findings import FLAG_THRESHOLD, Finding, check_flagging
from detector.core.growth import MIN_BURST
from detector.core.rings import MIN_RING_SIZE
from detector.simulate import add_background_variant_arguments, add_ring_variant_arguments, variant_options
from detector.simulation import BITCOIN_ALPHA, SYNTHETIC, SimulationConfig, generate
from detector.simulation.clock import HOUR
from detector.simulation.schemes import pace
from models.calibration import Reliability
from models.decisions import decision_row
from models.labels import SchemeIndex
from models.retrain import TRAINING_DAYS, TRAINING_STREAMS, training_seeds

METHODS = ("ours", "heuristic", "midas")
BACKGROUND_NAMES = {BITCOIN_ALPHA: "Bitcoin-Alpha", SYNTHETIC: "the synthetic background (no benign labels)"}
MIDAS_BUCKETS = {"hour": 3600.0, "day": 86400.0}
#: Missed schemes listed per method in the text report (the JSON report has every scheme).
MAX_MISSED_LISTED = 20
#: Organic accounts listed per method in the text report, most often flagged first.
MAX_ORGANIC_LISTED = 12


class Result(Protocol):
    """What every method reports per account (our engine's ``AccountResult`` and ``BaselineResult`` both do)."""

    score: float
    flagged: bool
    first_flagged_ts: float | None


@dataclass(frozen=True)
class EvalConfig:
    seeds: int = 5
    first_seed: int = 0
    #: Explicit seeds (``--seed-ranges``); when given, ``seeds`` and ``first_seed`` are not used.
    seed_list: tuple[int, ...] = ()
    rings_per_seed: int = 8
    bursts_per_seed: int = 6
    methods: tuple[str, ...] = METHODS
    midas_bucket: str = "day"  # the better of hour and day for MIDAS-R here (generous to the baseline)
    workers: int = 0  # 0: one per seed, up to the CPU count
    background: str = BITCOIN_ALPHA
    #: Friend circles per synthetic stream (`--circles-per-seed`): organic cliques that must not be flagged.
    circles_per_seed: int = 0
    #: Share of a synthetic stream's accounts falling silent for 30-45 days (`--quiet-share`), a third of them with
    #: old friends they trade with as a circle on their return (reported with the friend circles).
    quiet_share: float = 0.0
    #: Signup waves per synthetic stream (`--signup-waves`): popular accounts whose fans sign up to follow them.
    signup_waves: int = 0
    #: Share of the rings trading tit for tat, every boost inside answered (`--reciprocal-rings`), by this share of
    #: their one-way pairs (`--answered-pairs`).
    reciprocal_rings: float = 0.0
    answered_pairs: float = 1.0
    #: Share of the rings whose members boost each other once, weeks before trading (`--pre-aged-rings`): how far a
    #: ring that makes its ties look old gets (docs/evaluation.md, *Rings that pre-age their ties*).
    pre_aged_rings: float = 0.0
    #: Share of the rings whose hijacked members had been idle 30 days or more (`--idle-hijacked-rings`).
    idle_hijacked_rings: float = 0.0
    #: Bought accounts per ring each boosting half its members (`--shared-fans`): how far a ring whose members share
    #: outside boosters gets (docs/evaluation.md, *Rings whose members share fans*).
    shared_fans: int = 0
    shared_fans_age_days: float = 0.0
    #: Share of the bursts whose bought accounts are registered as the order runs (`--on-demand-bursts`).
    on_demand_bursts: float = 0.0
    #: Score with these weights (a `detector train --out` file) instead of the shipped ones.
    weights: str | None = None
    #: Ours flags a candidate scored this or more (the engine's `threshold`; `--thresholds` compares several).
    threshold: float = FLAG_THRESHOLD
    #: Decide every case ours opens as a reviewer knowing the truth would (`--decisions-out`).
    review: bool = False

    def seed_values(self) -> list[int]:
        return list(self.seed_list) or list(range(self.first_seed, self.first_seed + self.seeds))


@dataclass(frozen=True)
class Truth:
    """Account sets of one stream. ``ignored`` (bought helper accounts and side targets) are neither positives nor
    negatives; ``organic`` are the accounts of the background stream."""

    positives: frozenset[str]
    ignored: frozenset[str]
    benign: frozenset[str]
    organic: frozenset[str]
    schemes: tuple[dict, ...]
    #: Beneficiaries of the synthetic background's viral bursts: organic growth that must not be flagged.
    viral: frozenset[str] = frozenset()
    #: Members of the synthetic background's friend circles: organic trading that must not be flagged.
    circles: frozenset[str] = frozenset()
    #: Accounts whose fans signed up in droves to follow them: organic growth from newcomers, not to be flagged.
    signups: frozenset[str] = frozenset()

    @classmethod
    def from_simulation(cls, events: Sequence[Event], truth: Mapping) -> Truth:
        schemes = tuple(truth["schemes"])
        injected = {i for s in schemes for i in s["event_ids"]}
        organic = {a for e in events if e.id not in injected for a in (e.actor, e.target)}
        return cls(
            positives=frozenset(a for s in schemes for a in s["accounts"]),
            ignored=frozenset(a for s in schemes for a in (*s["helpers"], *s["side_targets"])),
            benign=frozenset(truth["benign"]),
            organic=frozenset(organic),
            schemes=schemes,
            viral=frozenset(burst["account"] for burst in truth.get("organic_bursts", ())),
            circles=frozenset(a for circle in truth.get("organic_circles", ()) for a in circle["accounts"]),
            signups=frozenset(wave["account"] for wave in truth.get("organic_signups", ())),
        )


# -- metrics ------------------------------------------------------------------------------------------------------
def account_metrics(results: Mapping[str, Result], truth: Truth) -> dict:
    """Account-level precision, recall, F1 and false-flag counts.

    >>> from detector.baselines import BaselineResult as R
    >>> truth = Truth(frozenset("ab"), frozenset("h"), frozenset("z"), frozenset("abxz"), ())
    >>> results = {"a": R(flagged=True), "b": R(), "h": R(flagged=True), "z": R(flagged=True), "x": R()}
    >>> m = account_metrics(results, truth)
    >>> m["precision"], m["recall"], m["benign_flagged"], m["organic_flagged"]
    (0.5, 0.5, 1, 1)

    ``average_precision`` needs no threshold: the area under the precision-recall curve of the accounts' scores
    (ignored accounts left out, a positive never scored ranked last). Here a (0.9) and b (0.1) are positives:

    >>> scored = {"a": R(score=0.9), "b": R(score=0.1), "z": R(score=0.5), "x": R(), "h": R(score=1.0)}
    >>> round(account_metrics(scored, truth)["average_precision"], 4)  # (1/1 + 2/3) / 2
    0.8333
    """
    flagged = {a for a, r in results.items() if r.flagged and a not in truth.ignored}
    organic = (flagged & truth.organic) - truth.positives
    tp = len(flagged & truth.positives)
    precision = tp / len(flagged) if flagged else 0.0
    recall = tp / len(truth.positives) if truth.positives else 0.0
    ranked = sorted((set(results) | truth.positives) - truth.ignored)
    labels = [a in truth.positives for a in ranked]
    scores = [results[a].score if a in results else 0.0 for a in ranked]
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "average_precision": float(average_precision_score(labels, scores)) if any(labels) else 0.0,
        "flagged": len(flagged),
        "benign_flagged": len(flagged & truth.benign),
        "organic_flagged": len(organic),
        "organic_flagged_accounts": sorted(organic),
        "viral_flagged": len((flagged & truth.viral) - truth.positives),
        "circle_flagged": len((flagged & truth.circles) - truth.positives),
        "signup_flagged": len((flagged & truth.signups) - truth.positives),
    }


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def begins(scheme: Mapping) -> float:
    """When a scheme began: its first event, or for a ring that prepared its ties weeks ahead, its preparation."""
    return scheme.get("preparation_start_ts", scheme["start_ts"])


def scheme_outcome(scheme: Mapping, results: Mapping[str, Result], event_ts: Mapping[str, float]) -> dict:
    """Whether a scheme was caught (any of its accounts flagged), how late, and how much of it came after the flag.

    Only flags raised at or after the scheme's start count: a hijacked account flagged for its organic behaviour
    before the scheme began did not detect the scheme (``pre_flagged`` counts those accounts). A ring that prepared
    its ties weeks ahead (``preparation_start_ts``) begins there: a flag on the preparation counts, with a negative
    delay. The delay is the
    first such flag of any of the scheme's accounts minus the scheme's start; the prevention ratio is the share of
    the scheme's events with a time after that first flag: what a flag-and-freeze action would have stopped.

    >>> from detector.baselines import BaselineResult as R
    >>> scheme = {"accounts": ["a", "b", "c"], "start_ts": 100.0, "event_ids": ["e1", "e2", "e3", "e4"]}
    >>> times = {"e1": 100.0, "e2": 200.0, "e3": 300.0, "e4": 400.0}
    >>> results = {"a": R(flagged=True, first_flagged_ts=200.0), "c": R(flagged=True, first_flagged_ts=50.0)}
    >>> scheme_outcome(scheme, results, times)
    {'caught': True, 'delay_s': 100.0, 'prevention': 0.5, 'account_recall': 0.3333333333333333, 'pre_flagged': 1}

    Had c's flag come while the ring prepared its ties, it would have caught the ring before it traded:

    >>> prepared = {**scheme, "preparation_start_ts": 40.0}
    >>> scheme_outcome(prepared, results, times)
    {'caught': True, 'delay_s': -50.0, 'prevention': 1.0, 'account_recall': 0.6666666666666666, 'pre_flagged': 0}
    """
    accounts, start = scheme["accounts"], scheme["start_ts"]
    flags = [results[a].first_flagged_ts for a in accounts if a in results and results[a].flagged]
    during = [ts for ts in flags if ts is not None and ts >= begins(scheme)]
    pre_flagged = len(flags) - len(during)
    if not during:
        return {"caught": False, "delay_s": None, "prevention": 0.0, "account_recall": 0.0, "pre_flagged": pre_flagged}
    first = min(during)
    return {
        "caught": True,
        "delay_s": first - start,
        "prevention": _share_after([event_ts[i] for i in scheme["event_ids"]], first),
        "account_recall": len(during) / len(accounts),
        "pre_flagged": pre_flagged,
    }


def oracle_prevention(
    scheme: Mapping, events: Sequence[Event], min_ring_size: int = MIN_RING_SIZE, min_burst: int = MIN_BURST
) -> float:
    """The prevention ratio of an oracle that knows the scheme's accounts and flags the scheme the moment its own
    boosts (``events``, sorted by time) first show the least evidence the engine's searches act on: for a ring,
    ``min_ring_size`` members each boosting another of them; for a burst, ``min_burst`` distinct new boosters of
    one beneficiary (over the whole scheme, where the engine counts within its growth window). It says how much of
    a prevention shortfall is the method's and how much the scheme's shape (a method can beat it a little where
    organic boosts add to a scheme's evidence). 0 also for a scheme showing that evidence only with its last event.

    >>> from detector.core.events import Event
    >>> ring = {"scheme": "farming_ring", "accounts": ["a", "b", "c"]}
    >>> trades = [Event(float(t), "rate", x, y) for t, (x, y) in enumerate(["ab", "ba", "bc", "ca", "ab"])]
    >>> oracle_prevention(ring, trades, min_ring_size=3, min_burst=10)  # a, b and c each boosted another by t=3
    0.2
    """
    accounts = set(scheme["accounts"])
    if scheme["scheme"] == "follower_growth":
        boosters: dict[str, set[str]] = {a: set() for a in accounts}
        for event in events:
            if event.is_boost and event.target in accounts:
                boosters[event.target].add(event.actor)
                if len(boosters[event.target]) >= min_burst:
                    return _share_after([e.ts for e in events], event.ts)
        return 0.0
    boosts: dict[str, set[str]] = {}
    for event in events:
        if not (event.is_boost and event.actor in accounts and event.target in accounts):
            continue
        boosts.setdefault(event.actor, set()).add(event.target)
        group = set(boosts)
        if len(group) < min_ring_size:
            continue
        # Peel, round by round, the members boosting no one left in the group.
        while idle := {m for m in group if boosts[m].isdisjoint(group)}:
            group -= idle
        if len(group) >= min_ring_size:
            return _share_after([e.ts for e in events], event.ts)
    return 0.0


def _share_after(times: Sequence[float], moment: float) -> float:
    """The share of ``times`` after ``moment``: what flagging at that moment would have prevented."""
    return sum(1 for ts in times if ts > moment) / len(times) if times else 0.0


def best_f1_threshold(scores: Mapping[str, float], truth: Truth) -> tuple[float, float]:
    """The score threshold with the best account-level F1, and that F1: an oracle choice, an upper bound.

    >>> truth = Truth(frozenset("ab"), frozenset(), frozenset(), frozenset(), ())
    >>> best_f1_threshold({"a": 9.0, "x": 5.0, "b": 4.0, "y": 1.0}, truth)
    (4.0, 0.8)
    """
    ranked = sorted(
        ((score, account in truth.positives) for account, score in scores.items() if account not in truth.ignored),
        reverse=True,
    )
    best_threshold, best_f1, tp = math.inf, 0.0, 0
    for i, (score, positive) in enumerate(ranked):
        tp += positive
        if i + 1 < len(ranked) and ranked[i + 1][0] == score:
            continue  # ties: a threshold takes all equal scores or none
        f1 = 2 * tp / (i + 1 + len(truth.positives))
        if f1 > best_f1:
            best_threshold, best_f1 = score, f1
    return best_threshold, best_f1


def _tit_for_tat(shape: Mapping) -> str:
    answered = shape.get("answered_pairs", 1.0)
    return ", tit for tat" + (f" ({answered:.0%} of one-way pairs answering)" if answered < 1.0 else "")


def describe_shape(scheme: Mapping) -> str:
    """One line a researcher can read a scheme's shape from.

    >>> describe_shape({"scheme": "farming_ring", "shape": {"size": 9, "members": "hijacked", "timing": "rounds",
    ...     "window_s": 36000, "camouflage": 0.26, "pair_prob": 0.59}, "event_ids": ["e"] * 59})
    'ring of 9 hijacked, rounds over 10.0 h, 26% camouflage, 59% of pairs trading, 59 events'
    """
    shape, events = scheme["shape"], len(scheme["event_ids"])
    if scheme["scheme"] == "farming_ring":
        return (
            f"ring of {shape['size']} {shape['members']}, {shape['timing']} over {shape['window_s'] / HOUR:.1f} h, "
            f"{shape['camouflage']:.0%} camouflage, {shape['pair_prob']:.0%} of pairs trading, {events} events"
            + (_tit_for_tat(shape) if shape.get("reciprocal") else "")
            + (f", {len(pre_aged)} ties pre-aged" if (pre_aged := scheme.get("preparation_event_ids")) else "")
        )
    return (
        f"burst of {shape['followers']} {shape['kind']}s ({shape['delivery']}) over {shape['duration_s'] / HOUR:.1f} h "
        f"to a {shape['beneficiary']} account, {events} events"
    )


def shape_groups(scheme: Mapping) -> list[str]:
    """The breakdown rows a scheme counts in.

    >>> shape_groups({"scheme": "follower_growth", "shape": {"followers": 80, "duration_s": 7200, "kind": "rate",
    ...     "beneficiary": "new", "delivery": "drip"}})
    ['burst pace=hours', 'burst size=50-199', 'burst kind=rate', 'burst beneficiary=new', 'burst delivery=drip']
    """
    shape = scheme["shape"]
    if scheme["scheme"] == "farming_ring":
        return [
            f"ring members={shape['members']}",
            f"ring pace={pace(shape['window_s'])}",
            f"ring size={'4-9' if shape['size'] < 10 else '10-25'}",
            f"ring camouflage={'<30%' if shape['camouflage'] < 0.3 else '30-60%'}",
            f"ring kinds={'rate' if tuple(shape['kinds']) == ('rate',) else 'mixed'}",
            *(["ring trading=tit for tat"] if shape.get("reciprocal") else []),
            *(["ring ties=pre-aged"] if scheme.get("preparation_event_ids") else []),
            *(["ring takeovers=idle accounts"] if shape.get("idle_members") else []),
        ]
    return [
        f"burst pace={pace(shape['duration_s'])}",
        f"burst size={'50-199' if shape['followers'] < 200 else '200-500'}",
        f"burst kind={shape['kind']}",
        f"burst beneficiary={shape['beneficiary']}",
        f"burst delivery={shape['delivery']}",
        *(["burst accounts=registered on demand"] if shape.get("on_demand") else []),
    ]


# -- one seed -----------------------------------------------------------------------------------------------------
def _run_ours(events: list[Event], truth: Truth, config: EvalConfig) -> tuple[Mapping[str, Result], dict]:
    # The engine and its models load only when it is evaluated.
    from detector.core.engine import Engine, EngineConfig
    from detector.core.scoring import Scorer
    from detector.replay import replay_events

    engine_config = EngineConfig(record_candidates=True, keep_forgotten_scores=True, threshold=config.threshold)
    scorer = Scorer.from_file(Path(config.weights), engine_config.seed) if config.weights else None
    engine = Engine(engine_config, scorer=scorer)
    findings: list[Finding] = []
    results = replay_events(events, engine=engine, findings=findings)
    index = SchemeIndex(truth.schemes)
    about = [index.about(cand) for cand in engine.candidates]
    extra = {
        "closest": closest_candidates(truth.schemes, engine.candidates, about),
        "calibration": calibration(engine.candidates, about),
        **review_volume(findings, index, truth.ignored),
    }
    if config.review:
        extra["decisions"] = truth_decisions(findings, index, truth.ignored)
    return results, extra


def truth_decisions(findings: Sequence[Finding], index: SchemeIndex, ignored: Collection[str]) -> list[dict]:
    """The decisions a reviewer knowing the truth would take, one per case, on the evidence that opened it:
    confirmed when about an injected scheme (the training labels' rule), dismissed when not. A case naming only
    ignored accounts (a burst's side targets, neither positive nor negative) is left undecided.

    >>> from detector.core.findings import Finding
    >>> def finding(case, accounts): return Finding(case, "farming_ring", accounts, 0.9, 0.0, 0.0, 0.0, "v",
    ...                                             {"features": {"size": len(accounts)}, "model": "farming_ring"})
    >>> index = SchemeIndex([{"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["a", "b", "c"]}])
    >>> found = [finding("r1", ("a", "b")), finding("r1", ("a", "b", "c", "x")), finding("r2", ("x", "y"))]
    >>> [(d["case_id"], d["decision"], d["features"]) for d in truth_decisions(found, index, ignored=())]
    [('r1', 'confirmed', {'size': 2}), ('r2', 'dismissed', {'size': 2})]
    """
    decided: dict[str, dict] = {}
    for finding in findings:
        if finding.case_id in decided or set(finding.accounts) <= set(ignored):
            continue
        about = index.about({"scheme": finding.scheme, "accounts": sorted(finding.accounts), "ts": finding.flagged_ts})
        decided[finding.case_id] = decision_row(
            case_id=finding.case_id,
            scheme=finding.scheme,
            model=finding.evidence.get("model", finding.scheme),
            accounts=finding.accounts,
            features=finding.evidence.get("features", {}),
            decision="confirmed" if about is not None else "dismissed",
            reviewer="ground truth",
            score=finding.score,
            model_version=finding.model_version,
        )
    return list(decided.values())


def review_volume(findings: Sequence[Finding], index: SchemeIndex, ignored: Collection[str] = ()) -> dict:
    """What reviewers and platforms would have received: cases (each with every account it ever named), how many
    were about an injected scheme (the training labels' rule), how many named only ignored accounts (a burst's side
    targets: popular accounts its bought followers also followed), and alerts (one per finding, revisions included).

    >>> from detector.core.findings import Finding
    >>> def finding(case, accounts): return Finding(case, "farming_ring", accounts, 0.9, 0.0, 0.0, 0.0, "v")
    >>> index = SchemeIndex([{"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["a", "b", "c"]}])
    >>> found = [finding("r1", ("a", "b")), finding("r1", ("a", "b", "c", "x")), finding("r2", ("x", "y"))]
    >>> review_volume(found, index)
    {'cases': 2, 'true_cases': 1, 'ignored_cases': 0, 'alerts': 3}
    >>> review_volume(found, index, ignored={"x", "y"})["ignored_cases"]
    1
    """
    cases: dict[str, tuple[str, set[str]]] = {}
    for finding in findings:
        cases.setdefault(finding.case_id, (finding.scheme, set()))[1].update(finding.accounts)
    true_cases = ignored_cases = 0
    for scheme, accounts in cases.values():
        if index.about({"scheme": scheme, "accounts": sorted(accounts)}) is not None:
            true_cases += 1
        elif accounts.issubset(ignored):
            ignored_cases += 1
    return {"cases": len(cases), "true_cases": true_cases, "ignored_cases": ignored_cases, "alerts": len(findings)}


@dataclass(frozen=True)
class Closest:
    """How close the candidates about a scheme came: the best score, and when the first was scored."""

    score: float
    first_ts: float


def closest_candidates(
    schemes: Sequence[Mapping], candidates: Sequence[Mapping], about: Sequence[str | None]
) -> dict[str, Closest]:
    """Per scheme, the highest score of a candidate that was about it (``about``, per candidate: the scheme it is
    about, see :class:`models.labels.SchemeIndex`), scored at or after its start, and when the first such candidate
    was scored. Schemes that never were a candidate are absent.

    >>> ring = {"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["a", "b", "c"], "start_ts": 10.0}
    >>> cands = [{"scheme": "farming_ring", "accounts": ["a", "b", "x"], "ts": 12.0, "score": 0.3},
    ...          {"scheme": "farming_ring", "accounts": ["a", "b", "c"], "ts": 14.0, "score": 0.2},
    ...          {"scheme": "farming_ring", "accounts": ["a", "x", "y"], "ts": 13.0, "score": 0.9},
    ...          {"scheme": "farming_ring", "accounts": ["a", "b", "c"], "ts": 5.0, "score": 0.8}]
    >>> closest_candidates([ring], cands, [SchemeIndex([ring]).about(c) for c in cands])
    {'s0': Closest(score=0.3, first_ts=12.0)}
    """
    start = {scheme["scheme_id"]: begins(scheme) for scheme in schemes}
    closest: dict[str, Closest] = {}
    for cand, scheme_id in zip(candidates, about, strict=True):
        if scheme_id is None or cand["ts"] < start[scheme_id]:
            continue
        seen = closest.get(scheme_id)
        closest[scheme_id] = (
            Closest(cand["score"], cand["ts"])
            if seen is None
            else Closest(max(seen.score, cand["score"]), min(seen.first_ts, cand["ts"]))
        )
    return closest


def calibration(candidates: Sequence[Mapping], about: Sequence[str | None]) -> dict[str, Reliability]:
    """Per model, every candidate's score against whether it was about an injected scheme."""
    per_model: dict[str, Reliability] = {}
    for cand, scheme_id in zip(candidates, about, strict=True):
        model = cand.get("model", cand["scheme"])
        per_model.setdefault(model, Reliability()).update(cand["score"], scheme_id is not None)
    return per_model


def _run_heuristic(events: list[Event], truth: Truth, config: EvalConfig) -> tuple[Mapping[str, Result], dict]:
    return heuristic.run(events), {}


def _run_midas(events: list[Event], truth: Truth, config: EvalConfig) -> tuple[Mapping[str, Result], dict]:
    traces = midas.score_accounts(events, bucket_s=MIDAS_BUCKETS[config.midas_bucket])
    threshold, _ = best_f1_threshold({a: t.score for a, t in traces.items()}, truth)
    return midas.flag(traces, threshold), {"threshold": threshold, "threshold_rule": "best F1 (oracle)"}


RUNNERS: dict[str, Callable[[list[Event], Truth, EvalConfig], tuple[Mapping[str, Result], dict]]] = {
    "ours": _run_ours,
    "heuristic": _run_heuristic,
    "midas": _run_midas,
}


def evaluate_stream(events: list[Event], truth: Truth, methods: Iterable[str], config: EvalConfig) -> dict:
    """Replay one labelled stream through each method and score it."""
    injected = {i for s in truth.schemes for i in s["event_ids"]}
    by_id = {event.id: event for event in events if event.id in injected}
    event_ts = {i: event.ts for i, event in by_id.items()}
    missing = injected - by_id.keys()
    if missing:
        raise ValueError(f"the truth names {len(missing)} scheme events missing from the stream, e.g. {min(missing)}")
    scheme_events = {
        s["scheme_id"]: sorted((by_id[i] for i in s["event_ids"]), key=attrgetter("ts")) for s in truth.schemes
    }
    scheme_times = {scheme_id: [e.ts for e in found] for scheme_id, found in scheme_events.items()}
    oracles = {s["scheme_id"]: oracle_prevention(s, scheme_events[s["scheme_id"]]) for s in truth.schemes}
    out = {}
    for method in methods:
        started = time.perf_counter()
        results, extra = RUNNERS[method](events, truth, config)
        seconds = time.perf_counter() - started
        closest = extra.pop("closest", None)
        schemes = [
            {
                "scheme_id": s["scheme_id"],
                "groups": shape_groups(s),
                "shape": describe_shape(s),
                **scheme_outcome(s, results, event_ts),
                "oracle_prevention": oracles[s["scheme_id"]],
            }
            for s in truth.schemes
        ]
        if closest is not None:
            for s in schemes:
                about = closest.get(s["scheme_id"])
                s["closest_score"] = about.score if about else None
                # What flagging the first candidate about the scheme would have prevented: the searches' share. A
                # scheme flagged earlier through a group not mostly its own was in the searches' view by then.
                first = _share_after(scheme_times[s["scheme_id"]], about.first_ts) if about else 0.0
                s["candidate_prevention"] = max(first, s["prevention"])
        out[method] = {**account_metrics(results, truth), **extra, "schemes": schemes, "seconds": seconds}
    return out


def run_seed(seed: int, config: EvalConfig) -> dict:
    simulation = SimulationConfig(
        background=config.background,
        seed=seed,
        rings=config.rings_per_seed,
        bursts=config.bursts_per_seed,
        days=TRAINING_DAYS,  # the synthetic background's span (Bitcoin-Alpha is what it is)
        circles=config.circles_per_seed,
        **variant_options(config),
    )
    events, truth_json = generate(simulation)
    truth = Truth.from_simulation(events, truth_json)
    return {
        "seed": seed,
        "events": len(events),
        "positives": len(truth.positives),
        "viral": len(truth.viral - truth.positives),
        "circles": len(truth.circles - truth.positives),
        "signups": len(truth.signups - truth.positives),
        "methods": evaluate_stream(events, truth, config.methods, config),
    }


# -- aggregation --------------------------------------------------------------------------------------------------
def _quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation quantile; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _pooled(schemes: Sequence[dict]) -> dict:
    delays_h = [s["delay_s"] / HOUR for s in schemes if s["caught"]]
    pooled = {
        "caught": sum(s["caught"] for s in schemes),
        "total": len(schemes),
        "account_recall": statistics.fmean(s["account_recall"] for s in schemes) if schemes else 0.0,
        "median_delay_h": _quantile(delays_h, 0.5),
        "p90_delay_h": _quantile(delays_h, 0.9),
        "prevention": statistics.fmean(s["prevention"] for s in schemes) if schemes else 0.0,
        "oracle_prevention": statistics.fmean(s["oracle_prevention"] for s in schemes) if schemes else 0.0,
    }
    if schemes and all("candidate_prevention" in s for s in schemes):
        pooled["candidate_prevention"] = statistics.fmean(s["candidate_prevention"] for s in schemes)
    return pooled


def _pooled_calibration(runs: Sequence[Mapping[str, Reliability]]) -> dict:
    pooled: dict[str, Reliability] = {}
    for run in runs:
        for model, reliability in run.items():
            pooled[model] = pooled[model].merge(reliability) if model in pooled else reliability
    return {
        model: {
            "candidates": r.count,
            "ece": r.ece,
            "brier": r.brier,
            "bins": [asdict(row) for row in r.rows()],
        }
        for model, r in sorted(pooled.items())
    }


def aggregate(per_seed: Sequence[dict], methods: Sequence[str]) -> dict:
    """Mean and min over seeds of the account metrics (mean and max for false-flag counts), scheme outcomes pooled
    over all seeds, overall and per shape group."""
    summary = {}
    for method in methods:
        runs = [seed["methods"][method] for seed in per_seed]
        schemes = [s for run in runs for s in run["schemes"]]
        entry: dict = {}
        for key in ("precision", "recall", "f1", "average_precision"):
            values = [run[key] for run in runs]
            entry[key] = {"mean": statistics.fmean(values), "min": min(values)}
        for key in ("benign_flagged", "organic_flagged", "flagged"):
            values = [run[key] for run in runs]
            entry[key] = {"mean": statistics.fmean(values), "max": max(values)}
        # Every seed injects into the same background: its organic false flags are mostly the same few accounts.
        runs_flagging = Counter(a for run in runs for a in run.get("organic_flagged_accounts", ()))
        entry["viral_flagged"] = sum(run.get("viral_flagged", 0) for run in runs)
        entry["circle_flagged"] = sum(run.get("circle_flagged", 0) for run in runs)
        entry["signup_flagged"] = sum(run.get("signup_flagged", 0) for run in runs)
        entry["organic_flagged_accounts"] = dict(sorted(runs_flagging.items(), key=lambda item: (-item[1], item[0])))
        entry.update(_pooled(schemes))
        entry["seconds_per_seed"] = statistics.fmean(run["seconds"] for run in runs)
        if "threshold" in runs[0]:
            entry["thresholds"] = [run["threshold"] for run in runs]
        if "calibration" in runs[0]:
            entry["calibration"] = _pooled_calibration([run["calibration"] for run in runs])
        if "cases" in runs[0]:
            # A run without a case to judge has no case precision: it is left out, not counted as 0.
            judged = [run["cases"] - run["ignored_cases"] for run in runs]
            precisions = [run["true_cases"] / n for run, n in zip(runs, judged, strict=True) if n]
            entry["cases"] = {
                "mean": statistics.fmean(run["cases"] for run in runs),
                "max": max(r["cases"] for r in runs),
            }
            entry["case_precision"] = (
                {"mean": statistics.fmean(precisions), "min": min(precisions)} if precisions else None
            )
            entry["ignored_cases"] = {"mean": statistics.fmean(run["ignored_cases"] for run in runs)}
            entry["alerts"] = {"mean": statistics.fmean(run["alerts"] for run in runs)}
        groups = sorted({g for s in schemes for g in s["groups"]})
        entry["by_shape"] = {g: _pooled([s for s in schemes if g in s["groups"]]) for g in groups}
        summary[method] = entry
    return summary


def evaluate(config: EvalConfig) -> dict:
    """Run every seed (in parallel processes when ``workers`` allows) and aggregate."""
    seeds = config.seed_values()
    workers = config.workers or min(len(seeds), os.cpu_count() or 1)
    started = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_seed = list(pool.map(run_seed, seeds, [config] * len(seeds)))
    else:
        per_seed = [run_seed(seed, config) for seed in seeds]
    return {
        "config": asdict(config),
        "summary": aggregate(per_seed, config.methods),
        "seeds": per_seed,
        "wall_seconds": time.perf_counter() - started,
    }


# -- report -------------------------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 2) -> str:
    """A metric as the reports print it: fixed digits, ``-`` when there is none."""
    return "-" if value is None else f"{value:.{digits}f}"


def ours_rows(rows: Sequence[tuple[str, dict, Sequence[dict]]], label: str, config: Mapping) -> list[str]:
    """Ours evaluated several ways (training draws, thresholds), a row each: the header lines and one line per
    ``(name, summary, seeds)``; the organic groups the streams of ``config`` hold, flagged, in columns of their own."""
    circles = bool(config.get("circles_per_seed") or config.get("quiet_share"))  # reunions are circles too
    signups = bool(config.get("signup_waves"))
    lines = [
        f"{label:>9} {'caught':>10} {'F1 mean (min)':>14} {'recall min':>11} {'benign flagged':>15} "
        f"{'organic a run':>14} {'prevention':>11} {'cases a run':>12} {'about a scheme':>15}"
        + (f" {'circle members':>15}" if circles else "")
        + (f" {'signup waves':>13}" if signups else ""),
        f"{'':>9} {'':>10} {'':>14} {'':>11} {'runs (max)':>15} {'mean (max)':>14} {'(oracle)':>11} "
        f"{'mean (max)':>12} {'mean (min)':>15}",
    ]
    for name, s, seeds in rows:
        benign_runs = sum(1 for seed in seeds if seed["methods"]["ours"]["benign_flagged"])
        lines.append(
            f"{name:>9} {str(s['caught']) + '/' + str(s['total']):>10}"
            f" {fmt(s['f1']['mean']) + ' (' + fmt(s['f1']['min']) + ')':>14} {fmt(s['recall']['min']):>11}"
            f" {str(benign_runs) + ' (' + str(s['benign_flagged']['max']) + ')':>15}"
            f" {fmt(s['organic_flagged']['mean'], 1) + ' (' + str(s['organic_flagged']['max']) + ')':>14}"
            f" {fmt(s['prevention']) + ' (' + fmt(s['oracle_prevention']) + ')':>11}"
            f" {fmt(s['cases']['mean'], 1) + ' (' + str(s['cases']['max']) + ')':>12}"
            f" {fmt(s['case_precision']['mean']) + ' (' + fmt(s['case_precision']['min']) + ')':>15}"
            + (f" {s['circle_flagged']:>15}" if circles else "")
            + (f" {s['signup_flagged']:>13}" if signups else "")
        )
    return lines


def _closeness(scheme: Mapping) -> str:
    """How close a missed scheme came, where the method says (ours records its candidates)."""
    text = ""
    if "closest_score" in scheme:
        score = scheme["closest_score"]
        text = "; never a candidate" if score is None else f"; best candidate score {score:.3g}"
    if scheme.get("pre_flagged"):
        text += f"; {scheme['pre_flagged']} member(s) flagged before it started"
    return text


def streams_text(config: Mapping, seeds: Sequence[int]) -> str:
    """What a report's streams are: seeds, schemes injected into which background, and how the rings hide."""
    return (
        f"{len(seeds)} seeds ({seed_ranges_text(seeds)}) x "
        f"({config['rings_per_seed']} rings + {config['bursts_per_seed']} bursts) "
        f"injected into {BACKGROUND_NAMES[config.get('background', BITCOIN_ALPHA)]}"
        + (f" with {config['circles_per_seed']} friend circles" if config.get("circles_per_seed") else "")
        + (f", {config['quiet_share']:.0%} of its accounts quiet for a spell" if config.get("quiet_share") else "")
        + (f", {config['signup_waves']} signup waves" if config.get("signup_waves") else "")
        + (f", {config['reciprocal_rings']:.0%} of rings tit for tat" if config.get("reciprocal_rings") else "")
        + (
            f" ({config['answered_pairs']:.0%} of their one-way pairs answering)"
            if config.get("reciprocal_rings") and config.get("answered_pairs", 1.0) < 1.0
            else ""
        )
        + (f", {config['pre_aged_rings']:.0%} of rings pre-aged" if config.get("pre_aged_rings") else "")
        + (
            f", {config['idle_hijacked_rings']:.0%} of rings taking over idle accounts"
            if config.get("idle_hijacked_rings")
            else ""
        )
        + (f", {config['shared_fans']} shared fans a ring" if config.get("shared_fans") else "")
        + (f" aged {config['shared_fans_age_days']:g} days more" if config.get("shared_fans_age_days") else "")
        + (
            f", {config['on_demand_bursts']:.0%} of bursts from accounts registered on demand"
            if config.get("on_demand_bursts")
            else ""
        )
    )


def format_report(report: dict) -> str:
    summary, methods = report["summary"], report["config"]["methods"]
    config = report["config"]
    lines = [
        streams_text(config, [s["seed"] for s in report["seeds"]])
        + "; account level: positives = ring members + burst beneficiaries, bought helper accounts ignored"
        + (f"; weights {config['weights']}" if config.get("weights") else "")
        + (
            f"; ours flags at {threshold:g}"
            if (threshold := config.get("threshold", FLAG_THRESHOLD)) != FLAG_THRESHOLD
            else ""
        ),
        "",
        f"{'method':<10} {'precision':>15} {'recall':>15} {'F1':>15} {'benign flagged':>15} "
        f"{'organic flagged':>16} {'caught':>9} {'delay h med/p90':>16} {'prevention':>18} {'avg precision':>15}",
        f"{'':<10} {'mean (min)':>15} {'mean (min)':>15} {'mean (min)':>15} {'mean (max)':>15} "
        f"{'mean (max)':>16} {'':>9} {'':>16} {'mean (oracle)':>18} {'mean (min)':>15}",
    ]
    for method in methods:
        s = summary[method]
        lines.append(
            f"{method:<10} "
            + " ".join(
                f"{fmt(s[k]['mean']) + ' (' + fmt(s[k]['min']) + ')':>15}" for k in ("precision", "recall", "f1")
            )
            + f" {fmt(s['benign_flagged']['mean'], 1) + ' (' + str(s['benign_flagged']['max']) + ')':>15}"
            + f" {fmt(s['organic_flagged']['mean'], 1) + ' (' + str(s['organic_flagged']['max']) + ')':>16}"
            + f" {str(s['caught']) + '/' + str(s['total']):>9}"
            + f" {fmt(s['median_delay_h'], 1) + ' / ' + fmt(s['p90_delay_h'], 1):>16}"
            + f" {fmt(s['prevention']) + ' (' + fmt(s['oracle_prevention']) + ')':>18}"
            + f" {fmt(s['average_precision']['mean'], 3) + ' (' + fmt(s['average_precision']['min'], 3) + ')':>15}"
        )
    for method in methods:
        s = summary[method]
        if "candidate_prevention" in s:
            # Rounded so that the two parts add up to the printed gap; the searches' part is net of the schemes
            # seen before the oracle's moment.
            gap = round(s["oracle_prevention"], 2) - round(s["prevention"], 2)
            searches = round(s["oracle_prevention"] - s["candidate_prevention"], 2)
            lines.append(
                f"{method}: prevention {fmt(s['prevention'])} against the oracle's {fmt(s['oracle_prevention'])}: "
                f"{searches:.2f} net lost before the first candidate about a scheme (the searches), "
                f"{gap - searches:.2f} to candidates scored below the threshold (the scores)"
            )
    for method in methods:
        s = summary[method]
        if "cases" in s:
            precision = s["case_precision"]
            judged = (
                f"of the others {precision['mean']:.0%} about an injected scheme (min {precision['min']:.0%})"
                if precision
                else "no other case"
            )
            lines.append(
                f"{method}: {s['cases']['mean']:.1f} cases a run (max {s['cases']['max']}), "
                f"{s['ignored_cases']['mean']:.1f} of them about a burst's side targets only; {judged}; "
                f"{s['alerts']['mean']:.1f} alerts a run, revisions included"
            )
    for method in methods:
        if accounts := summary[method].get("organic_flagged_accounts"):
            listed = ", ".join(f"{a} ({n})" for a, n in list(accounts.items())[:MAX_ORGANIC_LISTED])
            more = f", and {len(accounts) - MAX_ORGANIC_LISTED} more" if len(accounts) > MAX_ORGANIC_LISTED else ""
            lines.append(
                f"{method}: organic accounts flagged, with the number of runs flagging each: {listed}{more} "
                f"({len(accounts)} accounts over {len(report['seeds'])} runs)"
            )
    if viral := sum(seed.get("viral", 0) for seed in report["seeds"]):
        flagged = ", ".join(f"{m} {summary[m]['viral_flagged']}" for m in methods)
        lines.append(f"organic viral bursts (must not be flagged): {viral} beneficiaries in all; flagged: {flagged}")
    if signups := sum(seed.get("signups", 0) for seed in report["seeds"]):
        flagged = ", ".join(f"{m} {summary[m]['signup_flagged']}" for m in methods)
        lines.append(f"organic signup waves (must not be flagged): {signups} beneficiaries in all; flagged: {flagged}")
    if circles := sum(seed.get("circles", 0) for seed in report["seeds"]):
        flagged = ", ".join(f"{m} {summary[m]['circle_flagged']}" for m in methods)
        lines.append(f"organic friend circles (must not be flagged): {circles} members in all; flagged: {flagged}")
    if "midas" in summary:
        thresholds = ", ".join(f"{t:.4g}" for t in summary["midas"]["thresholds"])
        lines.append(f"midas: best-F1 threshold per seed, chosen with the ground truth (an upper bound): {thresholds}")
    lines += _seed_range_table(report["seeds"], methods)
    lines += ["", "by scheme shape: caught/total, account recall, median delay (h), prevention (oracle's)"]
    groups = sorted({g for m in methods for g in summary[m]["by_shape"]})
    lines.append(f"{'shape':<28}" + "".join(f"{m:>32}" for m in methods))
    for group in groups:
        cells = []
        for method in methods:
            g = summary[method]["by_shape"][group]
            cells.append(
                f"{g['caught']}/{g['total']} {fmt(g['account_recall'])} {fmt(g['median_delay_h'], 1)} "
                f"{fmt(g['prevention'])} ({fmt(g['oracle_prevention'])})"
            )
        lines.append(f"{group:<28}" + "".join(f"{c:>32}" for c in cells))
    for method in methods:
        if "calibration" in summary[method]:
            lines += ["", *_calibration_table(method, summary[method]["calibration"])]
    lines += ["", "missed schemes: method, seed, scheme, shape, and how close it came"]
    for method in methods:
        missed = [
            (seed["seed"], s) for seed in report["seeds"] for s in seed["methods"][method]["schemes"] if not s["caught"]
        ]
        for seed, s in missed[:MAX_MISSED_LISTED]:
            lines.append(f"  {method:<10} {seed:>5} {s['scheme_id']:<5} {s['shape']}{_closeness(s)}")
        if len(missed) > MAX_MISSED_LISTED:
            lines.append(f"  {method:<10} ... and {len(missed) - MAX_MISSED_LISTED} more (all in --json)")
    lines.append("")
    per_method = ", ".join(f"{m} {summary[m]['seconds_per_seed']:.1f}s" for m in methods)
    lines.append(f"wall time {report['wall_seconds']:.1f}s; replay per seed: {per_method}")
    return "\n".join(lines)


def _seed_range_table(per_seed: Sequence[dict], methods: Sequence[str]) -> list[str]:
    """Per run of consecutive seeds given (``--seed-ranges 0-19,100-109``), the headline figures, so that a range run
    later can be compared with the ranges choices were made on; nothing for a single range."""
    runs = _seed_runs([seed["seed"] for seed in per_seed])
    if len(runs) < 2:
        return []
    by_seed = {seed["seed"]: seed for seed in per_seed}
    lines = [
        "",
        "by seed range: F1 mean (min), benign and organic accounts flagged a run, caught/total, prevention (oracle's)",
        f"{'seeds':<12}" + "".join(f"{m:>40}" for m in methods),
    ]
    for run in runs:
        summary = aggregate([by_seed[seed] for seed in run], methods)
        cells = []
        for method in methods:
            s = summary[method]
            cells.append(
                f"{fmt(s['f1']['mean'])} ({fmt(s['f1']['min'])}) {fmt(s['benign_flagged']['mean'], 1)} "
                f"{fmt(s['organic_flagged']['mean'], 1)} {s['caught']}/{s['total']} "
                f"{fmt(s['prevention'])} ({fmt(s['oracle_prevention'])})"
            )
        lines.append(f"{seed_ranges_text(run):<12}" + "".join(f"{c:>40}" for c in cells))
    return lines


def _calibration_table(method: str, calibration: Mapping[str, Mapping]) -> list[str]:
    """Per score bin and model: candidates, their mean score, and the share of them about an injected scheme."""
    models = list(calibration)
    lines = [
        f"calibration of {method}: every candidate scored, pooled over seeds; per score bin: candidates, "
        "mean score, share about an injected scheme",
        f"{'score':<12}" + "".join(f"{m:>30}" for m in models),
    ]
    cells: dict[tuple[float, float], dict[str, str]] = {}
    for model, entry in calibration.items():
        for row in entry["bins"]:
            cells.setdefault((row["low"], row["high"]), {})[model] = (
                f"{row['count']} {row['mean_score']:.3f} {row['observed']:.3f}"
            )
    for (low, high), by_model in sorted(cells.items()):
        lines.append(f"{f'{low:.1f}-{high:.1f}':<12}" + "".join(f"{by_model.get(m, '-'):>30}" for m in models))
    for key, label in (("ece", "calib. error"), ("brier", "Brier")):
        lines.append(f"{label:<12}" + "".join(f"{calibration[m][key]:>30.3f}" for m in models))
    return lines


# -- CLI ----------------------------------------------------------------------------------------------------------
def _seed_runs(seeds: Sequence[int]) -> list[list[int]]:
    """Seeds grouped in runs of consecutive numbers.

    >>> _seed_runs([2, 0, 1, 100, 102, 103])
    [[0, 1, 2], [100], [102, 103]]
    """
    runs: list[list[int]] = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return runs


def seed_ranges_text(seeds: Sequence[int]) -> str:
    """Seeds as ranges, the way ``--seed-ranges`` takes them.

    >>> seed_ranges_text([0, 1, 2, 100, 102, 103])
    '0-2,100,102-103'
    """
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in _seed_runs(seeds))


def _seed_ranges(value: str) -> tuple[int, ...]:
    """``--seed-ranges``: comma-separated seeds and inclusive ranges, e.g. ``0-19,100-109,300``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in value.split(","))):
            low, _, high = part.partition("-")
            seeds.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed ranges look like 0-19,100-109: {value!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seed ranges must name each seed once: {value!r}")
    return tuple(seeds)


def _methods(value: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"methods must be a comma-separated subset of {','.join(METHODS)}")
    return methods


def _thresholds(value: str) -> tuple[float, ...]:
    try:
        thresholds = tuple(float(t) for t in value.split(","))
        for threshold in thresholds:
            check_flagging(threshold)
    except ValueError:
        thresholds = ()
    if not thresholds or len(set(thresholds)) != len(thresholds):
        raise argparse.ArgumentTypeError(f"thresholds are distinct scores in (0, 1], e.g. 0.3,0.4,0.5: {value!r}")
    return tuple(sorted(thresholds))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = EvalConfig()
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="number of seeds (one stream each)")
    parser.add_argument("--first-seed", type=int, default=defaults.first_seed)
    parser.add_argument(
        "--seed-ranges",
        type=_seed_ranges,
        default=(),
        help="explicit seeds instead of --seeds/--first-seed, e.g. 0-19,100-109 (pooled in one report)",
    )
    parser.add_argument("--rings-per-seed", type=int, default=defaults.rings_per_seed)
    parser.add_argument("--bursts-per-seed", type=int, default=defaults.bursts_per_seed)
    parser.add_argument(
        "--methods",
        type=_methods,
        help=f"comma-separated: ours,heuristic,midas (default: {','.join(defaults.methods)}; --thresholds and "
        "--training-draws report ours only)",
    )
    parser.add_argument("--midas-bucket", choices=sorted(MIDAS_BUCKETS), default=defaults.midas_bucket)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes (0: one per seed, max CPUs)")
    parser.add_argument(
        "--background",
        choices=(BITCOIN_ALPHA, SYNTHETIC),
        default=defaults.background,
        help="inject into Bitcoin-Alpha (default) or the synthetic background as dense as the training streams",
    )
    parser.add_argument(
        "--circles-per-seed",
        type=int,
        default=defaults.circles_per_seed,
        help="friend circles in each synthetic stream (organic cliques; their flags are reported)",
    )
    add_background_variant_arguments(parser)
    add_ring_variant_arguments(parser)
    parser.add_argument("--json", type=Path, help="write the full report (per seed, per scheme) as JSON")
    parser.add_argument(
        "--weights", type=Path, help="score with these weights (`detector train --out`) instead of the shipped ones"
    )
    parser.add_argument(
        "--training-draws",
        type=_seed_ranges,
        default=(),
        metavar="FIRST_SEEDS",
        help="instead of the shipped weights, fit the training recipe on each of these draws of simulated streams "
        "(first seeds, as `detector train --first-seed`), e.g. 1000,3000,5000, and report ours with each: how far "
        "the figures move with the training draw alone",
    )
    parser.add_argument(
        "--training-streams",
        type=int,
        default=TRAINING_STREAMS,
        help="simulated streams a training draw fits on (default: %(default)s, the shipped recipe's)",
    )
    parser.add_argument(
        "--thresholds",
        type=_thresholds,
        default=(),
        help="report ours flagging at each of these scores instead of 0.5, a row each, e.g. 0.3,0.4,0.5: the "
        "schemes caught, organic accounts flagged and cases to review at each operating point",
    )
    parser.add_argument(
        "--decisions-out",
        type=Path,
        help="write every case ours opened, decided from the ground truth, for `detector train --decisions`",
    )


def run(args: argparse.Namespace) -> int:
    config = EvalConfig(
        seeds=args.seeds,
        first_seed=args.first_seed,
        seed_list=args.seed_ranges,
        rings_per_seed=args.rings_per_seed,
        bursts_per_seed=args.bursts_per_seed,
        methods=args.methods or EvalConfig().methods,
        midas_bucket=args.midas_bucket,
        workers=args.workers,
        background=args.background,
        circles_per_seed=args.circles_per_seed,
        **variant_options(args),
        weights=str(args.weights) if args.weights else None,
        review=args.decisions_out is not None,
    )
    if config.circles_per_seed < 0 or (config.circles_per_seed and config.background != SYNTHETIC):
        print(
            "--circles-per-seed: a number of friend circles, not negative, for the synthetic background "
            "(Bitcoin-Alpha has its own cliques)",
            file=sys.stderr,
        )
        return 2
    if config.quiet_share and config.background != SYNTHETIC:
        print("--quiet-share: for the synthetic background (Bitcoin-Alpha's go quiet on their own)", file=sys.stderr)
        return 2
    if config.signup_waves and config.background != SYNTHETIC:
        print("--signup-waves: for the synthetic background (Bitcoin-Alpha is what it is)", file=sys.stderr)
        return 2
    if (args.training_draws or args.thresholds) and args.methods not in (None, ("ours",)):
        print("--thresholds and --training-draws report rows of ours only: drop --methods", file=sys.stderr)
        return 2
    if args.training_draws:
        return _run_draws(args, config)
    if args.thresholds and args.decisions_out:
        print("--thresholds reports rows of ours, and takes no --decisions-out", file=sys.stderr)
        return 2
    if config.weights:
        # The worker processes would each fail on the first candidate: refuse weights this engine cannot use now.
        from detector.core.engine import Engine
        from detector.core.scoring import Scorer

        try:
            Engine(scorer=Scorer.from_file(Path(config.weights)))
        except (OSError, ValueError) as error:
            print(f"--weights {config.weights}: {error}", file=sys.stderr)
            return 2
    used = sorted(training_seeds().intersection(config.seed_values())) if config.background == SYNTHETIC else []
    if used:
        raise SystemExit(
            f"detector eval: synthetic seeds {seed_ranges_text(used)} are the streams the shipped weights were "
            "trained on; evaluate on other seeds"
        )
    if args.thresholds:
        return _run_thresholds(args, config)
    report = evaluate(config)
    decisions = [
        {**row, "case_id": f"seed-{seed_run['seed']}/{row['case_id']}"}
        for seed_run in report["seeds"]
        for row in seed_run["methods"].get("ours", {}).pop("decisions", [])
    ]
    print(format_report(report))
    if args.decisions_out:
        args.decisions_out.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in decisions))
        print(f"wrote {len(decisions)} decided cases to {args.decisions_out}", file=sys.stderr)
    _write_json(args.json, report)
    return 0


def _run_thresholds(args: argparse.Namespace, config: EvalConfig) -> int:
    from detector.operating_points import evaluate_thresholds, format_thresholds

    report = evaluate_thresholds(config, args.thresholds)
    print(format_thresholds(report))
    _write_json(args.json, report)
    return 0


def _write_json(path: Path | None, report: dict) -> None:
    if path:
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"wrote {path}", file=sys.stderr)


def _run_draws(args: argparse.Namespace, config: EvalConfig) -> int:
    from detector.training_draws import evaluate_draws, format_draws, overlapping_seeds

    if args.weights or args.decisions_out or args.training_streams < 2:
        print(
            "--training-draws fits its own weights on at least 2 streams a draw (--training-streams), and takes "
            "neither --weights nor --decisions-out",
            file=sys.stderr,
        )
        return 2
    used = overlapping_seeds(config, args.training_draws, args.training_streams)
    if used:
        raise SystemExit(
            f"detector eval: synthetic seeds {seed_ranges_text(used)} are streams a training draw fits on; evaluate "
            "on other seeds"
        )
    report = evaluate_draws(config, args.training_draws, args.training_streams)
    print(format_draws(report))
    _write_json(args.json, report)
    return 0
