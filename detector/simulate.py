"""``detector simulate``: organic traffic with injected schemes, to a JSONL file and/or the interactions topic.

The function API is what the demo calls: :func:`detector.simulation.generate` builds ``(events, truth)``,
:func:`write_events` / :func:`write_truth` save them, and :func:`publish` sends the events to Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Iterable
from pathlib import Path

import orjson

from detector.core.events import Event
from detector.producers import start_producer
from detector.settings import Settings
from detector.simulation import BACKGROUNDS, SYNTHETIC, SimulationConfig, generate


def write_events(events: Iterable[Event], path: Path) -> int:
    """Write one JSON event per line; return how many."""
    count = 0
    with path.open("wb") as out:
        for event in events:
            out.write(event.to_json() + b"\n")
            count += 1
    return count


def write_truth(truth: dict, path: Path) -> None:
    path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))


async def publish(events: Iterable[Event], settings: Settings) -> int:
    """Publish events in order to ``settings.interactions_topic``, keyed by actor; return how many.

    The producer is idempotent (a retried send is not duplicated) and waits for all in-sync replicas. Sends are
    queued without waiting and awaited together every ``settings.batch_size`` events, so the client batches them
    (``linger_ms``) instead of making one round trip per event. Keying by actor keeps each actor's events in order
    within a partition.
    """
    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka to publish to: set DETECTOR_KAFKA_BOOTSTRAP (or run `detector stack`)")
    producer = await start_producer(settings.kafka_bootstrap, linger_ms=20)
    sent = 0
    try:
        pending: list[asyncio.Future] = []
        for event in events:
            pending.append(await producer.send(settings.interactions_topic, event.to_json(), key=event.actor.encode()))
            if len(pending) >= settings.batch_size:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending.clear()
        await asyncio.gather(*pending)
        sent += len(pending)
    finally:
        await producer.stop()
    return sent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimulationConfig()
    parser.add_argument("--out", type=Path, help="write the events here, one JSON object per line")
    parser.add_argument("--truth", type=Path, help="write the ground truth (injected schemes) here as JSON")
    parser.add_argument("--background", choices=BACKGROUNDS, default=SYNTHETIC)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--rings", type=int, default=defaults.rings, help="farming rings to inject")
    parser.add_argument("--bursts", type=int, default=defaults.bursts, help="bought follower bursts to inject")
    parser.add_argument("--days", type=float, default=defaults.days, help="span of the synthetic background")
    parser.add_argument("--accounts", type=int, default=defaults.accounts, help="accounts of the synthetic background")
    parser.add_argument(
        "--activity",
        type=_positive,
        default=defaults.activity,
        help="boosts an account starts per day on average, answers not included (synthetic)",
    )
    parser.add_argument(
        "--circles",
        type=_not_negative,
        default=defaults.circles,
        help="friend circles in the synthetic background: 3-6 accounts boosting each other at once, must not be "
        "flagged (default: none)",
    )
    add_background_variant_arguments(parser)
    add_ring_variant_arguments(parser)
    parser.add_argument(
        "--publish", action="store_true", help="also publish to the interactions topic (DETECTOR_KAFKA_BOOTSTRAP)"
    )


def add_background_variant_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quiet-share`` and ``--signup-waves``, for ``detector simulate`` and ``detector eval``."""
    parser.add_argument(
        "--quiet-share",
        type=_share,
        default=SimulationConfig().quiet_share,
        metavar="SHARE",
        help="share of the synthetic background's accounts (0-1) that fall silent for 30-45 days, a third of them "
        "with old friends they trade with as a circle on their return, must not be flagged (default: none)",
    )
    parser.add_argument(
        "--signup-waves",
        type=_not_negative,
        default=SimulationConfig().signup_waves,
        metavar="N",
        help="popular accounts of the synthetic background whose fans sign up in droves to follow them: 50-300 "
        "newcomers within hours to a day, each following minutes after signing up, must not be flagged (default: 0)",
    )


#: The ``SimulationConfig`` fields that :func:`add_background_variant_arguments` and
#: :func:`add_ring_variant_arguments` set, named alike in ``detector eval``'s config.
VARIANT_FIELDS = (
    "quiet_share",
    "signup_waves",
    "reciprocal_rings",
    "answered_pairs",
    "pre_aged_rings",
    "idle_hijacked_rings",
    "shared_fans",
    "shared_fans_age_days",
    "on_demand_bursts",
)


def variant_options(source: object) -> dict[str, float]:
    """The :data:`VARIANT_FIELDS` of parsed arguments or of a config that has them, by name."""
    return {name: getattr(source, name) for name in VARIANT_FIELDS}


def add_ring_variant_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that make a share of the rings hide in other ways (``SimulationConfig``'s), for ``detector
    simulate`` and ``detector eval``."""
    defaults = SimulationConfig()
    parser.add_argument(
        "--reciprocal-rings",
        type=_share,
        default=defaults.reciprocal_rings,
        metavar="SHARE",
        help="share of the rings (0-1) trading tit for tat, every boost inside answered minutes to hours later (the "
        "rings are otherwise the same; by default each ordered pair trades or not on its own)",
    )
    parser.add_argument(
        "--answered-pairs",
        type=_share,
        default=defaults.answered_pairs,
        metavar="SHARE",
        help="of the tit-for-tat rings' one-way pairs, the share (0-1) that answer, each pair drawn once: a farm "
        "that answers some partners and not others to look less reciprocal (default: 1, all)",
    )
    parser.add_argument(
        "--pre-aged-rings",
        type=_share,
        default=defaults.pre_aged_rings,
        metavar="SHARE",
        help="share of the rings (0-1) whose members boost each other once, 46 to 60-90 days before trading, so "
        "their ties look old (the truth lists those boosts as the scheme's preparation_event_ids; the rings are "
        "otherwise the same)",
    )
    parser.add_argument(
        "--idle-hijacked-rings",
        type=_share,
        default=defaults.idle_hijacked_rings,
        metavar="SHARE",
        help="share of the rings (0-1) whose hijacked members are accounts that had not acted for 30 days or more "
        "(takeovers of abandoned accounts; the rings are otherwise the same)",
    )
    parser.add_argument(
        "--shared-fans",
        type=_not_negative,
        default=defaults.shared_fans,
        metavar="N",
        help="bought accounts per ring that each boost half its members, so that they share outside boosters as an "
        "organic community's members do (the truth lists them as the ring's helpers; default: none)",
    )
    parser.add_argument(
        "--shared-fans-age",
        dest="shared_fans_age_days",
        type=_not_negative_days,
        default=defaults.shared_fans_age_days,
        metavar="DAYS",
        help="create the shared fans this many days earlier (aged accounts a farm kept; default: 0, created in "
        "batches hours to weeks before the ring)",
    )
    parser.add_argument(
        "--on-demand-bursts",
        type=_share,
        default=defaults.on_demand_bursts,
        metavar="SHARE",
        help="share of the follower bursts (0-1) whose bought accounts are registered as the order runs, each a "
        "minute to an hour before its boost, as fans who sign up to follow someone (default: none; otherwise "
        "created in batches hours to weeks before)",
    )


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _not_negative_days(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"days, not negative, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    if not args.out and not args.publish:
        print("nothing to do: give --out and/or --publish", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if args.publish and not settings.kafka_bootstrap:
        print("--publish needs DETECTOR_KAFKA_BOOTSTRAP (e.g. from `detector stack`)", file=sys.stderr)
        return 2
    try:
        config = _simulation_config(args)
    except ValueError as invalid:  # options that do not fit together, e.g. circles woven into Bitcoin-Alpha
        print(f"detector simulate: {invalid}", file=sys.stderr)
        return 2
    events, truth = generate(config)
    if args.out:
        write_events(events, args.out)
    if args.truth:
        write_truth(truth, args.truth)
    if args.publish:
        sent = asyncio.run(publish(events, settings))
        print(
            f"published {sent} events to {settings.interactions_topic} at {settings.kafka_bootstrap}", file=sys.stderr
        )
    schemes = truth["schemes"]
    rings = sum(1 for s in schemes if s["scheme"] == "farming_ring")
    circles, signups = truth["organic_circles"], truth["organic_signups"]
    print(
        f"{len(events)} events, {rings} rings and {len(schemes) - rings} follower bursts injected "
        f"({sum(len(s['event_ids']) for s in schemes)} scheme events)"
        + (f"; {len(circles)} friend circles in the background (organic)" if circles else "")
        + (f"; {len(signups)} signup waves in the background (organic)" if signups else ""),
        file=sys.stderr,
    )
    return 0


def _simulation_config(args: argparse.Namespace) -> SimulationConfig:
    """The ``SimulationConfig`` the command line asks for (``ValueError`` when its options do not fit together)."""
    return SimulationConfig(
        background=args.background,
        seed=args.seed,
        rings=args.rings,
        bursts=args.bursts,
        days=args.days,
        accounts=args.accounts,
        activity=args.activity,
        circles=args.circles,
        **variant_options(args),
    )
