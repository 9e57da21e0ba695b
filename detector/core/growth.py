"""Inorganic follower growth: an account gaining new boosters far beyond its own baseline, from low-quality,
batch-created accounts that follow in lockstep.

A popular account that a ring boosts as camouflage also gains young, low-quality boosters; they differ from bought
followers in that they boost each other (``trading_share``).

The baseline is the account's own decayed rate of *new* boosters (first-time followers, raters, likers...), so a
regularly popular account has a higher bar than a quiet one and an organic burst raises it for a while. Volume
alone also fires on organic virality, so the score needs the followers to look bought as well: young, shaped
like fake profiles (Cresci et al. 2015), created in batches, and following the same other targets together.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

from detector.core._native import RecentBoostGraph
from detector.core.accounts import DAY, FRESH_DAYS, AccountInfo

#: The fewest new boosters in the window that a burst is scored at (``EngineConfig.min_burst``).
MIN_BURST = 10
BATCH_SECONDS = 600.0  # bought accounts were created up to ~100 within ten minutes (Cresci et al. 2015)


@dataclass(frozen=True, slots=True)
class GrowthFeatures:
    new_followers: int  # new boosters inside the window
    window_days: float
    baseline_per_day: float
    excess_z: float  # (observed - expected) / sqrt(expected + 1), Poisson-style
    fresh_share: float
    low_quality_share: float
    batch_share: float  # followers created within BATCH_SECONDS of at least 4 others in the window
    lockstep_share: float  # followers who also boost the most shared other target
    trading_share: float  # followers who boost other new followers: a ring's members, not bought followers

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}


class FollowerLedger:
    """Per-account record of new boosters: the recent window in detail, the past as a decayed rate.

    Examples
    --------
    >>> ledger = FollowerLedger(window=DAY, half_life=30 * DAY, max_recent=1000)
    >>> for i in range(5):
    ...     ledger.add(f"f{i}", ts=1000.0 + i, event_id=None)
    >>> len(ledger.recent), ledger.rate_per_day(1010.0) < 1
    (5, True)
    """

    __slots__ = ("window", "half_life", "max_recent", "recent", "decayed", "decayed_at", "started")

    def __init__(self, window: float, half_life: float, max_recent: int):
        self.window = window
        self.half_life = half_life
        self.max_recent = max_recent
        self.recent: deque[tuple[float, str, str | None]] = deque()
        self.decayed = 0.0  # new boosters that left the window, exponentially decayed
        self.decayed_at: float | None = None
        self.started: float | None = None

    def add(self, follower: str, ts: float, event_id: str | None) -> None:
        if self.started is None:
            self.started = ts
        self.recent.append((ts, follower, event_id))
        self.expire(ts)
        if len(self.recent) > self.max_recent:
            self.recent.popleft()
            self._retire(ts)

    def expire(self, now: float) -> None:
        horizon = now - self.window
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()
            self._retire(now)

    def _retire(self, now: float) -> None:
        """A new booster leaves the detailed window and joins the decayed baseline."""
        self._decay_to(now)
        self.decayed += 1.0

    def _decay_to(self, now: float) -> None:
        if self.decayed_at is not None and now > self.decayed_at:
            self.decayed *= 0.5 ** ((now - self.decayed_at) / self.half_life)
        self.decayed_at = now if self.decayed_at is None else max(self.decayed_at, now)

    def rate_per_day(self, now: float) -> float:
        """Baseline new boosters per day before the window (decayed count over the decay's effective span)."""
        self._decay_to(now)
        history = max(0.0, now - self.window - (self.started or now))
        # An exponential decay with half-life h integrates to h/ln2; young accounts have a shorter history.
        span_days = max(1.0, min(history, self.half_life / math.log(2)) / DAY)
        return self.decayed / span_days


def growth_features(
    account: str,
    ledger: FollowerLedger,
    accounts: dict[str, AccountInfo],
    graph: RecentBoostGraph,
    now: float,
    max_sampled: int = 400,
) -> GrowthFeatures:
    recent = ledger.recent
    n = len(recent)
    window_days = ledger.window / DAY
    baseline = ledger.rate_per_day(now)
    expected = baseline * window_days
    excess_z = (n - expected) / math.sqrt(expected + 1.0)
    # Quality is judged on the latest followers only, to bound the cost on huge accounts.
    sample = [recent[i][1] for i in range(max(0, n - max_sampled), n)]
    m = len(sample) or 1
    infos = [accounts.get(f) for f in sample]
    fresh = sum(1 for info in infos if info is not None and info.age_days(now) < FRESH_DAYS)
    low = sum(1 for info in infos if info is not None and info.low_quality())
    buckets = Counter(
        int(info.created_ts // BATCH_SECONDS) for info in infos if info is not None and info.created_ts is not None
    )
    batch = sum(
        1
        for info in infos
        if info is not None and info.created_ts is not None and _bucket_mass(buckets, info.created_ts) >= 5
    )
    # Followers boosting each other (trading) and boosting one other target together (lockstep), on the graph.
    trading, lockstep = graph.follower_ties(sample, account, now)
    return GrowthFeatures(
        new_followers=n,
        window_days=window_days,
        baseline_per_day=baseline,
        excess_z=excess_z,
        fresh_share=fresh / m,
        low_quality_share=low / m,
        batch_share=batch / m,
        lockstep_share=lockstep / m,
        trading_share=trading / m,
    )


def _bucket_mass(buckets: Counter[int], created_ts: float) -> int:
    # Neighbouring buckets too: a batch straddling a bucket edge is still one batch.
    b = int(created_ts // BATCH_SECONDS)
    return buckets[b - 1] + buckets[b] + buckets[b + 1]
