"""The detection engine: events in (in event-time order, within the allowed lateness), findings out.

Pure and deterministic: no I/O, no wall clock (time is the events' own), seeded models. The Faust worker and
``detector replay`` run exactly this code, so a backtest reproduces what the stream would have flagged.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from detector.core._native import DAY, FRESH_DAYS, EngineState, LateEvent
from detector.core.events import Event, EventRejected
from detector.core.findings import (
    FARMING_RING,
    FLAG_THRESHOLD,
    FOLLOWER_GROWTH,
    MAX_NEW_CASES_PER_DAY,
    Finding,
    check_flagging,
    stable_case_id,
)
from detector.core.growth import MIN_BURST, GrowthFeatures, creation_batches
from detector.core.rings import MIN_RING_SIZE, RecentBoostGraph, RingFinder, describe
from detector.core.scoring import Scorer

#: The detection rules' version, in every finding's ``model_version`` with the weights' digest: bumped when the searches
#: or features change what the engine flags with the same weights, or the shipped weights change (1.4: reciprocal groups
#: have their own weights; 1.5: the dense path's peel asks less inflow of busy members; 1.6: or inflow of their new
#: boosters; 1.7: a fresh cohort applies its size-free rules before the older members' share; 1.8: the new-ties path;
#: 1.9: the share of a group's outside boosters boosting two or more members, a feature; 1.10: a booster shaped like a
#: bought account is not established; 1.11: returning cohorts; a fresh cohort member's popular partners never counted
#: against it, and one boosted by two members kept before it boosts back; popularity relative to the platform; returning
#: cohorts searched again without a new pair, their members' shared camouflage not counted, and their receiving side
#: kept; 1.12: a burst scored from 8 new boosters, a follower that others boost trading; a mixed ring's hijacked side no
#: partner of its fresh members; 1.13: the young groups' weights count acquaintance; 1.14: the share of follow-heavy new
#: boosters, a feature, fitted on signup waves of fans and farms registering accounts on demand).
MODEL_VERSION = "gsd-engine-1.14"
#: How many of the accounts members knew in common before (the acquainted pairs' introducers) a case lists.
KNOWN_IN_COMMON_SHOWN = 10
#: The layout of the pickled state; bumped when it changes, so an older snapshot is refused on restore.
SNAPSHOT_FORMAT = 13


@dataclass(frozen=True)
class RingSearch:
    """What the compiled state's name for a ring search (its ``path``) means here: the weights
    (models/weights.json) fitted on that search's candidates, and how it found the group, in the words of the case
    summary a reviewer reads."""

    model: str
    found_by: str
    #: Whether a group it finds trading (nearly) every tie both ways is scored by the reciprocal weights instead.
    mature: bool = True


#: Rings grown from a traded pair are scored by the scheme's own weights; the other searches' groups are populations
#: of their own, each scored by weights fitted on it.
RING_SEARCHES = {
    "grown": RingSearch(FARMING_RING, "grown from a traded pair"),
    "dense": RingSearch("farming_ring_dense", "grown from a traded pair of busy accounts"),
    "local": RingSearch("farming_ring_local", "the whole neighbourhood of a traded pair with few partners"),
    # Its reciprocal groups stay with its own weights, so that the reciprocal weights are fitted on what they were.
    "new_ties": RingSearch(
        "farming_ring_new_ties",
        "grown from a pair of busy accounts trading for the first time, over new ties",
        mature=False,
    ),
    "young": RingSearch("farming_ring_early", "found young, as a fresh cohort or a lockstep session", mature=False),
    "returning": RingSearch(
        "farming_ring_early", "found young, as accounts back from dormancy that were strangers before", mature=False
    ),
    # Grown by the pair search, such a group trading nearly every tie both ways meets the reciprocal weights.
    "returning_grown": RingSearch(
        "farming_ring_early", "grown from a traded pair of accounts back from dormancy that were strangers before"
    ),
}
#: A mature group (not found young) whose tied member pairs trade both ways at least this often is scored by weights
#: fitted on such groups, with rings among them that answer every boost (docs/detection.md, *Reciprocal groups*):
#: the other weights learnt from rings whose pairs trade each way on their own, and read an answered tie as organic.
RECIPROCAL_TIES = 0.8
RECIPROCAL_MODEL = "farming_ring_reciprocal"
#: Every model the engine scores with: weights lacking one (a refit by an older version) are refused up front,
#: not on the first candidate that needs it.
SCORED_MODELS = frozenset({*(search.model for search in RING_SEARCHES.values()), RECIPROCAL_MODEL, FOLLOWER_GROWTH})


def ring_model(search: RingSearch, features: dict[str, float]) -> str:
    """The weights that score a group the search found, given its features.

    >>> grown = RING_SEARCHES["grown"]
    >>> ring_model(grown, {"tie_density": 0.9, "mutual_density": 0.5})
    'farming_ring'
    >>> ring_model(grown, {"tie_density": 0.9, "mutual_density": 0.8})
    'farming_ring_reciprocal'
    >>> ring_model(RING_SEARCHES["young"], {"tie_density": 0.9, "mutual_density": 0.9})
    'farming_ring_early'
    """
    tied, mutual = features["tie_density"], features["mutual_density"]
    return RECIPROCAL_MODEL if search.mature and tied > 0 and mutual >= RECIPROCAL_TIES * tied else search.model


@dataclass(frozen=True)
class EngineConfig:
    """Tunables, each with the reason for its default in docs/detection.md."""

    ring_window_days: float = 60.0
    growth_window_days: float = 3.0
    baseline_half_life_days: float = 30.0
    max_partners: int = 256
    max_ring_members: int = 40
    min_ring_size: int = MIN_RING_SIZE
    min_burst: int = MIN_BURST
    threshold: float = FLAG_THRESHOLD
    allowed_lateness_s: float = 3600.0
    dedup_horizon_s: float = 2 * DAY
    dedup_max_ids: int = 2_000_000
    idle_eviction_days: float = 180.0
    max_new_cases_per_day: int = MAX_NEW_CASES_PER_DAY
    sample_event_ids: int = 20
    seed: int = 42
    #: Keep every scored candidate (flagged or not) in ``Engine.candidates``: the labelled export for retraining.
    record_candidates: bool = False
    #: Keep the best scores of accounts the idle sweep forgets: a backtest reports every account it saw, where a
    #: long-running stream would keep a score for every account ever scored.
    keep_forgotten_scores: bool = False


@dataclass
class AccountResult:
    """What replay reports per account: its highest score and when it was first flagged.

    In the engine, ``score`` is the highest score of the account's findings; replay reports the highest score of
    any candidate the account was in, flagged or not (see :meth:`Engine.best_score`).
    """

    score: float = 0.0
    flagged: bool = False
    first_flagged_ts: float | None = None
    schemes: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    evidence: dict | None = None
    evidence_case_id: str | None = None


@dataclass
class EngineStats:
    events: int = 0
    duplicates: int = 0
    late: int = 0
    ring_evaluations: int = 0  # candidate groups scored (any path)
    growth_evaluations: int = 0
    findings: int = 0
    held_by_budget: int = 0
    evicted_accounts: int = 0


class Engine:
    """Per-account state, the two scheme detectors, and the scorer.

    The per-event work (deduplication, accounts, the recent-boost graph, follower ledgers, and which searches an
    event triggers) is the compiled :class:`EngineState`'s; most events end there. This class scores what it
    returns and keeps the cases.

    Examples
    --------
    >>> engine = Engine()
    >>> ring = [f"r{i}" for i in range(6)]
    >>> t, found = 1_700_000_000.0, []
    >>> for a in ring:
    ...     for b in ring:
    ...         if a != b:
    ...             t += 60
    ...             found += engine.process(Event(t, "endorse", a, b, id=f"{a}>{b}"))
    >>> sorted(found[-1].accounts) == ring, found[-1].scheme
    (True, 'farming_ring')
    """

    def __init__(self, config: EngineConfig | None = None, scorer: Scorer | None = None):
        self.config = config = config or EngineConfig()
        self.scorer = scorer or Scorer(seed=config.seed)
        if missing := sorted(SCORED_MODELS - set(self.scorer.weights)):
            raise ValueError(
                f"the weights lack {', '.join(missing)}, which this engine scores with: refit them with this "
                "version's `detector train`"
            )
        self.graph = RecentBoostGraph(config.ring_window_days * DAY, config.max_partners)
        self.finder = RingFinder(self.graph, config.max_ring_members, config.min_ring_size)
        #: Accounts, event ids seen, follower ledgers, search throttles; and per account the highest score of any
        #: candidate it was in, flagged or not (what a researcher sweeps a threshold over), forgotten with the
        #: account when it idles out unless ``keep_forgotten_scores``.
        self.state = EngineState(
            self.graph,
            self.finder,
            growth_window=config.growth_window_days * DAY,
            half_life=config.baseline_half_life_days * DAY,
            min_burst=config.min_burst,
            allowed_lateness=config.allowed_lateness_s,
            dedup_horizon=config.dedup_horizon_s,
            dedup_max_ids=config.dedup_max_ids,
            idle_eviction=config.idle_eviction_days * DAY,
            keep_forgotten_scores=config.keep_forgotten_scores,
        )
        self.results: dict[str, AccountResult] = {}
        self._findings = 0
        self._held_by_budget = 0
        self._ring_of: dict[str, str] = {}
        self._rings: dict[str, set[str]] = {}
        self._revisions: dict[str, tuple[int, float]] = {}
        self._budget_day = -1
        self._budget_used = 0
        self.candidates: list[dict] = []
        self.snapshot_format = SNAPSHOT_FORMAT

    # ------------------------------------------------------------------ input
    def process_each(self, events: Sequence[Event]) -> list[tuple[int, list[Finding] | EventRejected]]:
        """Update state with the events, in order; return ``(position, outcome)`` for each event that raised
        findings (new cases or stronger evidence), ``outcome`` their list, and for each event rejected as older than
        the watermark minus the allowed lateness, ``outcome`` the :class:`EventRejected`. A duplicate ``id`` within
        the dedup horizon is counted once and raises nothing. The compiled state takes the events a batch at a time
        and hands back only those with something to score: most events have nothing, and a call per event would
        cost more than their own work."""
        if not isinstance(events, list):
            events = list(events)
        outcomes: list[tuple[int, list[Finding] | EventRejected]] = []
        position = 0
        while position < len(events):
            try:
                due = self.state.process(events, position)
            except LateEvent as late:
                lag, position = late.args
                outcomes.append((position, EventRejected(f"late: {lag:.0f}s behind the watermark")))
                position += 1
                continue
            if due is None:
                break
            position, (growth, members, path) = due
            findings = self._score(events[position], growth, members, path)
            if findings:
                outcomes.append((position, findings))
            position += 1
        return outcomes

    def process_batch(self, events: Sequence[Event]) -> list[Finding]:
        """Update state with the events, in order; return the findings they raised, in order. Raises
        :class:`EventRejected` for the first late event, after processing the others (:meth:`process_each` says
        which events were late and goes on)."""
        findings: list[Finding] = []
        for _, outcome in self.process_each(events):
            if isinstance(outcome, EventRejected):
                raise outcome
            findings.extend(outcome)
        return findings

    def process(self, event: Event) -> list[Finding]:
        """Update state with one event; return the findings it raised (new cases or stronger evidence).

        Raises :class:`EventRejected` for an event older than the watermark minus the allowed lateness.
        A duplicate ``id`` within the dedup horizon is counted once and returns nothing.
        """
        return self.process_batch([event])

    def _score(self, event: Event, growth: bool, members: set[str] | None, path: str | None) -> list[Finding]:
        """Score what the event made due: the target's follower growth, a candidate ring, or both."""
        findings: list[Finding] = []
        if growth:
            finding = self._growth_finding(event.target, event.ts)
            if finding is not None:
                findings.append(finding)
        if members is not None:
            finding = self._ring_finding(members, event.ts, RING_SEARCHES[path])
            if finding is not None:
                findings.append(finding)
        return findings

    @property
    def stats(self) -> EngineStats:
        return EngineStats(**self.state.counters(), findings=self._findings, held_by_budget=self._held_by_budget)

    @property
    def watermark(self) -> float:
        """The latest event time processed."""
        return self.state.watermark

    # ------------------------------------------------------------------ rings
    def _ring_finding(self, members: set[str], ts: float, search: RingSearch) -> Finding | None:
        """Score a candidate group with the weights of the search that found it (or the reciprocal weights); a
        finding when it crosses the threshold."""
        fresh = self.state.fresh_members(members, ts)
        boosters = self.state.established_boosters(members, ts)
        acquainted = self.state.acquainted_pairs(members, ts)
        features = describe(members, self.finder, ts, fresh, boosters, acquainted).as_dict()
        model = ring_model(search, features)
        score, contributions = self.scorer.score(FARMING_RING, features, model)
        self._candidate(FARMING_RING, model, members, features, score, ts, search.model)
        if score < self.config.threshold:
            return None
        case_id, members = self._ring_case(members)
        if not self._is_news(case_id, len(members), score, ts):
            return None
        edges = self.graph.edges_within(members, ts)
        found_by = search.found_by + ("; nearly every tie traded both ways" if model == RECIPROCAL_MODEL else "")
        evidence = {
            "summary": (
                f"{len(members)} accounts boosting each other ({found_by}): "
                f"{features['inflow_closure']:.0%} of their recent boosters and "
                f"{features['outflow_closure']:.0%} of their recent boost targets are "
                f"inside the group; {features['fresh_share']:.0%} under {FRESH_DAYS:g} days old; "
                f"{features['lockstep_share']:.0%} of the boosts inside made in the last hour; "
                f"{features['acquainted_share']:.0%} of member pairs knew someone in common a week before"
            ),
            "members": sorted(members),
            "member_facts": self._member_facts(members, edges),
            "known_in_common": [
                {"account": account, "members": knowing}
                for account, knowing in self.state.introducers(members, ts, KNOWN_IN_COMMON_SHOWN)
            ],
            "edges": [[s, d, t] for s, d, t, _ in edges[:400]],
            "features": features,
            "model": model,
        }
        sample = self.state.sample_ids(members)
        first_ts = min((t for _, _, t, _ in edges), default=ts)
        return self._finding(FARMING_RING, case_id, members, score, contributions, evidence, sample, first_ts, ts)

    def _member_facts(self, members: set[str], edges: Sequence[tuple[str, str, float, float]]) -> list[dict]:
        """Per member, what tells a ring from friends: when the account was created and first seen, its profile,
        when it last acted again after a month or more without acting (a dormant account taken over comes back so)
        and how long it had been idle, since when it trades with the other members (friends for months, or since
        last week), and how many of the accounts it boosts, and is boosted by, are members (the graph's kept
        partners)."""
        boosts_inside = Counter(actor for actor, _, _, _ in edges)
        boosted_inside = Counter(target for _, target, _, _ in edges)
        tied_since: dict[str, float] = {}
        for actor, target, _, first in edges:
            for member in (actor, target):
                tied_since[member] = min(first, tied_since.get(member, first))
        rows = []
        for member in sorted(members):
            first_seen, created, followers, following, posts, back = self.state.account_facts(member) or (None,) * 6
            returned, idle_days = back or (None, None)
            boosters = self.graph.booster_count(member)
            boosted = self.graph.ties(member) - boosters
            rows.append(
                {
                    "account": member,
                    "created_ts": created,
                    "first_seen_ts": first_seen,
                    "followers": followers,
                    "following": following,
                    "posts": posts,
                    "returned_ts": returned,
                    "idle_days_before": idle_days,
                    "tied_inside_since_ts": tied_since.get(member),
                    "boosts_members": boosts_inside[member],
                    "boosts_others": max(boosted - boosts_inside[member], 0),
                    "boosted_by_members": boosted_inside[member],
                    "boosted_by_others": max(boosters - boosted_inside[member], 0),
                }
            )
        return rows

    def _ring_case(self, members: set[str]) -> tuple[str, set[str]]:
        """Reuse the case of a ring already flagged when most of the smaller of the two groups is shared, so a
        ring that grows stays one case; a mere overlap does not merge (a hijacked member's organic circle is not
        the ring). Two earlier halves of one ring are merged into the older case."""
        overlaps = Counter(self._ring_of[m] for m in members if m in self._ring_of)
        same = sorted(c for c, n in overlaps.items() if n * 2 >= min(len(members), len(self._rings[c])))
        if same:
            case_id = same[0]
            for other in same:
                members = members | self._rings[other]
        else:
            case_id = stable_case_id(FARMING_RING, ",".join(sorted(members)))
        self._rings[case_id] = members
        for m in members:
            self._ring_of[m] = case_id
        return case_id, members

    # ------------------------------------------------------------------ growth
    def _growth_finding(self, target: str, ts: float) -> Finding | None:
        """Score the target's follower growth (the state found it due); a finding when it crosses the threshold."""
        growth = GrowthFeatures(*self.state.growth(target, ts))
        features = growth.as_dict()
        score, contributions = self.scorer.score(FOLLOWER_GROWTH, features)
        self._candidate(FOLLOWER_GROWTH, FOLLOWER_GROWTH, {target}, features, score, ts)
        if score < self.config.threshold:
            return None
        case_id = stable_case_id(FOLLOWER_GROWTH, target)
        # A burst's extent counts in doublings: reviewers see it grow without a revision per evaluation.
        if not self._is_news(case_id, growth.new_followers.bit_length(), score, ts):
            return None
        window = self.state.burst_window(target)
        evidence = {
            "summary": (
                f"{growth.new_followers} new boosters in {growth.window_days:g} days against a baseline of "
                f"{growth.baseline_per_day:.1f}/day; {growth.fresh_share:.0%} fresh, "
                f"{growth.low_quality_share:.0%} low-quality, {growth.follow_heavy_share:.0%} following hundreds, "
                f"{growth.batch_share:.0%} batch-created"
            ),
            "burst_window": {
                "start": window[0][0],
                "end": window[-1][0],
                "new_followers": growth.new_followers,
                "baseline_per_day": growth.baseline_per_day,
                "fresh_share": growth.fresh_share,
                "follow_heavy_share": growth.follow_heavy_share,
                "batch_share": growth.batch_share,
            },
            "followers_sample": [f for _, f, _ in window[-50:]],
            "creation_batches": creation_batches(
                facts[1] for f in {f for _, f, _ in window} if (facts := self.state.account_facts(f)) is not None
            ),
            "features": features,
        }
        sample = [eid for _, _, eid in window if eid is not None]
        return self._finding(
            FOLLOWER_GROWTH, case_id, {target}, score, contributions, evidence, sample, window[0][0], ts
        )

    def _candidate(
        self,
        scheme: str,
        model: str,
        accounts: set[str],
        features: dict,
        score: float,
        ts: float,
        search_model: str | None = None,
    ) -> None:
        """Note the candidate's score for its accounts and, when recording, the candidate: ``model`` scored it,
        ``search_model`` is the weights of the search that found it (:func:`ring_model`), which `detector train`
        also fits on it."""
        self.state.raise_best(accounts, score)
        if self.config.record_candidates:
            self.candidates.append(
                {
                    "scheme": scheme,
                    "model": model,
                    "search_model": search_model or model,
                    "ts": ts,
                    "accounts": sorted(accounts),
                    "features": features,
                    "score": score,
                }
            )

    # ------------------------------------------------------------------ findings
    def _is_news(self, case_id: str, extent: int, score: float, ts: float) -> bool:
        """Whether a case crossing the threshold is reported (and then counted as reported): a new case within the
        day's budget, or a stronger score or a bigger scheme. Asked before the evidence is gathered, which most
        re-flagged cases never need."""
        previous = self._revisions.get(case_id)
        if previous is not None:
            # Only a stronger score or a bigger scheme is news; anything else would flood reviewers and alerts.
            if score <= previous[1] + 0.02 and extent <= previous[0]:
                return False
        elif not self._within_budget(ts, score):
            self._held_by_budget += 1
            return False
        self._revisions[case_id] = (max(extent, previous[0]), max(score, previous[1])) if previous else (extent, score)
        return True

    def _finding(
        self,
        scheme: str,
        case_id: str,
        accounts: set[str],
        score: float,
        contributions: list[tuple[str, float, float]],
        evidence: dict,
        sample_ids: list[str],
        first_ts: float,
        ts: float,
    ) -> Finding:
        """The finding of a case :meth:`_is_news` let through."""
        evidence["top_features"] = [
            {"name": n, "value": round(v, 6), "contribution": round(c, 6)} for n, v, c in contributions[:6]
        ]
        evidence["sample_event_ids"] = sample_ids[-self.config.sample_event_ids :]
        finding = Finding(
            case_id=case_id,
            scheme=scheme,
            accounts=tuple(sorted(accounts)),
            score=round(score, 6),
            flagged_ts=ts,
            first_event_ts=first_ts,
            last_event_ts=ts,
            model_version=f"{MODEL_VERSION}+{self.scorer.version}" if self.scorer.version else MODEL_VERSION,
            evidence=evidence,
        )
        for account in accounts:
            self._record(account, finding)
        self._findings += 1
        return finding

    def _within_budget(self, ts: float, score: float) -> bool:
        """At most ``max_new_cases_per_day`` new cases per event-time day keeps the review queue workable;
        near-certain cases (score >= 0.95) always pass."""
        day = int(ts // DAY)
        if day != self._budget_day:
            self._budget_day, self._budget_used = day, 0
        if self._budget_used >= self.config.max_new_cases_per_day and score < 0.95:
            return False
        self._budget_used += 1
        return True

    def _record(self, account: str, finding: Finding) -> None:
        result = self.results.get(account)
        if result is None:
            result = self.results[account] = AccountResult()
            self.state.pin(account)  # part of a flagged case: kept for good
        if not result.flagged:
            result.flagged = True
            result.first_flagged_ts = finding.flagged_ts
        # The evidence shown is the strongest case's, kept current as that case grows.
        if finding.score >= result.score or finding.case_id == result.evidence_case_id:
            result.score = max(result.score, finding.score)
            result.evidence = finding.evidence
            result.evidence_case_id = finding.case_id
        if finding.scheme not in result.schemes:
            result.schemes.append(finding.scheme)
        if finding.case_id not in result.case_ids:
            result.case_ids.append(finding.case_id)

    def best_score(self, account: str) -> float:
        """The highest score the account reached in any candidate, flagged or not (0 when it never was in one)."""
        result = self.results.get(account)
        return max(self.state.best_score(account), result.score if result is not None else 0.0)

    def use_flagging(self, threshold: float, max_new_cases_per_day: int) -> None:
        """Flag from now on the candidates scored ``threshold`` or more, opening at most ``max_new_cases_per_day``
        new cases a day under 0.95: a platform's operating point (``detector eval --thresholds`` measures them).
        What was flagged stays flagged; the searches and scores do not change."""
        check_flagging(threshold, max_new_cases_per_day)
        self.config = replace(self.config, threshold=threshold, max_new_cases_per_day=max_new_cases_per_day)

    def learn_decision(self, scheme: str, features: dict[str, float], confirmed: bool) -> None:
        """Feed a reviewer decision to the online classifier."""
        self.scorer.learn_decision(scheme, features, confirmed)

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> bytes:
        """All state, for checkpoints; :meth:`restore` continues exactly where this left off."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def restore(blob: bytes) -> Engine:
        engine = pickle.loads(blob)
        if not isinstance(engine, Engine):
            raise TypeError("not an engine snapshot")
        found = getattr(engine, "snapshot_format", 1)
        if found != SNAPSHOT_FORMAT:
            raise ValueError(f"engine snapshot of format {found}: this engine restores only format {SNAPSHOT_FORMAT}")
        return engine
