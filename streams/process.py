"""Run ``detector worker`` as a child process and tell when it has consumed its input (demo, tests, benchmarks).

"Consumed" means the worker's committed offsets reached the end of every interactions partition. Offsets are
committed only behind a checkpoint (streams/detection.py), so by then every event is scored, every case and
alert written, and the state is on disk.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from detector.settings import Settings
from detector.stack.process import ManagedProcess, StackError


def worker_process(settings: Settings, log_path: Path, *, checkpoint_interval_s: float = 1.0) -> ManagedProcess:
    """A ``detector worker`` child configured by ``settings`` (through the environment, as in production)."""
    argv = [
        sys.executable,
        "-m",
        "detector.cli",
        "worker",
        "--checkpoint-interval",
        str(checkpoint_interval_s),
    ]
    return ManagedProcess("detector worker", argv, log_path, env={**os.environ, **settings.env()})


async def lag(settings: Settings) -> int | None:
    """Records of the interactions topic not yet committed by the worker's group; None before the topic exists."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        if settings.interactions_topic not in await consumer.topics():  # also refreshes the metadata
            return None
        partitions = consumer.partitions_for_topic(settings.interactions_topic)
        if not partitions:
            return None
        tps = [TopicPartition(settings.interactions_topic, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps)
        committed = [await consumer.committed(tp) or 0 for tp in tps]
        return sum(ends[tp] - done for tp, done in zip(tps, committed, strict=True))
    finally:
        await consumer.stop()


async def wait_consumed(settings: Settings, worker: ManagedProcess, timeout: float, poll: float = 0.5) -> None:
    """Return once the worker has committed everything published so far; raise if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if not worker.running:
            raise StackError(f"the worker exited before consuming its input\n{worker.describe_log()}")
        if await lag(settings) == 0:
            return
        if time.monotonic() > deadline:
            raise StackError(f"the worker did not consume its input within {timeout:.0f} s\n{worker.describe_log()}")
        await asyncio.sleep(poll)
