"""The plain heuristic: what a platform would write first, with fixed thresholds and no learning.

* Ring: an account with at least ``MIN_MUTUAL`` mutual partners (accounts it boosted and that boosted it) whose
  mutual partners are densely mutual among themselves (local clustering coefficient >= ``MIN_CLUSTERING``).
* Growth: an account receiving at least ``MIN_PER_DAY`` boosts in a calendar day and ``RATIO`` times its own
  running mean per day (since it was first boosted).

The score is how far the account got past its thresholds (the smaller of the ratios to each), so ``score >= 1``
exactly when it is flagged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from detector.baselines import BaselineResult
from detector.core.events import Event
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH

DAY = 86400.0
MIN_MUTUAL = 3
MIN_CLUSTERING = 0.5
MIN_PER_DAY = 20
RATIO = 5.0


def run(events: Iterable[Event]) -> dict[str, BaselineResult]:
    """Flag accounts over a time-ordered stream.

    Examples
    --------
    >>> ring = [Event(1.5e9 + i, "endorse", a, b) for i, (a, b) in enumerate(
    ...     (a, b) for a in "wxyz" for b in "wxyz" if a != b)]
    >>> results = run(ring)
    >>> sorted(a for a, r in results.items() if r.flagged), results["w"].schemes
    (['w', 'x', 'y', 'z'], ['farming_ring'])
    """
    results: dict[str, BaselineResult] = {}
    boosted: defaultdict[str, set[str]] = defaultdict(set)  # whom each account boosted
    mutual: defaultdict[str, set[str]] = defaultdict(set)
    triangles: Counter[str] = Counter()  # triangles of mutual pairs through each account
    today: dict[str, tuple[int, int]] = {}  # account -> (day, boosts received that day)
    before_today: Counter[str] = Counter()  # boosts received on earlier days
    first_day: dict[str, int] = {}

    def update(account: str, score: float, ts: float, scheme: str) -> None:
        result = results[account]
        result.score = max(result.score, score)
        if score >= 1.0:
            result.flag(ts, scheme)

    for event in events:
        a, b = event.actor, event.target
        results.setdefault(a, BaselineResult())
        results.setdefault(b, BaselineResult())
        if not event.is_boost:
            continue
        if b not in boosted[a]:
            boosted[a].add(b)
            if a in boosted[b]:  # a new mutual pair closes a triangle with every common mutual partner
                common = mutual[a] & mutual[b]
                for w in common:
                    triangles[w] += 1
                triangles[a] += len(common)
                triangles[b] += len(common)
                mutual[a].add(b)
                mutual[b].add(a)
                for account in (a, b, *common):
                    k = len(mutual[account])
                    clustering = triangles[account] / (k * (k - 1) / 2) if k > 1 else 0.0
                    update(account, min(k / MIN_MUTUAL, clustering / MIN_CLUSTERING), event.ts, FARMING_RING)
        day = int(event.ts // DAY)
        first_day.setdefault(b, day)
        last_day, count = today.get(b, (day, 0))
        if last_day != day:
            before_today[b] += count
            count = 0
        today[b] = (day, count + 1)
        mean = before_today[b] / max(1, day - first_day[b])
        update(b, min((count + 1) / MIN_PER_DAY, (count + 1) / (RATIO * max(mean, 1.0))), event.ts, FOLLOWER_GROWTH)
    return results
