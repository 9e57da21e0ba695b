"""Actor profiles calibrated on real human and bought accounts (Cresci et al. 2015).

Every simulated event carries a profile — organic ones as well as injected ones — so a detector cannot tell the
two apart by whether a profile is present, only by what it says: humans are older, with more posts and followers;
bought accounts are young, follow hundreds, have few followers, and were created in batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from msgspec.structs import replace

from detector.core.events import Event, Profile
from detector.simulation.clock import HOUR, WEEK, log_uniform
from detector.simulation.datasets import CresciProfiles, ProfileRow, load_cresci_profiles

#: Bought accounts come in batches of this many, created within BATCH_SPREAD seconds (Cresci et al. 2015).
BATCH_SIZE = (10, 100)
BATCH_SPREAD = 600.0
#: How long before they are used a batch of bought accounts is created.
BATCH_LEAD = (3 * HOUR, 3 * WEEK)


class ProfileSampler:
    """Draws profiles from the human rows (organic accounts) or the fake rows (bought accounts).

    Examples
    --------
    >>> sampler = ProfileSampler()
    >>> p = sampler.organic(random.Random(1), first_active_ts=1.7e9)
    >>> p.created_ts <= 1.7e9 and p.followers is not None
    True
    """

    def __init__(self, profiles: CresciProfiles | None = None):
        profiles = profiles or load_cresci_profiles()
        self._humans = profiles.humans
        self._fakes = profiles.fakes
        self._reference_ts = profiles.reference_ts

    def organic(self, rng: random.Random, first_active_ts: float) -> Profile:
        """A human profile whose account was created some time before its first activity here.

        The account's age when first seen is a uniform share of the sampled human's age when observed: most
        organic accounts are years old, and a few percent are days old — new users exist and must not be flagged.
        """
        row = rng.choice(self._humans)
        age = rng.random() * (self._reference_ts - row.created_ts)
        return _profile(row, first_active_ts - age)

    def human(self, rng: random.Random, created_ts: float) -> Profile:
        """A human's counts on an account created at ``created_ts`` (a newcomer, e.g. one who joined with friends)."""
        return _profile(rng.choice(self._humans), created_ts)

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
    """Give every event its actor's organic profile (one per actor, fixed over the stream).

    The account's first activity is its first appearance as actor or target; profiles are drawn in order of first
    appearance, so the result is deterministic for a seed.
    """
    events = list(events)
    first_seen: dict[str, float] = {}
    for event in events:
        first_seen.setdefault(event.actor, event.ts)
        first_seen.setdefault(event.target, event.ts)
    profiles = {account: sampler.organic(rng, ts) for account, ts in first_seen.items()}
    return [replace(event, actor_profile=profiles[event.actor]) for event in events]
