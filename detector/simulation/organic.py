"""Synthetic organic traffic: the background the demo and the tests inject schemes into (no real data needed).

What makes it hard for a detector, on purpose:

* heavy tails — a few accounts act a lot and a few are very popular (Pareto), so high volume alone is normal;
* communities — most interactions stay inside one, so dense clusters with triangles are normal;
* organic reciprocity — a good share of boosts are answered after hours to days, so mutual pairs are normal;
* new users keep joining, a few percent of accounts are days old, so youth alone is normal;
* viral bursts — a popular account suddenly gains hundreds of followers from aged, unrelated accounts, the
  must-not-flag twin of bought follower growth;
* signup waves (``signup_waves``, off by default) — a popular account brings its fans to the platform: tens to
  hundreds of people sign up within hours to a day, follow it minutes after signing up, and go on to live as
  newcomers do. Fresh, barely posted, following together: the must-not-flag twin of bought followers;
* quiet spells (``quiet_share``, off by default) — accounts fall silent for 30 to 45 days (followed at most, as
  they post nothing) and come back, some of them together with old friends from their community
  (``OrganicTraffic.reunions``; they trade as a circle on their return, :mod:`detector.simulation.circles`), as
  Bitcoin-Alpha's traders do: the must-not-flag twin of a ring of long-idle hijacked accounts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from detector.core.events import Event
from detector.simulation.clock import DAY, HOUR, PEAK_ACTIVITY, accept_time, log_uniform
from detector.simulation.profiles import SIGNUP_LAG, HumanAccount, ProfileSampler

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
    signup_waves: int = 0  # popular accounts whose fans sign up in droves to follow them
    quiet_share: float = 0.0  # share of the accounts there from the start that fall silent once, for 30-45 days


@dataclass
class OrganicTraffic:
    events: list[Event]
    accounts: list[str]
    #: Organic bursts (must not be flagged): ``{account, start_ts, end_ts, followers}``.
    viral: list[dict] = field(default_factory=list)
    #: Old friends back from a quiet spell together: ``{accounts, return_ts}``.
    reunions: list[dict] = field(default_factory=list)
    #: Who was silent when: ``account -> (from_ts, to_ts)``.
    quiet: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Organic growth from newcomers (must not be flagged): ``{account, start_ts, end_ts, followers, newcomers}``.
    signups: list[dict] = field(default_factory=list)


@dataclass
class _Account:
    name: str
    community: int
    activity: float  # actions per day
    popularity: float
    joined_ts: float


#: How long a quiet spell lasts, in days: at least the 30 after which the engine reads an account as returning.
QUIET_DAYS = (30.0, 45.0)
#: Share of the quiet accounts that fall silent, and come back, with old friends; how many friends go together.
QUIET_TOGETHER = 1 / 3
QUIET_GROUP = (3, 6)


def generate_organic(
    config: OrganicConfig,
    rng: random.Random,
    sampler: ProfileSampler | None = None,
    quiet_rng: random.Random | None = None,
    signup_rng: random.Random | None = None,
) -> OrganicTraffic:
    """Generate organic traffic, time-ordered, every event with its actor's profile, ids ``syn-<n>``.

    Quiet spells are drawn from ``quiet_rng`` (default: ``rng``) and only leave out what a silent account would have
    done, so that with a ``quiet_rng`` of its own everything else is drawn as without them. Signup waves and their
    newcomers' lives are drawn from ``signup_rng`` (default: ``rng``) after everything else, with the same effect.

    Examples
    --------
    >>> traffic = generate_organic(OrganicConfig(accounts=60, days=3), random.Random(7))
    >>> len(traffic.events) > 50, all(e.actor_profile is not None for e in traffic.events)
    (True, True)
    >>> quiet = generate_organic(OrganicConfig(accounts=300, days=60, quiet_share=0.3), random.Random(7))
    >>> back = quiet.reunions[0]
    >>> last_before = max(e.ts for e in quiet.events if e.actor in back["accounts"] and e.ts < back["return_ts"])
    >>> back["return_ts"] - last_before >= 30 * 86400
    True
    """
    sampler = sampler or ProfileSampler()
    end_ts = config.start_ts + config.days * DAY
    accounts = _make_accounts(config, rng)
    communities: dict[int, list[_Account]] = {}
    for account in accounts:
        communities.setdefault(account.community, []).append(account)
    everyone = _Picker(accounts)
    pickers = {c: _Picker(members) for c, members in communities.items()}
    spells, reunions = _quiet_spells(config, communities, quiet_rng or rng)

    raw: list[tuple[float, str, str, str]] = []  # (ts, kind, actor, target)
    # actor -> followed account -> when (a dict, not a set: its order is deterministic). What a quiet account would
    # have done is kept here too, so that the draws go on as without quiet spells; only its events are left out.
    follows: dict[str, dict[str, float]] = {}
    unmade: set[tuple[str, str]] = set()  # follows a quiet account did not make, and so cannot undo

    def quiet(actor: str, ts: float) -> bool:
        spell = spells.get(actor)
        return spell is not None and spell[0] <= ts < spell[1]

    def emit(ts: float, kind: str, actor: str, target: str) -> None:
        silent = quiet(actor, ts)
        if kind == "follow":
            followed = follows.setdefault(actor, {})
            if target in followed:
                kind = "like"  # one cannot follow twice; the interest shows as a like instead
            else:
                followed[target] = ts
                if silent:
                    unmade.add((actor, target))
        # A quiet account posts nothing to like, share or comment on; it can still be followed.
        if not silent and (kind == "follow" or not quiet(target, ts)):
            raw.append((ts, kind, actor, target))

    kinds, shares = zip(*KIND_MIX, strict=True)

    def live(account: _Account, rng: random.Random) -> None:
        """The account's actions from when it joined, and the answers they get."""
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
                    if not quiet(account.name, ts) and (account.name, target) not in unmade:
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

    for account in accounts:
        live(account, rng)
    signups = _signup_waves(config, accounts, signup_rng or rng, sampler, emit)
    for newcomer in signups.newcomers:
        live(newcomer, signup_rng or rng)
    viral = _viral_bursts(config, rng, accounts, end_ts, emit)
    # Sort by time; the generation order breaks (improbable) ties, so the order is deterministic.
    raw.sort(key=lambda item: item[0])
    humans = {a.name: sampler.organic(rng, a.joined_ts) for a in accounts} | signups.humans
    # Whole seconds, the resolution of platform logs (and of the injected events).
    events = []
    for n, (raw_ts, kind, actor, target) in enumerate(raw):
        ts = float(round(raw_ts))
        events.append(Event(ts, kind, actor, target, id=f"syn-{n}", actor_profile=humans[actor].at(ts)))
    names = [a.name for a in (*accounts, *signups.newcomers)]
    return OrganicTraffic(events, names, viral, reunions, spells, signups.records)


def _quiet_spells(
    config: OrganicConfig, communities: dict[int, list[_Account]], rng: random.Random
) -> tuple[dict[str, tuple[float, float]], list[dict]]:
    """Who falls silent when (``account -> (from_ts, to_ts)``), and the groups of old friends coming back together.

    A spell starts in the first half of the span, so that most quiet accounts come back within it. Groups are
    accounts of one community leaving within a day of each other and coming back within hours.
    """
    if config.quiet_share <= 0:
        return {}, []
    span_end = config.start_ts + config.days * DAY
    settled = {
        c: [a.name for a in members if a.joined_ts == config.start_ts] for c, members in sorted(communities.items())
    }
    quota = round(config.quiet_share * sum(len(names) for names in settled.values()))
    spells: dict[str, tuple[float, float]] = {}
    reunions = []

    def spell() -> tuple[float, float]:
        start = config.start_ts + rng.uniform(0.05, 0.5) * config.days * DAY
        return start, start + rng.uniform(*QUIET_DAYS) * DAY

    mean_group = sum(QUIET_GROUP) / 2
    for _ in range(round(quota * QUIET_TOGETHER / mean_group)):
        free = [name for name in settled[rng.choice(list(settled))] if name not in spells]
        size = rng.randint(*QUIET_GROUP)
        if len(free) < size:
            continue
        start, end = spell()
        group = rng.sample(free, size)
        for name in group:
            spells[name] = (start - rng.uniform(0, DAY), end + rng.uniform(0, 12 * HOUR))
        return_ts = max(spells[name][1] for name in group)
        if return_ts < span_end:
            reunions.append({"accounts": group, "return_ts": return_ts})
    alone = [name for names in settled.values() for name in names if name not in spells]
    for name in rng.sample(alone, min(len(alone), max(0, quota - len(spells)))):
        spells[name] = spell()
    return spells, reunions


def _make_accounts(config: OrganicConfig, rng: random.Random) -> list[_Account]:
    n_communities = max(1, round(config.accounts / config.community_size))
    numbers = rng.sample(range(1, 10 * config.accounts), config.accounts)  # ids like u4821, not in creation order
    accounts = []
    for number in numbers:
        joined = config.start_ts
        if rng.random() < config.joiners:
            joined += rng.random() * config.days * DAY
        accounts.append(
            _Account(
                name=f"u{number}",
                community=rng.randrange(n_communities),
                activity=_activity(rng, config),
                popularity=min(rng.paretovariate(1.2), 1000.0),
                joined_ts=joined,
            )
        )
    return accounts


def _activity(rng: random.Random, config: OrganicConfig) -> float:
    """An account's actions per day: Pareto(1.5), whose mean is 3, scaled so that the mean is ``actions_per_day``,
    with the extreme tail capped."""
    return min(rng.paretovariate(1.5) / 3.0, 40.0) * config.actions_per_day


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


#: Newcomers a signup wave brings.
SIGNUP_FANS = (50, 300)


@dataclass
class _SignupWaves:
    newcomers: list[_Account] = field(default_factory=list)
    humans: dict[str, HumanAccount] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)


def _signup_waves(
    config: OrganicConfig,
    accounts: list[_Account],
    rng: random.Random,
    sampler: ProfileSampler,
    emit: Callable[[float, str, str, str], None],
) -> _SignupWaves:
    """A popular account brings its fans: each signs up (a human account with nothing posted yet), follows it
    seconds to an hour later, at a rate decaying over hours to a day, then lives as a newcomer of the account's
    community (or, for half of them, of another)."""
    waves = _SignupWaves()
    if config.signup_waves <= 0:
        return waves
    end_ts = config.start_ts + config.days * DAY
    settled = [a for a in accounts if a.joined_ts == config.start_ts]
    popular = sorted(settled, key=lambda a: (-a.popularity, a.name))[:20]
    communities = sorted({a.community for a in accounts})
    taken = {a.name for a in accounts}
    # Ids like the others' (u4821), from a space at most a quarter full so that drawing an unused one ends quickly.
    id_space = max(10 * config.accounts, 4 * (config.accounts + config.signup_waves * SIGNUP_FANS[1]))
    for account in rng.sample(popular, min(config.signup_waves, len(popular))):
        start = config.start_ts + rng.uniform(0.1, 0.85) * config.days * DAY
        decay = log_uniform(rng, 2 * HOUR, DAY)
        follows = []
        for _ in range(rng.randint(*SIGNUP_FANS)):
            follow_ts = start + min(rng.expovariate(1 / decay), 5 * decay)
            if follow_ts >= end_ts:
                continue
            name = f"u{rng.randrange(1, id_space)}"
            while name in taken:
                name = f"u{rng.randrange(1, id_space)}"
            taken.add(name)
            community = account.community if rng.random() < 0.5 else rng.choice(communities)
            activity = _activity(rng, config)
            waves.newcomers.append(_Account(name, community, activity, popularity=1.0, joined_ts=follow_ts))
            waves.humans[name] = sampler.human(rng, follow_ts - log_uniform(rng, *SIGNUP_LAG))
            emit(follow_ts, "follow", name, account.name)
            follows.append(follow_ts)
        if follows:
            fans = [a.name for a in waves.newcomers[-len(follows) :]]
            waves.records.append(
                {
                    "account": account.name,
                    "start_ts": start,
                    "end_ts": max(follows),
                    "followers": len(fans),
                    "newcomers": fans,
                }
            )
    return waves
