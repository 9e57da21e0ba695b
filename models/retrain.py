"""Offline retraining with scikit-learn: fit the per-scheme logistic scores on labelled candidates.

A *candidate* is what the engine scored (a ring group or a follower burst) with its features, recorded by
``EngineConfig(record_candidates=True)`` (``detector replay --candidates``). Labels come from the ground truth of
simulated schemes (``detector simulate --truth``) or from reviewer decisions. The fitted weights are written as
JSON that ``detector.core.scoring`` loads, so a retrained model ships as a reviewed diff of one small file.

Train on the *synthetic* background and evaluate on Bitcoin-Alpha (``detector eval``): the real network is never
seen in training, so the evaluation measures generalisation rather than memorisation.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
import orjson
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models import WEIGHTS_PATH
from models.calibration import Reliability
from models.decisions import Decisions
from models.labels import SchemeIndex
from models.linear import LogisticScore


def label_candidates(candidates: Iterable[dict], truth: dict) -> list[tuple[str, dict, bool]]:
    """(model, features, label) per candidate and model that learns from it: positive when it is about an injected
    scheme (the rule of :class:`models.labels.SchemeIndex`). The model is the weights that scored it (exports without
    one: its scheme's); a reciprocal group is also learnt by the model of the search that found it, so that each
    search's weights are fitted on every group it finds, as they were before reciprocal groups had their own."""
    index = SchemeIndex(truth["schemes"])
    rows = []
    for cand in candidates:
        model, label = cand.get("model", cand["scheme"]), index.about(cand) is not None
        rows.append((model, cand["features"], label))
        if cand.get("search_model", model) != model:
            rows.append((cand["search_model"], cand["features"], label))
    return rows


def fit_score(
    rows: Sequence[tuple[dict, bool]],
    names: Sequence[str],
    log1p: frozenset[str],
    c: float = 1.0,
    weights: Sequence[float] | None = None,
) -> LogisticScore:
    """Fit an L2-regularised logistic regression on standardised features and fold the scaling back into
    plain coefficients, so the score stays a readable ``LogisticScore``. ``weights``: per row, how much it counts
    (all 1 by default)."""
    x = np.array([[_transform(f, n, log1p) for n in names] for f, _ in rows], dtype=float)
    y = np.array([label for _, label in rows], dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y, sample_weight=weights)
    coefs = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - np.dot(coefs, mean))
    return LogisticScore(intercept, {n: round(float(w), 4) for n, w in zip(names, coefs, strict=True)}, log1p)


def fit_score_on_top(
    rows: Sequence[tuple[dict, bool]],
    first: LogisticScore,
    added: Sequence[str],
    c: float = 1.0,
    weights: Sequence[float] | None = None,
) -> LogisticScore:
    """Fit how far the ``added`` features move the score ``first`` gives (a logistic regression on ``first``'s
    logit and the added features), folded back into one plain ``LogisticScore`` over all the features.

    Examples
    --------
    Dense groups are rings, unless their members knew each other before:

    >>> first = LogisticScore(-2.0, {"tie_density": 4.0}, frozenset())
    >>> rows = [({"tie_density": d, "acquainted_share": a}, d > 0.5 and a < 0.5)
    ...         for d in (0.2, 0.4, 0.6, 0.8, 1.0) for a in (0.0, 0.2, 0.8, 1.0)]
    >>> fitted = fit_score_on_top(rows, first, ["acquainted_share"])
    >>> sorted(fitted.coefs), fitted.coefs["acquainted_share"] < 0 < fitted.coefs["tie_density"]
    (['acquainted_share', 'tie_density'], True)
    """
    stacked = [({"first": first.logit(f), **{n: f.get(n, 0.0) for n in added}}, y) for f, y in rows]
    top = fit_score(stacked, ["first", *added], frozenset(), c=c, weights=weights)
    scale = top.coefs["first"]
    coefs = {n: round(scale * w, 4) for n, w in first.coefs.items()} | {n: top.coefs[n] for n in added}
    return LogisticScore(top.intercept + scale * first.intercept, dict(sorted(coefs.items())), first.log1p)


def _transform(features: dict, name: str, log1p: frozenset[str]) -> float:
    value = float(features.get(name, 0.0))
    return math.log1p(max(value, 0.0)) if name in log1p else value


#: The simulated training streams are seeds FIRST_TRAINING_SEED, FIRST_TRAINING_SEED + 1, ...: 16 of them trained the
#: shipped weights. An evaluation on the synthetic background must use other seeds (:func:`training_seeds`).
FIRST_TRAINING_SEED = 1000
TRAINING_STREAMS = 16
#: Days of synthetic background per training stream.
TRAINING_DAYS = 60.0


@dataclass(frozen=True)
class ExtraStreams:
    """Simulated streams only some models learn from: the candidates they score are rare in the dense streams, and
    the other models are better off never seeing these streams. Each draw of ``TRAINING_STREAMS`` dense streams
    from seed N has as many of each kind from seed N + ``seed_offset``, simulated with ``config`` changed."""

    models: frozenset[str]
    seed_offset: int
    config: tuple[tuple[str, float], ...]  # SimulationConfig fields that differ from the dense streams'

    def seeds(self, streams: int, first: int) -> range:
        return range(first + self.seed_offset, first + self.seed_offset + streams)


#: *sparse*: the local path needs a traded pair with a small neighbourhood (97 such candidates in the 16 dense
#: streams), so its model also learns from streams with a fifth of the activity; fed to every model, they made
#: Bitcoin-Alpha's organic cliques look like rings (docs/detection.md, *Grow*).
#: *reciprocal*: the reciprocal groups' model also learns from streams where every ring trades tit for tat (every
#: boost inside answered); the dense streams' rings trade each ordered pair on its own (docs/detection.md,
#: *Reciprocal groups*).
EXTRA_STREAMS = {
    "sparse": ExtraStreams(frozenset({"farming_ring_local"}), 100, (("activity", 0.1),)),
    "reciprocal": ExtraStreams(frozenset({"farming_ring_reciprocal"}), 200, (("reciprocal_rings", 1.0),)),
    "quiet": ExtraStreams(frozenset({"farming_ring_early"}), 300, (("quiet_share", 0.3),)),
    "signups": ExtraStreams(frozenset({"follower_growth"}), 400, (("signup_waves", 2), ("on_demand_bursts", 0.5))),
}
#: Features a model learns on top of its dense streams' fit: first fitted on the dense streams without them, the
#: model then learns from all its streams only how far these move that score (with one scale for the first fit).
#: The *quiet* streams' reunions of old friends teach the lockstep groups' weights that acquaintance is organic;
#: fitted freely on them, the other weights moved too, and a closed group of strangers back from dormancy trading in
#: lockstep scored 0.2 (docs/detection.md, *Quiet spells*).
FEATURES_ON_TOP = {"farming_ring_early": ("acquainted_share",)}


#: A model learns from reviewers' decisions only when they hold at least this many of each kind (confirmed,
#: dismissed): a lone dismissal among a thousand confirmations marks no boundary and, weighed like ten candidates,
#: only moves the base rate (docs/detection.md, *Learning from reviewers*).
MIN_DECISIONS_OF_EACH_KIND = 3
#: How many simulated training candidates one reviewer decision counts as. A reviewed case is one group, where the
#: simulated streams hold a group as often as the engine re-scored it (the 160 rings of the 16 streams: 1,688
#: tie-path candidates, ~10 each). Measured with 1, 3, 10 and 30 (docs/detection.md, *Learning from reviewers*).
DECISION_WEIGHT = 10.0


def training_seeds(streams: int = TRAINING_STREAMS, first: int = FIRST_TRAINING_SEED) -> set[int]:
    """The synthetic seeds of a training run, dense and extra (by default the shipped weights')."""
    return set(range(first, first + streams)).union(*(extra.seeds(streams, first) for extra in EXTRA_STREAMS.values()))


def simulate_candidates(background: str, seed: int, kind: str | None = None) -> list[tuple[str, dict, bool]]:
    """One labelled training stream: simulate (``kind``: the :data:`EXTRA_STREAMS` whose config it takes, else a
    dense one), replay with candidate recording, label."""
    from detector.core.engine import Engine, EngineConfig
    from detector.simulation.scenario import SimulationConfig, generate

    config = SimulationConfig(background=background, seed=seed, rings=10, bursts=6, days=TRAINING_DAYS)
    if kind is not None:
        config = replace(config, **dict(EXTRA_STREAMS[kind].config))
    events, truth = generate(config)
    engine = Engine(EngineConfig(record_candidates=True))
    engine.process_batch(events)
    return label_candidates(engine.candidates, truth)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--background", default="synthetic", choices=("synthetic", "bitcoin-alpha"))
    parser.add_argument(
        "--seeds",
        type=int,
        default=TRAINING_STREAMS,
        help=f"simulated training streams (seeds {FIRST_TRAINING_SEED}..), and on the synthetic background as many "
        f"of each extra kind: {_extra_streams_text(FIRST_TRAINING_SEED)}",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_TRAINING_SEED,
        help="the first simulated training stream's seed (the extra kinds' seeds follow at their offsets): another set "
        "of streams, to measure how far the fit moves with the draw (docs/detection.md, *Training variance*); "
        "evaluate on other synthetic seeds",
    )
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--c", type=float, default=0.1, help="inverse L2 regularisation strength")
    parser.add_argument(
        "--candidates",
        type=Path,
        nargs=2,
        action="append",
        metavar=("CANDIDATES", "TRUTH"),
        help="train on your own labelled streams instead of simulating: `detector replay --candidates` output and "
        "its truth JSON (`detector simulate --truth` format); repeat for more streams, the last one is held out",
    )
    parser.add_argument(
        "--decisions",
        type=Path,
        action="append",
        metavar="DECISIONS",
        help="also learn from reviewers' decisions (`detector cases export` or `detector eval --decisions-out` "
        "output): each confirmed case a positive, each dismissed one a negative of the model that scored it, for "
        "models with decisions of both kinds; repeat for more files",
    )
    parser.add_argument(
        "--decision-weight",
        type=float,
        default=DECISION_WEIGHT,
        help="how many training candidates one decision counts as (default: %(default)s)",
    )


def simulated_streams(
    background: str, first: int = FIRST_TRAINING_SEED, seeds: int = TRAINING_STREAMS
) -> tuple[list[list[tuple[str, dict, bool]]], dict[str, list[list[tuple[str, dict, bool]]]]]:
    """The labelled candidates of a training run's simulated streams: the dense ones and, on the synthetic
    background, those of each :data:`EXTRA_STREAMS` kind."""
    kinds = list(EXTRA_STREAMS) if background == "synthetic" else []
    jobs = [(background, seed, None) for seed in range(first, first + seeds)]
    jobs += [(background, seed, kind) for kind in kinds for seed in EXTRA_STREAMS[kind].seeds(seeds, first)]
    with ProcessPoolExecutor() as pool:
        simulated = list(pool.map(simulate_candidates, *zip(*jobs, strict=True)))
    extra = {kind: simulated[seeds * (i + 1) : seeds * (i + 2)] for i, kind in enumerate(kinds)}
    return simulated[:seeds], extra


def _extra_streams_text(first: int, seeds: int | None = None) -> str:
    """The extra kinds and their seeds, e.g. ``sparse 1100–1115 for farming_ring_local``, for help and progress."""
    parts = []
    for kind, extra in EXTRA_STREAMS.items():
        start = first + extra.seed_offset
        span = f"{start}–{start + seeds - 1}" if seeds else f"{start}.."
        parts.append(f"{kind} {span} for {', '.join(sorted(extra.models))}")
    return "; ".join(parts)


def fit_weights(
    streams: Sequence[Sequence[tuple[str, dict, bool]]],
    extra: Mapping[str, Sequence[Sequence[tuple[str, dict, bool]]]] | None = None,
    decisions: Decisions | None = None,
    c: float = 0.1,
    decision_weight: float = DECISION_WEIGHT,
    report: IO[str] | None = None,
) -> dict[str, LogisticScore]:
    """Fit every model of the shipped weights on its candidates in the dense ``streams`` and in the ``extra``
    streams (by :data:`EXTRA_STREAMS` kind) meant for it (the last stream held out for ``report``) and on
    ``decisions``, the :data:`FEATURES_ON_TOP` on top of a first fit on the dense streams; a model with one class
    only keeps its current weights."""
    from detector.core.scoring import load_weights

    report = report or io.StringIO()
    reviewed_by_model = decisions.rows if decisions else {}
    fitted = {}
    for model, base in load_weights().items():
        # Hold the last stream out to report how the fit does on a stream it has not seen.
        own = [*streams]
        for kind, kind_streams in (extra or {}).items():
            own += kind_streams if model in EXTRA_STREAMS[kind].models else []
        train = [(f, y) for stream in own[:-1] for s, f, y in stream if s == model]
        held = [(f, y) for s, f, y in own[-1] if s == model]
        reviewed = reviewed_by_model.get(model, [])
        confirmed = sum(label for _, label in reviewed)
        if reviewed and min(confirmed, len(reviewed) - confirmed) < MIN_DECISIONS_OF_EACH_KIND:
            # Reviewers see flagged cases only: one kind of decision says how often flags were right, not where the
            # boundary lies, and folding it in would only move the model's base rate (docs/detection.md).
            print(
                f"{model}: its {len(reviewed)} decisions hold {confirmed} confirmed and {len(reviewed) - confirmed} "
                f"dismissed, fewer than {MIN_DECISIONS_OF_EACH_KIND} of a kind; left out",
                file=report,
            )
            reviewed = []
        names = sorted(base.coefs)
        added = FEATURES_ON_TOP.get(model, ())
        dense = [(f, y) for stream in streams for s, f, y in stream if s == model]
        first = None
        if added and _both_classes(dense):
            first = fit_score(dense, [n for n in names if n not in added], base.log1p, c=c)
        fit = (
            partial(fit_score_on_top, first=first, added=added)
            if first is not None
            else partial(fit_score, names=names, log1p=base.log1p)
        )
        if _both_classes(train):
            _report(model, fit(train, c=c), held, file=report)
        else:
            print(f"{model}: the training streams hold one class only; no held-out report", file=report)
        rows = train + held + reviewed
        if _both_classes(rows):
            fitted[model] = fit(rows, c=c, weights=[1.0] * len(train + held) + [decision_weight] * len(reviewed))
        else:
            print(f"{model}: one class only in all streams; its current weights are kept", file=report)
            fitted[model] = base
        if reviewed:
            _report_decisions(model, base, fitted[model], reviewed, file=report)
    return fitted


def run(args: argparse.Namespace) -> int:
    from detector.core.scoring import load_weights

    extra: dict[str, list[list[tuple[str, dict, bool]]]] = {}
    if args.candidates:
        streams = [
            label_candidates(
                (orjson.loads(line) for line in cands.read_bytes().splitlines()), json.loads(truth.read_text())
            )
            for cands, truth in args.candidates
        ]
    else:
        streams, extra = simulated_streams(args.background, args.first_seed, args.seeds)
        last = args.first_seed + args.seeds - 1
        extra_note = f"; {_extra_streams_text(args.first_seed, args.seeds)}" if extra else ""
        print(f"simulated training streams: seeds {args.first_seed}–{last}{extra_note}", file=sys.stderr)
    decisions = Decisions()
    for path in args.decisions or ():
        with path.open("rb") as lines:
            decisions.read(str(path), lines, {m: sorted(s.coefs) for m, s in load_weights().items()})
    _report_left_out(decisions.left_out, file=sys.stderr)
    fitted = fit_weights(streams, extra, decisions, args.c, args.decision_weight, report=sys.stderr)
    args.out.write_text(weights_json(fitted))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _both_classes(rows: Sequence[tuple[dict, bool]]) -> bool:
    return len({label for _, label in rows}) == 2


def _report(model: str, score: LogisticScore, held: Sequence[tuple[dict, bool]], file) -> None:
    labels = [y for _, y in held]
    scores = [score.score(f) for f, _ in held]
    auc = roc_auc_score(labels, scores) if 0 < sum(labels) < len(labels) else float("nan")
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= 0.5 and y)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= 0.5 and not y)
    reliability = Reliability()
    for s, y in zip(scores, labels, strict=True):
        reliability.update(s, y)
    print(
        f"{model}: held-out candidates {len(held)} ({sum(labels)} positive) AUC {auc:.3f}, "
        f"at 0.5: {tp} true and {fp} false candidates; calibration error {reliability.ece:.3f}, "
        f"Brier {reliability.brier:.3f}",
        file=file,
    )


def _report_left_out(left_out: Sequence[tuple[str, int, str]], file, shown: int = 5) -> None:
    """Every decision line not learnt from is counted by reason; the first few are named."""
    if not left_out:
        return
    reasons = Counter(reason.split(":")[0] if reason.startswith("feature ") else reason for _, _, reason in left_out)
    counts = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    print(f"decision lines left out: {len(left_out)} ({counts})", file=file)
    for name, number, reason in left_out[:shown]:
        print(f"  {name}:{number}: {reason}", file=file)


def _report_decisions(
    model: str, before: LogisticScore, after: LogisticScore, reviewed: Sequence[tuple[dict, bool]], file
) -> None:
    """How the current and the refitted weights score the reviewed cases (all of them were learnt from)."""

    def passing(score: LogisticScore, label: bool) -> int:
        return sum(1 for f, y in reviewed if y == label and score.score(f) >= 0.5)

    confirmed = sum(1 for _, y in reviewed if y)
    dismissed = len(reviewed) - confirmed
    print(
        f"{model}: learnt from {len(reviewed)} decisions; scored 0.5 or more: of {confirmed} confirmed "
        f"{passing(before, True)} before, {passing(after, True)} after; of {dismissed} dismissed "
        f"{passing(before, False)} before, {passing(after, False)} after",
        file=file,
    )


def weights_json(weights: dict[str, LogisticScore]) -> str:
    """The weights file's text: what ``detector train`` writes and the scorer loads."""
    return json.dumps({scheme: json.loads(score.to_json()) for scheme, score in weights.items()}, indent=2) + "\n"
