"""Reading from the broker: a raw aiokafka ``getmany`` loop (the baseline), a Faust agent, the whole worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks import faust_reader
from detector.settings import Settings
from streams.process import wait_consumed, wait_ready, worker_process


async def publish(settings: Settings, raw: list[bytes]) -> None:
    """Fill a fresh interactions topic once; every reader below reads all of it from the start."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.interactions_topic, settings.topic_partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        pending = []
        for i, value in enumerate(raw):
            pending.append(await producer.send(settings.interactions_topic, value, key=str(i % 997).encode()))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_read_rate(settings: Settings, count: int) -> float:
    """Records per second through ``AIOKafkaConsumer.getmany``, first record to last, doing nothing with them."""
    consumer = AIOKafkaConsumer(
        settings.interactions_topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen, started = 0, 0.0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000)
            if batches and not started:
                started = time.perf_counter()
            seen += sum(len(batch) for batch in batches.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def faust_read_rate(settings: Settings, count: int, mode: str) -> float:
    """Records per second into a Faust agent that does nothing with them (a child process: Faust owns its loop)."""
    with tempfile.TemporaryDirectory() as datadir:
        argv = [sys.executable, "-m", "benchmarks.faust_reader"]
        argv += [settings.kafka_bootstrap, settings.interactions_topic, str(count), mode, datadir]
        subprocess.run(argv, capture_output=True, timeout=600, check=True)
        result = orjson.loads(Path(datadir, faust_reader.RESULT).read_bytes())
    return result["records"] / result["seconds"]


async def pipeline_rate(settings: Settings, count: int, work: Path) -> float:
    """Events per second through ``detector worker``: validated, scored, cases and alerts written, checkpointed
    and committed. Timed from the worker being ready (its reader's group join included) to the last record
    committed."""
    run = uuid.uuid4().hex[:8]
    settings = replace(
        settings, app_id=f"bench-{run}", alerts_topic=f"bench-{run}.alerts", state_dir=str(work / run / "state")
    )
    worker = worker_process(settings, work / run / "worker.log", checkpoint_interval_s=0.5)
    worker.start()
    try:
        await wait_ready(worker)
        started = time.perf_counter()
        await wait_consumed(settings, worker, count, timeout=1800, poll=0.1)
        return count / (time.perf_counter() - started)
    finally:
        worker.stop()
