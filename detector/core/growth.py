"""Inorganic follower growth: an account gaining new boosters far beyond its own baseline, from low-quality,
batch-created accounts that follow in lockstep.

A popular account that a ring boosts as camouflage also gains young, low-quality boosters; they differ from bought
followers in that they trade: they boost each other, or other accounts boost them (``trading_share``; bought
followers only give, and the growing account boosting them back does not count, as a customer can do that).

The baseline is the account's own decayed rate of *new* boosters (first-time followers, raters, likers...), so a
regularly popular account has a higher bar than a quiet one and an organic burst raises it for a while. Volume
alone also fires on organic virality, so the score needs the followers to look bought as well: young, shaped
like fake profiles (Cresci et al. 2015), created in batches, and following the same other targets together.

The ledgers and the counts behind the features are kept and computed by the compiled engine state
(``native/src/state.rs``: ``Ledger``, ``State::growth``, ``Account::low_quality``); this module names them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from detector.core._native import BATCH_SECONDS

#: The fewest new boosters in the window that a burst is scored at (``EngineConfig.min_burst``).
MIN_BURST = 8


@dataclass(frozen=True, slots=True)
class GrowthFeatures:
    new_followers: int  # new boosters inside the window
    window_days: float
    baseline_per_day: float
    excess_z: float  # (observed - expected) / sqrt(expected + 1), Poisson-style
    fresh_share: float
    low_quality_share: float
    follow_heavy_share: float  # following >= 10x followers and >= 150: bought followers' shape, not a newcomer's
    batch_share: float  # followers created within BATCH_SECONDS (600) of at least 4 others in the window
    lockstep_share: float  # followers who also boost the most shared other target
    trading_share: float  # followers who boost another new follower or whom others boost: ring members, not bought

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}


def creation_batches(created: Iterable[float | None], shown: int = 10) -> list[dict]:
    """Creation times chained into batches, each account created within BATCH_SECONDS (ten minutes) of the one
    before; the ``shown`` largest batches of two or more, largest first. Accounts registered in bulk show as a few
    big batches, humans as none. Unknown creation times (``None``) are left out.

    Examples
    --------
    >>> bulk = [1000.0, 1100.0, 1300.0, 5000.0, 5060.0, None, 90000.0]
    >>> [batch["followers"] for batch in creation_batches(bulk)]
    [3, 2]
    >>> creation_batches(bulk)[0]
    {'first_created_ts': 1000.0, 'last_created_ts': 1300.0, 'followers': 3}
    """
    batches: list[list[float]] = []
    for ts in sorted(t for t in created if t is not None):
        if batches and ts - batches[-1][-1] <= BATCH_SECONDS:
            batches[-1].append(ts)
        else:
            batches.append([ts])
    largest = sorted((b for b in batches if len(b) > 1), key=lambda b: (-len(b), b[0]))[:shown]
    return [{"first_created_ts": b[0], "last_created_ts": b[-1], "followers": len(b)} for b in largest]
