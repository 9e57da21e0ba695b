"""MIDAS-R baseline: edge-stream anomaly scores (``aberrant.model.graph.MIDAS``, relational mode) per account.

MIDAS-R scores each edge by how far the current (decayed) count of the edge, its source and its destination
exceeds their long-run average per time bucket (a chi-square statistic). Here an account's score is the maximum
score over the edges it is on, as source or target, so far. MIDAS has no notion of a threshold for accounts;
:func:`score_accounts` keeps each account's record highs over time, so the evaluation can flag at any threshold
after the fact — it picks the best-F1 threshold with the ground truth in hand, an upper bound for this baseline.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aberrant.model.graph import MIDAS

from detector.baselines import BaselineResult
from detector.core.events import Event

HOUR = 3600.0


@dataclass(slots=True)
class ScoreTrace:
    """An account's running maximum edge score, as the (time, score) points where it reached a new high."""

    times: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.highs[-1] if self.highs else 0.0

    def observe(self, ts: float, score: float) -> None:
        if score > self.score:
            self.times.append(ts)
            self.highs.append(score)

    def first_reaching(self, threshold: float) -> float | None:
        """When the running maximum first reached ``threshold`` (``None``: never).

        >>> trace = ScoreTrace([1.0, 5.0], [2.0, 9.0])
        >>> trace.first_reaching(3.0), trace.first_reaching(10.0)
        (5.0, None)
        """
        i = bisect.bisect_left(self.highs, threshold)
        return self.times[i] if i < len(self.highs) else None


def score_accounts(
    events: Iterable[Event], *, bucket_s: float = HOUR, seed: int = 0, sketch_columns: int = 1024
) -> dict[str, ScoreTrace]:
    """Score every edge of a time-ordered stream with MIDAS-R and keep each account's running maximum.

    Account ids become integers in order of appearance; time buckets are ``bucket_s`` long. Every interaction is an
    edge, whatever its kind or sign: MIDAS looks only at who touches whom, when.

    >>> events = [Event(1.5e9 + 60 * i, "follow", f"f{i}", "star") for i in range(50)]
    >>> traces = score_accounts(events)
    >>> max(traces, key=lambda a: traces[a].score)
    'star'
    """
    model = MIDAS(source_key="src", destination_key="dst", time_key="t", count_min_cols=sketch_columns, seed=seed)
    numbers: dict[str, int] = {}
    traces: dict[str, ScoreTrace] = {}
    for event in events:
        src = numbers.setdefault(event.actor, len(numbers))
        dst = numbers.setdefault(event.target, len(numbers))
        edge = {"src": src, "dst": dst, "t": int(event.ts // bucket_s)}
        score = model.score_one(edge)
        model.learn_one(edge)
        for account in (event.actor, event.target):
            traces.setdefault(account, ScoreTrace()).observe(event.ts, score)
    return traces


def flag(traces: Mapping[str, ScoreTrace], threshold: float) -> dict[str, BaselineResult]:
    """Per-account results at a score threshold."""
    results = {}
    for account, trace in traces.items():
        first = trace.first_reaching(threshold)
        results[account] = BaselineResult(score=trace.score, flagged=first is not None, first_flagged_ts=first)
    return results
