"""Scheme injectors: farming rings and bought follower bursts, with their ground truth.

Each scheme is described by a *shape* (what kind of ring or burst) and placed into an organic background by
:func:`inject`, which returns the merged stream and one ground-truth record per scheme::

    {"scheme_id", "scheme": "farming_ring" | "follower_growth",
     "accounts":  ring members, or the burst's beneficiaries (who paid for the followers),
     "helpers":   the bought follower accounts (neither positives nor negatives in the evaluation),
     "side_targets": other accounts the bought followers boosted, too few times to be a real burst (ignored too),
     "start_ts", "end_ts", "shape": {...}, "event_ids": [...]}

The schemes are built to hide the way real ones do: rings use hijacked accounts with organic history, trade
slowly and out of step over weeks, and spread camouflage boosts to popular organic accounts; bursts use any
boost kind the background uses.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass

from msgspec.structs import replace

from detector.core.events import BOOST_KINDS, Event, Profile
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH
from detector.simulation.background import BackgroundIndex, IdAllocator, id_prefix
from detector.simulation.clock import DAY, HOUR, MINUTE, WEEK, log_uniform
from detector.simulation.profiles import SIGNUP_LAG, ProfileSampler, batch_creation_times

MEMBER_TYPES = ("fresh", "hijacked", "mixed")
PACES = ("hours", "days", "weeks")
#: A side target of a follower burst counts as a beneficiary once it gets this many bought boosts.
MIN_BURST = 50
#: Hijacked accounts and established beneficiaries need this much organic history before the scheme.
MIN_HISTORY = 3
#: An ``idle_hijacked`` ring takes over accounts that have not acted for this many days, the engine's dormancy.
IDLE_DAYS = 30.0
ESTABLISHED_HISTORY = 10
#: "new" beneficiaries: first seen at most this long before the burst, with at most NEW_MAX_HISTORY events.
NEW_ACCOUNT_AGE = 90 * DAY
NEW_MAX_HISTORY = 5
CAMOUFLAGE_POOL = 25
#: A pre-aged ring's preparation ends this many days before it trades, so its ties are older than the 45 days an
#: old-ties feature would count (docs/detection.md, *Old ties*).
PRE_AGED_MIN_DAYS = 46.0


@dataclass(frozen=True)
class RingShape:
    """A reciprocal-boost farming ring.

    ``pair_prob`` is the chance that an ordered pair of members trades at all (a ring is not always a full
    clique); every member still gets at least one mutual partner, since trading is what a ring is for.
    ``boosts_per_pair`` is the mean number of boosts per trading pair (repeat boosts), ``camouflage`` the share of
    each member's boosts aimed at popular organic accounts (which do not answer). ``timing`` is ``desync`` (each
    boost at an independent random time in the window) or ``rounds`` (boosts clustered in a few sessions).
    ``reciprocal``: every boost inside the ring is answered, tit for tat (minutes to hours later, unless the pair
    already trades both ways), as "+K for +K" rings trade by definition; otherwise each ordered pair trades or
    not on its own. ``answered_pairs``: the share of the one-way pairs of a reciprocal ring that answer (each
    pair drawn once: a farm that answers some partners and not others, to look less reciprocal).
    ``shared_fans``: that many bought accounts (batch-created, like a burst's) each boost half the members (at least
    two) once, at random times in the window, so that the members share outside boosters as an organic community's
    do (an evasion of the ``shared_booster_share`` feature, docs/detection.md); they are the scheme's ``helpers``.
    ``shared_fans_age_days``: the fans' batches are created hours to weeks before that many days before the ring
    starts (0: before it starts), as a farm keeping aged accounts would.
    ``idle_hijacked``: hijacked members are drawn from accounts that last acted ``IDLE_DAYS`` or more before the
    ring starts (takeovers of abandoned accounts, as on Bitcoin-Alpha, where most accounts are idle most of the
    time), when the background holds enough of them; the record's ``idle_members`` says how many were at
    ``taken_over_ts`` (when the ring's window opens).
    ``pre_aged_days``: when more than 0, the members of each trading pair boost each other once, at a random time
    between ``PRE_AGED_MIN_DAYS`` and that many days before the ring starts (an evasion that makes their ties look
    old); those boosts are the scheme's ``preparation_event_ids``, outside its window, from
    ``preparation_start_ts``.
    """

    size: int = 8
    members: str = "fresh"
    window_s: float = 2 * DAY
    timing: str = "desync"
    pair_prob: float = 0.8
    boosts_per_pair: float = 1.5
    camouflage: float = 0.0
    kinds: tuple[str, ...] = ("endorse",)
    rating: tuple[int, int] = (5, 10)
    batch_created: bool = True
    reciprocal: bool = False
    answered_pairs: float = 1.0
    pre_aged_days: float = 0.0
    shared_fans: int = 0
    shared_fans_age_days: float = 0.0
    idle_hijacked: bool = False

    def __post_init__(self) -> None:
        _check(self.size >= 3, "a ring needs at least 3 members")
        _check(self.shared_fans >= 0, "shared_fans must not be negative")
        _check(self.shared_fans_age_days >= 0, "shared_fans_age_days must not be negative")
        _check(self.pre_aged_days == 0 or self.pre_aged_days > PRE_AGED_MIN_DAYS, "pre_aged_days: 0 or over 46")
        _check(self.members in MEMBER_TYPES, f"members must be one of {MEMBER_TYPES}")
        _check(self.timing in ("desync", "rounds"), "timing must be desync or rounds")
        _check(0 < self.pair_prob <= 1 and self.boosts_per_pair >= 1, "pair_prob in (0, 1], boosts_per_pair >= 1")
        _check(0 <= self.camouflage < 1, "camouflage must be in [0, 1)")
        _check(0 <= self.answered_pairs <= 1, "answered_pairs must be in [0, 1]")
        _check(bool(self.kinds) and set(self.kinds) <= BOOST_KINDS, "kinds must be boost kinds")
        _check(0 < self.rating[0] <= self.rating[1], "ratings must be positive")


@dataclass(frozen=True)
class BurstShape:
    """Bought follower growth: ``followers`` fresh, batch-created accounts boost one beneficiary within
    ``duration_s``. ``delivery`` is ``waves`` (each batch delivered in one session) or ``drip`` (spread out).
    The same accounts also boost ``side_targets`` other customers, each in lockstep with their main boost.
    ``beneficiary`` is ``established`` (with organic history) or ``new`` (a recently seen account). ``on_demand``:
    the farm registers each account as the order runs, seconds to an hour before its boost (``SIGNUP_LAG``, as a fan
    who signs up to follow someone), instead of drawing on batches made in advance."""

    followers: int = 200
    duration_s: float = 12 * HOUR
    delivery: str = "waves"
    kind: str = "follow"
    rating: tuple[int, int] = (5, 10)
    beneficiary: str = "established"
    side_targets: int = 2
    on_demand: bool = False

    def __post_init__(self) -> None:
        _check(self.followers >= 1 and self.side_targets >= 0, "followers >= 1, side_targets >= 0")
        _check(self.delivery in ("waves", "drip"), "delivery must be waves or drip")
        _check(self.kind in BOOST_KINDS, "kind must be a boost kind")
        _check(self.beneficiary in ("established", "new"), "beneficiary must be established or new")
        _check(0 < self.rating[0] <= self.rating[1], "ratings must be positive")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def pace(duration_s: float) -> str:
    """``hours`` (under a day), ``days`` (under a week) or ``weeks``.

    >>> pace(5 * HOUR), pace(3 * DAY), pace(3 * WEEK)
    ('hours', 'days', 'weeks')
    """
    return "hours" if duration_s < DAY else "days" if duration_s < WEEK else "weeks"


def random_ring_shape(
    rng: random.Random,
    *,
    members: str | None = None,
    speed: str | None = None,
    kinds: Sequence[tuple[str, ...]] = (("endorse",), ("like",), ("endorse", "like", "follow")),
) -> RingShape:
    """A ring shape from the ranges the evaluation covers; ``members`` and ``speed`` (a pace) can be fixed to
    stratify. Fast rings trade in rounds, slow ones out of step and more often per pair."""
    speed = speed or rng.choice(PACES)
    window = {"hours": (2 * HOUR, 20 * HOUR), "days": (DAY, 6 * DAY), "weeks": (WEEK, 5 * WEEK)}[speed]
    repeats = {"hours": 1.5, "days": 2.5, "weeks": 4.0}[speed]
    timing = {"hours": "rounds", "weeks": "desync"}.get(speed) or rng.choice(("rounds", "desync"))
    return RingShape(
        size=rng.randint(4, 25),
        members=members or rng.choice(MEMBER_TYPES),
        window_s=log_uniform(rng, *window),
        timing=timing,
        pair_prob=rng.uniform(0.5, 1.0),
        boosts_per_pair=rng.uniform(1.0, repeats),
        camouflage=rng.uniform(0.0, 0.6),
        kinds=rng.choice(kinds),
        rating=rng.choice(((5, 10), (1, 3))),
        batch_created=rng.random() < 0.7,
    )


def random_burst_shape(
    rng: random.Random, *, speed: str | None = None, kinds: Sequence[str] = ("follow", "like")
) -> BurstShape:
    """A follower-burst shape: 50..500 bought followers over hours (``speed="hours"``) or days."""
    speed = speed or rng.choice(PACES[:2])
    window = {"hours": (HOUR, 20 * HOUR), "days": (DAY, 5 * DAY)}[speed]
    return BurstShape(
        followers=rng.randint(50, 500),
        duration_s=log_uniform(rng, *window),
        delivery=rng.choice(("waves", "drip")),
        kind=rng.choice(kinds),
        rating=rng.choice(((5, 10), (1, 3))),
        beneficiary="established" if rng.random() < 0.7 else "new",
        side_targets=rng.randint(0, 3),
    )


def inject(
    background_events: Iterable[Event],
    schemes: Sequence[RingShape | BurstShape],
    rng: random.Random,
    *,
    protected: Collection[str] = (),
    sampler: ProfileSampler | None = None,
) -> tuple[list[Event], list[dict]]:
    """Inject ``schemes`` into a time-ordered organic stream; return the merged stream and the ground truth.

    Every event of the result gets a fresh id ``<prefix>-<position>`` in time order (the prefix of the background
    ids), so ids follow arrival order as on a real platform and say nothing about which events were injected.
    No account is a member or beneficiary of two schemes; ``protected`` accounts are never used.

    Examples
    --------
    >>> from detector.simulation.organic import OrganicConfig, generate_organic
    >>> background = generate_organic(OrganicConfig(accounts=200, days=10), random.Random(0)).events
    >>> events, truth = inject(background, [RingShape(size=5), BurstShape(followers=60)], random.Random(1))
    >>> [t["scheme"] for t in truth], len(truth[0]["accounts"]), len(truth[1]["helpers"])
    (['farming_ring', 'follower_growth'], 5, 60)
    """
    background = sorted(background_events, key=lambda e: e.ts)
    injector = _Injector(BackgroundIndex(background, protected), rng, sampler or ProfileSampler())
    truth = [injector.add(shape, f"s{i}") for i, shape in enumerate(schemes)]
    tagged = [(e, False) for e in background] + [(e, True) for e in injector.events]
    tagged.sort(key=lambda item: item[0].ts)  # stable: background first on equal times
    prefix = id_prefix(background)
    events, renamed = [], {}
    for position, (event, injected) in enumerate(tagged):
        new_id = f"{prefix}-{position}"
        if injected:
            renamed[event.id] = new_id
        events.append(replace(event, id=new_id))
    for record in truth:
        record["event_ids"] = [renamed[i] for i in record["event_ids"]]
        if "preparation_event_ids" in record:
            record["preparation_event_ids"] = [renamed[i] for i in record["preparation_event_ids"]]
    return events, truth


class _Injector:
    def __init__(self, background: BackgroundIndex, rng: random.Random, sampler: ProfileSampler):
        self.bg = background
        self.rng = rng
        self.sampler = sampler
        self.ids = IdAllocator(background.activity, rng)
        self.used: set[str] = set()  # members and beneficiaries so far (membership tests only, never iterated)
        self.events: list[Event] = []
        self._scheme_id = ""
        self._scheme_events: list[Event] = []
        self._preparation_events: list[Event] = []

    def add(self, shape: RingShape | BurstShape, scheme_id: str) -> dict:
        self._scheme_id, self._scheme_events, self._preparation_events = scheme_id, [], []
        record = self._ring(shape) if isinstance(shape, RingShape) else self._burst(shape)
        events = self._scheme_events
        prepared = self._preparation_events
        self.events.extend(events)
        self.events.extend(prepared)
        return {
            "scheme_id": scheme_id,
            "scheme": FARMING_RING if isinstance(shape, RingShape) else FOLLOWER_GROWTH,
            "accounts": record["accounts"],
            "helpers": record.get("helpers", []),
            "side_targets": record.get("side_targets", []),
            "start_ts": min(e.ts for e in events),
            "end_ts": max(e.ts for e in events),
            "shape": {**asdict(shape), **record.get("shape", {})},
            "event_ids": [e.id for e in events],
            **(
                {"preparation_event_ids": [e.id for e in prepared], "preparation_start_ts": min(e.ts for e in prepared)}
                if prepared
                else {}
            ),
        }

    def _emit(
        self,
        ts: float,
        kind: str,
        actor: str,
        target: str,
        profile: Profile,
        rating: tuple[int, int],
        rng: random.Random | None = None,
        preparation: bool = False,
    ) -> None:
        """Add one of the scheme's events, its rating drawn from ``rng`` (a random stream of its own, for events a
        variant adds, so the scheme's other events stay as they were); a ``preparation`` event goes outside the
        scheme's window."""
        weight = float((rng or self.rng).randint(*rating)) if kind == "rate" else 1.0
        into = self._preparation_events if preparation else self._scheme_events
        provisional_id = f"{self._scheme_id}/{'p' if preparation else ''}{len(into)}"  # inject() renames it
        # Whole seconds, as in both backgrounds: a finer resolution on injected events alone would give them away.
        into.append(Event(float(round(ts)), kind, actor, target, provisional_id, weight, None, profile))

    def _pick(self, pool: list[str], k: int, what: str) -> list[str]:
        pool = [a for a in pool if a not in self.used]
        if len(pool) < k:
            raise ValueError(f"background too small: {len(pool)} candidate {what} accounts, {k} needed")
        chosen = self.rng.sample(pool, k)
        self.used.update(chosen)
        return chosen

    # -- farming ring ----------------------------------------------------------------------------------------
    def _ring(self, shape: RingShape) -> dict:
        rng = self.rng
        start = self.bg.sample_start(rng, shape.window_s)
        n_hijacked = {"fresh": 0, "hijacked": shape.size, "mixed": rng.randint(1, shape.size - 1)}[shape.members]
        pool = self.bg.candidates(start, MIN_HISTORY)

        def idle(account: str) -> bool:
            return self.bg.last_acted(account, start) <= start - IDLE_DAYS * DAY

        if shape.idle_hijacked:
            abandoned = [a for a in pool if idle(a)]
            pool = abandoned if len(set(abandoned) - self.used) >= n_hijacked else pool
        hijacked = self._pick(pool, n_hijacked, "hijackable")
        profiles = {a: self.bg.profiles[a] for a in hijacked}
        fresh = [self.ids.new() for _ in range(shape.size - n_hijacked)]
        if shape.batch_created and fresh:
            created = [ts for batch in batch_creation_times(rng, len(fresh), start) for ts in batch]
        else:
            created = [start - log_uniform(rng, HOUR, 60 * DAY) for _ in fresh]
        profiles.update({a: self.sampler.fake(rng, ts) for a, ts in zip(fresh, created, strict=True)})
        members = hijacked + fresh
        rng.shuffle(members)

        pairs = {(a, b): None for a in members for b in members if a != b and rng.random() < shape.pair_prob}
        for a in members:
            if not any((a, b) in pairs and (b, a) in pairs for b in members):
                b = rng.choice([m for m in members if m != a])
                pairs[(a, b)] = pairs[(b, a)] = None
        boosts = []
        for pair in pairs:
            boosts.extend([pair] * (1 + _geometric(rng, shape.boosts_per_pair - 1.0)))
        member_set = frozenset(members)
        camouflage_pool = [a for a in self.bg.popular(start, CAMOUFLAGE_POOL + shape.size) if a not in member_set]
        camouflage_pool = camouflage_pool[:CAMOUFLAGE_POOL]
        if shape.camouflage and camouflage_pool:
            for a in members:
                own = sum(1 for actor, _ in boosts if actor == a)
                extra = round(own * shape.camouflage / (1 - shape.camouflage))
                boosts.extend((a, rng.choice(camouflage_pool)) for _ in range(extra))

        clock = _RingClock(rng, start, shape)
        followed: set[tuple[str, str]] = set()
        traded: list[tuple[float, str, str, str]] = []
        for actor, target in boosts:
            kind = _follow_once(rng.choice(shape.kinds), (actor, target), followed, shape.kinds, rng)
            if kind is None:
                continue
            ts = clock.next()
            self._emit(ts, kind, actor, target, profiles[actor], shape.rating)
            if target in member_set:
                traded.append((ts, kind, actor, target))
        if shape.reciprocal:
            self._answer(shape, start, traded, pairs, profiles, followed)
        if shape.pre_aged_days:
            self._pre_age(shape, start, pairs, profiles)
        return {
            "accounts": members,
            "helpers": self._share_fans(shape, start, members) if shape.shared_fans else [],
            "shape": {
                "hijacked": sorted(hijacked),
                "camouflage_targets": camouflage_pool,
                **({"idle_members": sum(map(idle, hijacked)), "taken_over_ts": start} if shape.idle_hijacked else {}),
            },
        }

    def _answer(
        self,
        shape: RingShape,
        start: float,
        traded: list[tuple[float, str, str, str]],
        pairs: dict[tuple[str, str], None],
        profiles: dict[str, Profile],
        followed: set[tuple[str, str]],
    ) -> None:
        """Tit for tat: each boost inside the ring that its target does not already return on its own is answered,
        one minute to six hours later, in kind (a follow already given becomes another kind, or is not repeated);
        with ``shape.answered_pairs`` under 1, only by that share of the one-way pairs, drawn from a stream of
        their own (the answers' times and kinds are those of the same ring answering every pair)."""
        rng = random.Random(f"answer-{self._scheme_id}-{start}")
        one_way = sorted({(actor, target) for _, _, actor, target in traded if (target, actor) not in pairs})
        draw = random.Random(f"answered-pairs-{self._scheme_id}-{start}")
        answering = {pair for pair in one_way if shape.answered_pairs == 1.0 or draw.random() < shape.answered_pairs}
        for ts, traded_kind, actor, target in traded:
            if (target, actor) in pairs:
                continue
            kind = _follow_once(traded_kind, (target, actor), followed, shape.kinds, rng)
            if kind is None:
                continue
            delay = log_uniform(rng, MINUTE, 6 * HOUR)
            if (actor, target) in answering:
                self._emit(ts + delay, kind, target, actor, profiles[target], shape.rating, rng=rng)
            elif kind == "rate":
                rng.randint(*shape.rating)  # the rating it would have given: the other answers keep their draws

    def _pre_age(
        self, shape: RingShape, start: float, pairs: dict[tuple[str, str], None], profiles: dict[str, Profile]
    ) -> None:
        """One boost per trading pair, each at its own time ``PRE_AGED_MIN_DAYS`` to ``shape.pre_aged_days`` before
        the ring starts (spread out, as a farm would: all at once would be a ring session of its own), where both
        accounts existed then (a member created later cannot be pre-aged) and the background had begun (before it,
        the pair would trade in an empty world, alone and easy to see)."""
        rng = random.Random(f"pre-age-{self._scheme_id}-{start}")
        kind = next((k for k in shape.kinds if k != "follow"), shape.kinds[0])
        for a, b in sorted({tuple(sorted(pair)) for pair in pairs}):
            ts = start - rng.uniform(PRE_AGED_MIN_DAYS, shape.pre_aged_days) * DAY
            actor, target = (a, b) if rng.random() < 0.5 else (b, a)
            if ts >= self.bg.first_ts and all((profiles[m].created_ts or -math.inf) <= ts for m in (a, b)):
                self._emit(ts, kind, actor, target, profiles[actor], shape.rating, rng=rng, preparation=True)

    def _share_fans(self, shape: RingShape, start: float, members: list[str]) -> list[str]:
        """``shape.shared_fans`` bought accounts boosting half the members each; from a random stream of their own
        (their ids too), so the ring's own events stay as they were (a later new account drawn to one of their ids is
        drawn again, and may get another name)."""
        rng = random.Random(f"shared-fans-{self._scheme_id}-{start}")
        fans = []
        for batch in batch_creation_times(rng, shape.shared_fans, start - shape.shared_fans_age_days * DAY):
            for created in batch:
                fan = self.ids.new(rng)
                fans.append(fan)
                profile = self.sampler.fake(rng, created)
                for member in rng.sample(members, max(2, len(members) // 2)):
                    kind = rng.choice(shape.kinds)
                    self._emit(start + rng.random() * shape.window_s, kind, fan, member, profile, shape.rating, rng=rng)
        return fans

    # -- follower burst --------------------------------------------------------------------------------------
    def _burst(self, shape: BurstShape) -> dict:
        rng = self.rng
        start = self.bg.sample_start(rng, shape.duration_s)
        if shape.beneficiary == "established":
            (beneficiary,) = self._pick(self.bg.candidates(start, ESTABLISHED_HISTORY), 1, "established")
        else:
            pool = self.bg.candidates(start, 1, NEW_MAX_HISTORY, seen_since=start - NEW_ACCOUNT_AGE)
            # With no recently seen account in the background, the customer is a brand-new account.
            (beneficiary,) = self._pick(pool, 1, "new") if pool else (self.ids.new(),)
        others = self._pick(self.bg.candidates(start, MIN_HISTORY), shape.side_targets, "side target")
        lockstep_share = {t: rng.uniform(0.1, 0.9) for t in others}
        received = dict.fromkeys(others, 0)

        helpers: list[str] = []
        # Its own random stream: registering on demand leaves every other draw as it was.
        registering = random.Random(f"on-demand-{self._scheme_id}-{start}")
        session = min(30 * MINUTE, shape.duration_s / 4)
        for batch in batch_creation_times(rng, shape.followers, start):
            # waves: the whole batch is delivered in one session; drip: anywhere in the window.
            begin, length = start, shape.duration_s
            if shape.delivery == "waves":
                begin, length = start + rng.random() * (shape.duration_s - session), session
            for created in batch:
                fake = self.ids.new()
                helpers.append(fake)
                profile = self.sampler.fake(rng, created)
                ts = begin + rng.random() * length
                if shape.on_demand:
                    profile = replace(profile, created_ts=float(round(ts - log_uniform(registering, *SIGNUP_LAG))))
                self._emit(ts, shape.kind, fake, beneficiary, profile, shape.rating)
                for other in others:  # lockstep: the same session, seconds to minutes later
                    if rng.random() < lockstep_share[other]:
                        received[other] += 1
                        self._emit(ts + rng.uniform(5, 300), shape.kind, fake, other, profile, shape.rating)
        real = [t for t in others if received[t] >= MIN_BURST]
        return {
            "accounts": [beneficiary, *real],
            "helpers": helpers,
            "side_targets": [t for t in others if t not in real],
            "shape": {"side_received": received},
        }


def _follow_once(
    kind: str, pair: tuple[str, str], followed: set[tuple[str, str]], kinds: tuple[str, ...], rng: random.Random
) -> str | None:
    """The kind a pair's boost takes: a pair can follow only once, so a repeated follow becomes another of the ring's
    ``kinds``, or no boost at all when it has none. Records the follows given."""
    if kind == "follow" and pair in followed:
        non_follow = [k for k in kinds if k != "follow"]
        if not non_follow:
            return None
        kind = rng.choice(non_follow)
    if kind == "follow":
        followed.add(pair)
    return kind


def _geometric(rng: random.Random, mean: float) -> int:
    """Number of extra repeats, geometric with the given mean (0 when mean is 0)."""
    count = 0
    while rng.random() < mean / (1.0 + mean):
        count += 1
    return count


class _RingClock:
    """Boost times of a ring: independent uniform times (desync) or a few shared sessions (rounds)."""

    ROUND_SPACING = 3 * HOUR
    ROUND_LENGTH = 20 * MINUTE

    def __init__(self, rng: random.Random, start: float, shape: RingShape):
        self.rng = rng
        self.start = start
        self.window = shape.window_s
        self.rounds: list[float] = []
        if shape.timing == "rounds":
            n = max(2, min(12, round(shape.window_s / self.ROUND_SPACING)))
            span = max(shape.window_s - self.ROUND_LENGTH, 0.0)
            self.rounds = sorted(start + rng.random() * span for _ in range(n))

    def next(self) -> float:
        if self.rounds:
            return self.rng.choice(self.rounds) + self.rng.random() * min(self.ROUND_LENGTH, self.window)
        return self.start + self.rng.random() * self.window
