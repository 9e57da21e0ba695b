"""One call from a seed to a labelled stream: a background, schemes of varied shapes injected, the ground truth."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace

from detector.core.events import Event
from detector.simulation.circles import add_circles
from detector.simulation.datasets import load_bitcoin_alpha
from detector.simulation.organic import OrganicConfig, generate_organic
from detector.simulation.profiles import ProfileSampler, attach_profiles
from detector.simulation.schemes import MEMBER_TYPES, PACES, inject, random_burst_shape, random_ring_shape

SYNTHETIC = "synthetic"
BITCOIN_ALPHA = "bitcoin-alpha"
BACKGROUNDS = (SYNTHETIC, BITCOIN_ALPHA)

#: Boost kinds per background. Bitcoin-Alpha only has ``rate``, so most injected boosts are ratings too and the
#: kind alone cannot give a scheme away; some use other kinds so that the detector is also tested on them.
_RING_KINDS = {
    SYNTHETIC: (("endorse",), ("like",), ("endorse", "like", "follow")),
    BITCOIN_ALPHA: (("rate",), ("rate",), ("rate",), ("rate", "endorse", "like", "follow")),
}
_BURST_KINDS = {SYNTHETIC: ("follow", "follow", "like"), BITCOIN_ALPHA: ("rate", "rate", "follow", "like")}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``days``, ``accounts``, ``activity`` (boosts an account starts per day, on average;
    answers and viral bursts come on top) and ``circles`` (friend circles, the must-not-flag twins of small rings)
    shape the synthetic background only (Bitcoin-Alpha is what it is: 24,186 ratings over five years).
    ``reciprocal_rings`` is the share of rings trading tit for tat, every boost inside answered
    (``RingShape.reciprocal``), by ``answered_pairs`` of their one-way pairs; ``pre_aged_rings`` the share whose
    members boost each other once, 46 to 60-90 days before trading, so that their ties look old
    (``RingShape.pre_aged_days``); ``idle_hijacked_rings`` the share whose hijacked members are taken over after 30
    days or more without acting (``RingShape.idle_hijacked``). All are drawn apart: the schemes are otherwise the
    same. ``shared_fans``: bought accounts per ring that each boost half its members (``RingShape.shared_fans``), so
    they share outside boosters, created ``shared_fans_age_days`` earlier than by default (aged accounts).
    ``on_demand_bursts``: the share of follower bursts whose bought accounts are registered as the order runs
    (``BurstShape.on_demand``).
    ``quiet_share``: the share of the synthetic background's accounts that fall silent for 30-45 days, a third of
    them with old friends they trade with on their return (``OrganicConfig.quiet_share``; those circles are in the
    truth's ``organic_circles``). ``signup_waves``: popular accounts of the synthetic background whose fans sign up in
    droves to follow them (``OrganicConfig.signup_waves``; in the truth's ``organic_signups``, must not be
    flagged)."""

    background: str = SYNTHETIC
    seed: int = 0
    rings: int = 3
    bursts: int = 2
    days: float = 30.0
    accounts: int = 1000
    activity: float = OrganicConfig.actions_per_day
    circles: int = 0
    reciprocal_rings: float = 0.0
    answered_pairs: float = 1.0
    pre_aged_rings: float = 0.0
    idle_hijacked_rings: float = 0.0
    shared_fans: int = 0
    shared_fans_age_days: float = 0.0
    on_demand_bursts: float = 0.0
    quiet_share: float = 0.0
    signup_waves: int = 0

    def __post_init__(self) -> None:
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}")
        if not (math.isfinite(self.activity) and self.activity > 0):
            raise ValueError("activity must be a positive number")
        if self.circles < 0 or (self.circles and self.background != SYNTHETIC):
            raise ValueError("circles: a number of friend circles in the synthetic background, not negative")
        for name in ("reciprocal_rings", "pre_aged_rings", "idle_hijacked_rings"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: a share of the rings, from 0 to 1")
        if not 0.0 <= self.on_demand_bursts <= 1.0:
            raise ValueError("on_demand_bursts: a share of the follower bursts, from 0 to 1")
        if self.shared_fans < 0:
            raise ValueError("shared_fans: a number of bought accounts per ring, not negative")
        if not (math.isfinite(self.shared_fans_age_days) and self.shared_fans_age_days >= 0):
            raise ValueError("shared_fans_age_days: how much older the shared fans are, in days, not negative")
        if not 0.0 <= self.quiet_share <= 1.0 or (self.quiet_share and self.background != SYNTHETIC):
            raise ValueError("quiet_share: a share of the synthetic background's accounts, from 0 to 1")
        if self.signup_waves < 0 or (self.signup_waves and self.background != SYNTHETIC):
            raise ValueError("signup_waves: a number of signup waves in the synthetic background, not negative")
        if not 0.0 <= self.answered_pairs <= 1.0:
            raise ValueError("answered_pairs: a share of a tit-for-tat ring's one-way pairs, from 0 to 1")


def generate(config: SimulationConfig) -> tuple[list[Event], dict]:
    """Build the background, inject ``config.rings`` rings and ``config.bursts`` follower bursts.

    Returns the time-ordered events and the truth: ``{"config", "schemes": [one record per scheme, see
    detector.simulation.schemes], "organic_bursts": [viral, must-not-flag bursts of the synthetic background],
    "organic_signups": [its signup waves, must not be flagged either],
    "organic_circles": [its friend circles, must not be flagged either],
    "benign": [accounts labelled benign (Bitcoin-Alpha), must not be flagged]}``. Deterministic for a seed.

    Shapes are stratified so that a few schemes already cover the grid: ring member types and paces rotate, burst
    paces alternate, each from a seed-dependent offset.

    Examples
    --------
    >>> events, truth = generate(SimulationConfig(seed=1, rings=1, bursts=1, days=5, accounts=150))
    >>> [s["scheme"] for s in truth["schemes"]], events == generate(SimulationConfig(seed=1, rings=1, bursts=1,
    ...     days=5, accounts=150))[0]
    (['farming_ring', 'follower_growth'], True)
    """
    rng = random.Random(config.seed)
    sampler = ProfileSampler()
    if config.background == SYNTHETIC:
        organic = OrganicConfig(
            accounts=config.accounts,
            days=config.days,
            actions_per_day=config.activity,
            quiet_share=config.quiet_share,
            signup_waves=config.signup_waves,
        )
        # Their own random streams: the same seed injects the same scheme shapes with or without quiet spells,
        # signup waves and circles.
        traffic = generate_organic(
            organic,
            rng,
            sampler,
            quiet_rng=random.Random(f"quiet-{config.seed}"),
            signup_rng=random.Random(f"signup-{config.seed}"),
        )
        circle_rng = random.Random(f"circles-{config.seed}")
        background, circles = add_circles(traffic.events, config.circles, circle_rng, sampler, traffic.reunions)
        labels, benign, viral, signups = {}, frozenset(), traffic.viral, traffic.signups
    else:
        stream = load_bitcoin_alpha()
        background, labels, benign, viral = (
            attach_profiles(stream.events, rng, sampler),
            stream.labels,
            stream.benign,
            [],
        )
        circles, signups = [], []
    offset = rng.randrange(6)
    shapes = [
        random_ring_shape(
            rng,
            members=MEMBER_TYPES[(i + offset) % 3],
            speed=PACES[(i // 3 + offset) % 3],
            kinds=_RING_KINDS[config.background],
        )
        for i in range(config.rings)
    ]
    # Their own random streams too: variants leave every other draw as it was.
    tit_for_tat, pre_aging = random.Random(f"reciprocal-{config.seed}"), random.Random(f"pre-aged-{config.seed}")
    shapes = [
        replace(shape, reciprocal=True, answered_pairs=config.answered_pairs)
        if tit_for_tat.random() < config.reciprocal_rings
        else shape
        for shape in shapes
    ]
    shapes = [
        replace(shape, pre_aged_days=pre_aging.uniform(60, 90)) if pre_aging.random() < config.pre_aged_rings else shape
        for shape in shapes
    ]
    abandoned = random.Random(f"idle-hijacked-{config.seed}")
    shapes = [
        replace(shape, idle_hijacked=True) if abandoned.random() < config.idle_hijacked_rings else shape
        for shape in shapes
    ]
    fans = {"shared_fans": config.shared_fans, "shared_fans_age_days": config.shared_fans_age_days}
    registered = random.Random(f"on-demand-{config.seed}")
    shapes = [replace(shape, **fans) for shape in shapes] + [
        replace(shape, on_demand=True) if registered.random() < config.on_demand_bursts else shape
        for shape in (
            random_burst_shape(rng, speed=PACES[(j + offset) % 2], kinds=_BURST_KINDS[config.background])
            for j in range(config.bursts)
        )
    ]
    events, schemes = inject(background, shapes, rng, protected=labels, sampler=sampler)
    truth = {
        "config": asdict(config),
        "schemes": schemes,
        "organic_bursts": viral,
        "organic_signups": signups,
        "organic_circles": circles,
        "benign": sorted(benign),
    }
    return events, truth
