"""Synthetic organic traffic: the background the demo and the tests inject schemes into (no real data needed).

What makes it hard for a detector, on purpose:

* heavy tails — a few accounts act a lot and a few are very popular (Pareto), so high volume alone is normal;
* communities — most interactions stay inside one, so dense clusters with triangles are normal;
* organic reciprocity — a good share of boosts are answered after hours to days, so mutual pairs are normal;
* new users keep joining, a few percent of accounts are days old, so youth alone is normal;
* viral bursts — a popular account suddenly gains hundreds of followers from aged, unrelated accounts, the
  must-not-flag twin of bought follower growth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from detector.core.events import Event
from detector.simulation.clock import DAY, HOUR, PEAK_ACTIVITY, accept_time, log_uniform
from detector.simulation.profiles import ProfileSampler

#: Kinds of an organic boost and their shares; unfollows are drawn separately.
KIND_MIX: tuple[tuple[str, float], ...] = (
    ("like", 0.35),
    ("follow", 0.25),
    ("endorse", 0.15),
    ("comment", 0.15),
    ("share", 0.10),
)


@dataclass(frozen=True)
class OrganicConfig:
    """Shape of the synthetic background.

    ``actions_per_day`` is the mean over accounts; individual rates are Pareto-distributed around it.
    """

    accounts: int = 1000
    days: float = 30.0
    start_ts: float = 1_700_000_000.0  # 2023-11-14
    community_size: int = 40
    actions_per_day: float = 0.5
    in_community: float = 0.8  # share of boosts aimed inside the actor's community
    reciprocity: tuple[float, float] = (0.45, 0.15)  # chance a boost is answered: inside / across communities
    unfollow_rate: float = 0.03  # chance that an action is an unfollow of someone the actor follows
    joiners: float = 0.1  # share of accounts that join during the span
    viral_bursts: int | None = None  # default: one per 15 days


@dataclass
class OrganicTraffic:
    events: list[Event]
    accounts: list[str]
    #: Organic bursts (must not be flagged): ``{account, start_ts, end_ts, followers}``.
    viral: list[dict] = field(default_factory=list)


@dataclass
class _Account:
    name: str
    community: int
    activity: float  # actions per day
    popularity: float
    joined_ts: float


def generate_organic(
    config: OrganicConfig, rng: random.Random, sampler: ProfileSampler | None = None
) -> OrganicTraffic:
    """Generate organic traffic, time-ordered, every event with its actor's profile, ids ``syn-<n>``.

    Examples
    --------
    >>> traffic = generate_organic(OrganicConfig(accounts=60, days=3), random.Random(7))
    >>> len(traffic.events) > 50, all(e.actor_profile is not None for e in traffic.events)
    (True, True)
    """
    sampler = sampler or ProfileSampler()
    end_ts = config.start_ts + config.days * DAY
    accounts = _make_accounts(config, rng)
    communities: dict[int, list[_Account]] = {}
    for account in accounts:
        communities.setdefault(account.community, []).append(account)
    everyone = _Picker(accounts)
    pickers = {c: _Picker(members) for c, members in communities.items()}

    raw: list[tuple[float, str, str, str]] = []  # (ts, kind, actor, target)
    # actor -> followed account -> when (a dict, not a set: its order is deterministic).
    follows: dict[str, dict[str, float]] = {}

    def emit(ts: float, kind: str, actor: str, target: str) -> None:
        if kind == "follow":
            followed = follows.setdefault(actor, {})
            if target in followed:
                kind = "like"  # one cannot follow twice; the interest shows as a like instead
            else:
                followed[target] = ts
        raw.append((ts, kind, actor, target))

    kinds, shares = zip(*KIND_MIX, strict=True)
    for account in accounts:
        # A Poisson process at the peak rate, thinned by the daily cycle.
        rate = account.activity * PEAK_ACTIVITY / DAY
        ts = account.joined_ts
        while True:
            ts += rng.expovariate(rate)
            if ts >= end_ts:
                break
            if not accept_time(rng, ts):
                continue
            if rng.random() < config.unfollow_rate:
                # Replies are generated ahead of time, so only follows already made by now can be undone.
                followed = follows.get(account.name, {})
                undoable = [name for name, follow_ts in followed.items() if follow_ts < ts]
                if undoable:
                    target = rng.choice(undoable)
                    del followed[target]
                    raw.append((ts, "unfollow", account.name, target))
                    continue
            inside = rng.random() < config.in_community
            target = (pickers[account.community] if inside else everyone).pick(rng, account.name, ts)
            if target is None:
                continue
            kind = rng.choices(kinds, shares)[0]
            emit(ts, kind, account.name, target.name)
            same = target.community == account.community
            if rng.random() < config.reciprocity[0 if same else 1]:
                # Answered after hours to days (log-normal, median ~8 h).
                reply_ts = ts + min(rng.lognormvariate(math.log(8 * HOUR), 1.2), 20 * DAY)
                if reply_ts < end_ts:
                    emit(reply_ts, kind, target.name, account.name)

    viral = _viral_bursts(config, rng, accounts, end_ts, emit)
    # Sort by time; the generation order breaks (improbable) ties, so the order is deterministic.
    raw.sort(key=lambda item: item[0])
    profiles = {a.name: sampler.organic(rng, a.joined_ts) for a in accounts}
    # Whole seconds, the resolution of platform logs (and of the injected events).
    events = [
        Event(ts=float(round(ts)), kind=kind, actor=actor, target=target, id=f"syn-{n}", actor_profile=profiles[actor])
        for n, (ts, kind, actor, target) in enumerate(raw)
    ]
    return OrganicTraffic(events, [a.name for a in accounts], viral)


def _make_accounts(config: OrganicConfig, rng: random.Random) -> list[_Account]:
    n_communities = max(1, round(config.accounts / config.community_size))
    numbers = rng.sample(range(1, 10 * config.accounts), config.accounts)  # ids like u4821, not in creation order
    # Pareto(1.5) has mean 3: scale so the mean activity is `actions_per_day`; cap the extreme tail.
    accounts = []
    for number in numbers:
        joined = config.start_ts
        if rng.random() < config.joiners:
            joined += rng.random() * config.days * DAY
        accounts.append(
            _Account(
                name=f"u{number}",
                community=rng.randrange(n_communities),
                activity=min(rng.paretovariate(1.5) / 3.0, 40.0) * config.actions_per_day,
                popularity=min(rng.paretovariate(1.2), 1000.0),
                joined_ts=joined,
            )
        )
    return accounts


class _Picker:
    """Draws a target in proportion to popularity (inverse-CDF over cumulative weights)."""

    def __init__(self, accounts: Sequence[_Account]):
        self.accounts = accounts
        self.cumulative: list[float] = []
        total = 0.0
        for account in accounts:
            total += account.popularity
            self.cumulative.append(total)

    def pick(self, rng: random.Random, actor: str, ts: float, tries: int = 5) -> _Account | None:
        """A target other than ``actor`` who has joined by ``ts``; ``None`` when the draws keep missing."""
        for _ in range(tries):
            target = rng.choices(self.accounts, cum_weights=self.cumulative)[0]
            if target.name != actor and target.joined_ts <= ts:
                return target
        return None


def _viral_bursts(
    config: OrganicConfig,
    rng: random.Random,
    accounts: list[_Account],
    end_ts: float,
    emit: Callable[[float, str, str, str], None],
) -> list[dict]:
    """A popular account goes viral: hundreds of aged accounts from everywhere follow it within hours, each on its
    own (no batches, no lockstep), with a decaying rate."""
    count = config.viral_bursts if config.viral_bursts is not None else max(1, round(config.days / 15))
    popular = sorted(accounts, key=lambda a: (-a.popularity, a.name))[:20]
    out = []
    for account in rng.sample(popular, min(count, len(popular))):
        start = config.start_ts + rng.uniform(0.1, 0.85) * config.days * DAY
        decay = log_uniform(rng, 2 * HOUR, 12 * HOUR)
        # Established accounts: on the platform since the start (or joined a week before), not fresh sign-ups.
        aged = [
            a
            for a in accounts
            if (a.joined_ts == config.start_ts or a.joined_ts < start - 7 * DAY) and a.name != account.name
        ]
        fans = rng.sample(aged, min(len(aged), rng.randint(150, 600), len(accounts) // 2))
        times = [t for t in (start + min(rng.expovariate(1 / decay), 5 * decay) for _ in fans) if t < end_ts]
        for ts, fan in zip(times, fans, strict=False):
            emit(ts, "follow", fan.name, account.name)
        if times:
            out.append({"account": account.name, "start_ts": start, "end_ts": max(times), "followers": len(times)})
    return out
