"""``detector worker``: run the Faust stream worker against the Kafka and Redis named by the settings."""

from __future__ import annotations

import argparse
import asyncio
from typing import NoReturn

import faust

from detector.settings import Settings
from streams import topics
from streams.app import DEFAULT_CHECKPOINT_INTERVAL_S, create_app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default="info", help="Faust/worker log level (default: info)")
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=DEFAULT_CHECKPOINT_INTERVAL_S,
        help="seconds between engine checkpoints; offsets are committed only up to the last one",
    )


def run(args: argparse.Namespace) -> NoReturn:
    settings = Settings.from_env()
    if not settings.kafka_bootstrap or not settings.redis_url:
        raise SystemExit("detector worker: set DETECTOR_KAFKA_BOOTSTRAP and DETECTOR_REDIS_URL")
    asyncio.run(topics.ensure(settings))
    app = create_app(settings, checkpoint_interval_s=args.checkpoint_interval)
    # Runs until SIGTERM/SIGINT, then exits the process itself (non-zero after a crash).
    faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()
