"""Inorganic follower growth: an account gaining new boosters far beyond its own baseline, from low-quality,
batch-created accounts that follow in lockstep.

A popular account that a ring boosts as camouflage also gains young, low-quality boosters; they differ from bought
followers in that they boost each other (``trading_share``).

The baseline is the account's own decayed rate of *new* boosters (first-time followers, raters, likers...), so a
regularly popular account has a higher bar than a quiet one and an organic burst raises it for a while. Volume
alone also fires on organic virality, so the score needs the followers to look bought as well: young, shaped
like fake profiles (Cresci et al. 2015), created in batches, and following the same other targets together.

The ledgers and the counts behind the features are kept and computed by the compiled engine state
(``native/src/state.rs``: ``Ledger``, ``State::growth``, ``Account::low_quality``); this module names them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The fewest new boosters in the window that a burst is scored at (``EngineConfig.min_burst``).
MIN_BURST = 10


@dataclass(frozen=True, slots=True)
class GrowthFeatures:
    new_followers: int  # new boosters inside the window
    window_days: float
    baseline_per_day: float
    excess_z: float  # (observed - expected) / sqrt(expected + 1), Poisson-style
    fresh_share: float
    low_quality_share: float
    batch_share: float  # followers created within BATCH_SECONDS (600) of at least 4 others in the window
    lockstep_share: float  # followers who also boost the most shared other target
    trading_share: float  # followers who boost other new followers: a ring's members, not bought followers

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}
