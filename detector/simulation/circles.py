"""Friend circles: the must-not-flag twin of a small farming ring.

Three to six accounts meet (a group chat, a trade, a class joining the platform) and boost each other within hours
to days, most boosts answered within the hour. Nothing in the pairs' structure tells them from a small ring's first
trading: they are a tight, reciprocal, closed group. Bitcoin-Alpha has such circles (docs/detection.md, *Measured*:
the few organic accounts flagged there), the synthetic background has none unless they are woven in here.

Three kinds, as seen on Bitcoin-Alpha:

* established accounts with their own organic partners, who trade as a circle once;
* friends who sign up together, a day or less before they meet, and trade little outside the circle (a newcomer's
  few follows of established accounts);
* old friends back together from a quiet spell (the background's ``reunions``, when it has quiet spells), who
  trade as a circle on their return: the twin of a ring of long-idle hijacked accounts.

They are added with their own random stream, so a seeded simulation keeps the same scheme shapes with or without
them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from msgspec.structs import replace

from detector.core.events import Event, Profile
from detector.simulation.background import BackgroundIndex, IdAllocator, id_prefix
from detector.simulation.clock import DAY, HOUR, log_uniform
from detector.simulation.organic import KIND_MIX
from detector.simulation.profiles import HumanAccount, ProfileSampler

CIRCLE_SIZE = (3, 6)
#: Share of circles whose members sign up together.
SIGNED_UP_TOGETHER = 1 / 3
#: Established members need this much organic history before the circle meets.
MIN_HISTORY = 3
#: A pair of members boosts once, then again with this chance (and again ...); an answer follows with ANSWERED.
REPEAT = 0.3
ANSWERED = 0.9


@dataclass(frozen=True)
class _Circle:
    members: list[str]
    start_ts: float
    window_s: float
    pair_prob: float
    newcomers: bool


def add_circles(
    events: Sequence[Event],
    count: int,
    rng: random.Random,
    sampler: ProfileSampler | None = None,
    reunions: Sequence[dict] = (),
) -> tuple[list[Event], list[dict]]:
    """Weave ``count`` friend circles, and a circle for each of the background's ``reunions`` (``{accounts,
    return_ts}``), into a time-ordered organic stream; return the merged stream (ids renumbered in time order, with
    the stream's prefix) and one record per circle: ``{accounts, newcomers, returning, start_ts, end_ts}``.

    Examples
    --------
    >>> from detector.simulation.organic import OrganicConfig, generate_organic
    >>> background = generate_organic(OrganicConfig(accounts=200, days=10), random.Random(0)).events
    >>> events, circles = add_circles(background, 3, random.Random(1))
    >>> len(circles), all(3 <= len(c["accounts"]) <= 6 for c in circles), len(events) > len(background)
    (3, True, True)
    """
    if count <= 0 and not reunions:
        return list(events), []
    sampler = sampler or ProfileSampler()
    index = BackgroundIndex(events)
    ids = IdAllocator(index.activity, rng)
    profiles: dict[str, Profile | HumanAccount] = dict(index.profiles)
    used: set[str] = set()
    added: list[Event] = []
    records = []

    def weave(circle: _Circle, returning: bool) -> None:
        circle_events = _trade(circle, rng, index, profiles)
        added.extend(circle_events)
        records.append(
            {
                "accounts": circle.members,
                "newcomers": circle.newcomers,
                "returning": returning,
                "start_ts": min(e.ts for e in circle_events),
                "end_ts": max(e.ts for e in circle_events),
            }
        )

    for reunion in reunions:
        members = [a for a in reunion["accounts"] if a in profiles]
        if len(members) >= CIRCLE_SIZE[0]:
            used.update(members)
            weave(_Circle(members, reunion["return_ts"], *_pace(rng), newcomers=False), returning=True)
    for _ in range(count):
        start = index.sample_start(rng, 3 * DAY)
        size = rng.randint(*CIRCLE_SIZE)
        newcomers = rng.random() < SIGNED_UP_TOGETHER
        if newcomers:
            members = [ids.new() for _ in range(size)]
            for member in members:
                profiles[member] = sampler.human(rng, start - rng.random() * DAY)
        else:
            pool = [a for a in index.candidates(start, MIN_HISTORY) if a not in used]
            if len(pool) < size:
                continue  # too small a background for another circle of established accounts
            members = rng.sample(pool, size)
        used.update(members)
        weave(_Circle(members, start, *_pace(rng), newcomers), returning=False)
    merged = sorted([*events, *added], key=lambda e: e.ts)  # stable: the background first on equal times
    prefix = id_prefix(events)
    return [replace(e, id=f"{prefix}-{n}") for n, e in enumerate(merged)], records


def _pace(rng: random.Random) -> tuple[float, float]:
    """How long a circle trades (an hour to three days) and the share of its pairs that do."""
    return log_uniform(rng, HOUR, 3 * DAY), rng.uniform(0.6, 1.0)


def _trade(
    circle: _Circle, rng: random.Random, index: BackgroundIndex, profiles: dict[str, Profile | HumanAccount]
) -> list[Event]:
    """Every pair that trades boosts once or a few times, one way first, mostly answered within the hour."""
    kinds, shares = zip(*KIND_MIX, strict=True)
    out: list[Event] = []

    def emit(ts: float, kind: str, actor: str, target: str) -> None:
        ts = float(round(ts))
        profile = profiles[actor]
        if isinstance(profile, HumanAccount):  # a newcomer, whose profile grows from nothing
            profile = profile.at(ts)
        out.append(Event(ts, kind, actor, target, "circle", 1.0, None, profile))

    members = circle.members
    pairs = [(a, b) for i, a in enumerate(members) for b in members[i + 1 :] if rng.random() < circle.pair_prob]
    for a in members:  # everyone in the circle trades with someone in it
        if not any(a in pair for pair in pairs):
            pairs.append((a, rng.choice([m for m in members if m != a])))
    for first, second in pairs:
        if rng.random() < 0.5:
            first, second = second, first
        followed = False
        while True:
            ts = circle.start_ts + rng.random() * circle.window_s
            kind = rng.choices(kinds, shares)[0]
            if kind == "follow" and followed:
                kind = "like"  # one cannot follow twice
            followed |= kind == "follow"
            emit(ts, kind, first, second)
            if rng.random() < ANSWERED:
                emit(ts + min(rng.lognormvariate(math.log(HOUR), 1.0), circle.window_s), kind, second, first)
            if rng.random() >= REPEAT:
                break
    if circle.newcomers:
        # A newcomer looks around: it follows a few of the platform's popular accounts, which do not answer.
        popular = index.popular(circle.start_ts, 25)
        for member in circle.members:
            for target in rng.sample(popular, min(rng.randint(0, 3), len(popular))):
                emit(circle.start_ts + rng.random() * circle.window_s, "follow", member, target)
    return out
