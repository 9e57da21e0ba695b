"""Run ``detector worker`` as a child process and tell when it has consumed its input (demo, tests, benchmarks).

"Consumed" means the worker's group has committed as many interactions records as were published. Offsets
are committed only behind a checkpoint (streams/reader.py), so by then every event is scored, every case
and alert written, and the state is on disk.
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

#: What Faust logs once the app and its services, the interactions reader among them, have started (the reader joins
#: its group right after; records published meanwhile are read from the committed offset or the start).
READY_LINE = "[^Worker]: Ready"


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


async def wait_ready(worker: ManagedProcess, timeout: float = 60.0) -> None:
    """Return once the worker has started (Faust logs "Worker: Ready"); raise if it dies or times out."""
    deadline = time.monotonic() + timeout
    while READY_LINE not in worker.log_tail(400):
        if not worker.running:
            raise StackError(f"the worker exited while starting\n{worker.describe_log()}")
        if time.monotonic() > deadline:
            raise StackError(f"the worker was not ready within {timeout:.0f} s\n{worker.describe_log()}")
        await asyncio.sleep(0.2)


async def committed(settings: Settings) -> int | None:
    """How many interactions records the worker's group has committed, summed over partitions; None before the
    topic exists. On a topic written without transactions, offsets count records, so this is the number of
    records consumed. (End offsets would give the lag directly, but the embedded Tansu broker misreports them.)"""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([settings.interactions_topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        return None
    # Only reads the group's offsets: without a subscription it never joins (nor rebalances) the worker's group.
    # (The admin client's OffsetFetch is not understood by Tansu; the consumer's is.)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.interactions_group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.interactions_topic, p["partition"]) for p in described["partitions"]]
        return sum([await consumer.committed(tp) or 0 for tp in tps])
    finally:
        await consumer.stop()


async def wait_consumed(
    settings: Settings, worker: ManagedProcess, records: int, timeout: float, poll: float = 0.5
) -> None:
    """Return once the worker has committed ``records`` interactions records; raise if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if not worker.running:
            raise StackError(f"the worker exited before consuming its input\n{worker.describe_log()}")
        done = await committed(settings)
        if done is not None and done >= records:
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"the worker committed {done} of {records} records in {timeout:.0f} s\n{worker.describe_log()}"
            )
        await asyncio.sleep(poll)
