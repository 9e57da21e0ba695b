"""Time constants and the daily activity cycle shared by the Bitcoin-Alpha loader and the synthetic generator.

People interact little at night and most in the evening; a detector that watches per-hour rates must not mistake
the evening peak for a burst, so both backgrounds follow the same cycle.
"""

from __future__ import annotations

import bisect
import math
import random
from functools import cache

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY

#: Relative activity at the peak (17:00) and the trough (05:00) of the day.
_AMPLITUDE = 0.75
_PEAK_HOUR = 17.0


def activity(seconds_into_day: float) -> float:
    """Relative activity level (mean 1) at a time of day.

    >>> round(activity(17 * HOUR), 2), round(activity(5 * HOUR), 2)
    (1.75, 0.25)
    """
    hour = seconds_into_day / HOUR
    return 1.0 + _AMPLITUDE * math.cos(2 * math.pi * (hour - _PEAK_HOUR) / 24)


PEAK_ACTIVITY = 1.0 + _AMPLITUDE


@cache
def _cumulative() -> tuple[list[float], list[float]]:
    """The cycle's cumulative distribution on a one-minute grid (seconds into the day, cumulative share)."""
    grid = [i * MINUTE for i in range(1441)]
    cdf = [0.0]
    for start in grid[:-1]:
        cdf.append(cdf[-1] + activity(start + MINUTE / 2))
    total = cdf[-1]
    return grid, [c / total for c in cdf]


def time_of_day(quantile: float) -> float:
    """Seconds into the day below which ``quantile`` of a day's activity falls (inverse CDF, strictly increasing).

    Spreading a day's k events at quantiles (j + 0.5) / k gives them distinct times that follow the cycle.

    >>> time_of_day(0.0), time_of_day(1.0)
    (0.0, 86400.0)
    >>> time_of_day(0.25) < time_of_day(0.5) < time_of_day(0.75)
    True
    """
    grid, cdf = _cumulative()
    quantile = min(max(quantile, 0.0), 1.0)
    # cdf[0] == 0 <= quantile, so i >= 1.
    i = min(bisect.bisect_right(cdf, quantile), len(cdf) - 1)
    lo, hi = cdf[i - 1], cdf[i]
    return grid[i - 1] + (quantile - lo) / (hi - lo) * MINUTE


def accept_time(rng: random.Random, ts: float) -> bool:
    """Thinning step: keep a candidate time drawn at the peak rate with probability activity / peak."""
    return rng.random() * PEAK_ACTIVITY < activity(ts % DAY)


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A value between ``low`` and ``high`` whose order of magnitude is uniform (hours are as likely as weeks).

    >>> 1.0 <= log_uniform(random.Random(0), 1.0, 100.0) <= 100.0
    True
    """
    return math.exp(rng.uniform(math.log(low), math.log(high)))
