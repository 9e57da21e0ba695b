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
from aiokafka.admin import AIOKafkaAdminClient

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
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([settings.interactions_topic])
        committed = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        return None
    tps = [TopicPartition(settings.interactions_topic, p["partition"]) for p in described["partitions"]]
    # A consumer outside any group only to read end offsets: it must not join (and rebalance) the worker's group.
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)


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
