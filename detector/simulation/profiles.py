"""Actor profiles calibrated on real human and bought accounts (Cresci et al. 2015).

Every simulated event carries a profile — organic ones as well as injected ones — so a detector cannot tell the
two apart by whether a profile is present, only by what it says: humans are older, with more posts and followers;
bought accounts are young, follow hundreds, have few followers, and were created in batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from msgspec.structs import replace

from detector.core.events import Event, Profile
from detector.simulation.clock import HOUR, WEEK, log_uniform
from detector.simulation.datasets import CresciProfiles, ProfileRow, load_cresci_profiles

#: Bought accounts come in batches of this many, created within BATCH_SPREAD seconds (Cresci et al. 2015).
BATCH_SIZE = (10, 100)
BATCH_SPREAD = 600.0
#: How long before they are used a batch of bought accounts is created.
BATCH_LEAD = (3 * HOUR, 3 * WEEK)
#: How long after signing up a newcomer boosts the account it came for (seconds; log-uniform): a fan following the
#: account that brought it, or a bought account registered as its order runs.
SIGNUP_LAG = (30.0, HOUR)


@dataclass(frozen=True, slots=True)
class HumanAccount:
    """A human's account over time: its counts grow with its age, from none at creation, linearly up to those of a
    real human as observed (Cresci et al. 2015) at that human's age, and no further.

    A newcomer has barely posted and is followed by few, as on a real platform, so youth and a thin profile are
    normal for an organic account and do not tell bought followers by themselves.

    Examples
    --------
    >>> from detector.simulation.datasets import ProfileRow
    >>> account = HumanAccount(ProfileRow(created_ts=0.0, followers=200, following=300, posts=3000),
    ...                        observed_age=1000 * 86400.0, created_ts=1.7e9)
    >>> account.at(1.7e9 + 5 * 86400).posts, account.at(1.7e9 + 5000 * 86400).posts
    (15, 3000)
    """

    row: ProfileRow
    observed_age: float  # the real human's age when its counts were observed
    created_ts: float

    def at(self, ts: float) -> Profile:
        """The profile as the platform knew it at ``ts``."""
        share = min(1.0, max(0.0, ts - self.created_ts) / self.observed_age)
        row = self.row
        return Profile(
            created_ts=float(round(self.created_ts)),
            followers=round(row.followers * share),
            following=round(row.following * share),
            posts=round(row.posts * share),
        )


class ProfileSampler:
    """Draws profiles from the human rows (organic accounts) or the fake rows (bought accounts).

    Examples
    --------
    >>> sampler = ProfileSampler()
    >>> p = sampler.organic(random.Random(1), first_active_ts=1.7e9).at(1.7e9)
    >>> p.created_ts <= 1.7e9 and p.followers is not None
    True
    """

    def __init__(self, profiles: CresciProfiles | None = None):
        profiles = profiles or load_cresci_profiles()
        self._humans = profiles.humans
        self._fakes = profiles.fakes
        self._reference_ts = profiles.reference_ts

    def organic(self, rng: random.Random, first_active_ts: float) -> HumanAccount:
        """A human account created some time before its first activity here.

        The account's age when first seen is a uniform share of the sampled human's age when observed: most
        organic accounts are years old, and a few percent are days old — new users exist and must not be flagged.
        """
        row = rng.choice(self._humans)
        observed_age = self._observed_age(row)
        return HumanAccount(row, observed_age, first_active_ts - rng.random() * observed_age)

    def human(self, rng: random.Random, created_ts: float) -> HumanAccount:
        """A human account created at ``created_ts`` (a newcomer, e.g. one who joined with friends)."""
        row = rng.choice(self._humans)
        return HumanAccount(row, self._observed_age(row), created_ts)

    def _observed_age(self, row: ProfileRow) -> float:
        # At least a day: the newest human was observed on the day it was created.
        return max(self._reference_ts - row.created_ts, 86400.0)

    def fake(self, rng: random.Random, created_ts: float) -> Profile:
        """A bought account's counts, created at ``created_ts`` (see :func:`batch_creation_times`)."""
        return _profile(rng.choice(self._fakes), created_ts)


def _profile(row: ProfileRow, created_ts: float) -> Profile:
    return Profile(
        created_ts=float(round(created_ts)), followers=row.followers, following=row.following, posts=row.posts
    )


def batch_creation_times(rng: random.Random, n: int, before_ts: float) -> list[list[float]]:
    """Creation times of ``n`` bought accounts, grouped in batches, all before ``before_ts``.

    Each batch holds 10..100 accounts created within ten minutes, some hours to weeks before ``before_ts``. A
    remainder smaller than a batch joins the previous batch, so every batch of a large enough order looks bought.

    >>> batches = batch_creation_times(random.Random(3), 150, before_ts=1.7e9)
    >>> sum(map(len, batches)), all(max(b) - min(b) <= 600 for b in batches), min(map(len, batches)) >= 10
    (150, True, True)
    """
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(rng.randint(*BATCH_SIZE), n - sum(sizes)))
    if len(sizes) > 1 and sizes[-1] < BATCH_SIZE[0]:
        remainder = sizes.pop()
        sizes[-1] += remainder
    batches = []
    for size in sizes:
        start = before_ts - log_uniform(rng, *BATCH_LEAD) - BATCH_SPREAD
        batches.append(sorted(start + rng.uniform(0, BATCH_SPREAD) for _ in range(size)))
    return batches


def attach_profiles(events: Iterable[Event], rng: random.Random, sampler: ProfileSampler) -> list[Event]:
    """Give every event its actor's organic profile as it was at the event (one human account per actor).

    The account's first activity is its first appearance as actor or target; profiles are drawn in order of first
    appearance, so the result is deterministic for a seed.
    """
    events = list(events)
    first_seen: dict[str, float] = {}
    for event in events:
        first_seen.setdefault(event.actor, event.ts)
        first_seen.setdefault(event.target, event.ts)
    accounts = {account: sampler.organic(rng, ts) for account, ts in first_seen.items()}
    return [replace(event, actor_profile=accounts[event.actor].at(event.ts)) for event in events]
