"""The stream worker end to end on the real broker and Redis: ``detector worker`` runs as a child process, as in
production; events go in through a plain aiokafka producer; cases, alerts and dead letters are read back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from test_alerts_contract import validate

from detector.alerts import CloudEvent
from detector.core.events import Event
from detector.review import CaseStore
from detector.settings import Settings
from detector.stack.process import ManagedProcess, free_port
from streams.process import committed, wait_consumed, wait_ready, worker_process

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CASE_BASE_URL = "http://review.test/cases"


def deployment(settings: Settings) -> Settings:
    """The session's per-test settings (tests/conftest.py), with case links the alerts can be checked against."""
    return replace(settings, case_base_url=CASE_BASE_URL)


def ring_events(members: list[str], reps: int = 3) -> list[Event]:
    """An unmistakable farming ring: every member endorses every other one, a minute apart, several rounds."""
    t, events = 1_700_000_000.0, []
    for rep in range(reps):
        for a in members:
            for b in members:
                if a != b:
                    t += 60
                    events.append(Event(t, "endorse", a, b, id=f"{a}>{b}#{rep}"))
    return events


async def publish(settings: Settings, items: list[tuple[bytes | None, bytes | None]]) -> list[tuple[int, int]]:
    """Send (key, value) records in order; return each one's (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_request_size=2_000_000)
    await producer.start()
    try:
        futures = [await producer.send(settings.interactions_topic, value, key=key) for key, value in items]
        return [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


async def create_topic(settings: Settings) -> None:
    """Create the interactions topic ahead of the worker, to publish before any worker runs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.interactions_topic, settings.topic_partitions, 1)])
    finally:
        await admin.close()


async def publish_ring(settings: Settings) -> tuple[list[str], list[tuple[int, int]]]:
    """A fresh ring's events on the interactions topic (created first if need be): its members, and where each of
    its records landed."""
    members = [f"ring-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    await create_topic(settings)
    return members, await publish(settings, [(e.actor.encode(), e.to_json()) for e in ring_events(members)])


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[ConsumerRecord]], bool], timeout: float = 60.0
) -> list[ConsumerRecord]:
    """Read a topic from the start until ``until(records)`` holds; fail after ``timeout`` seconds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records):
            assert time.monotonic() < deadline, f"{topic}: condition not met; read {len(records)} records"
            batches = await consumer.getmany(timeout_ms=500)
            records += [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    return records


async def read_quietly(bootstrap: str, topic: str, wait: float = 3.0) -> list[ConsumerRecord]:
    """Every record of the topic, once ``wait`` seconds have passed without a new one."""
    seen: list[ConsumerRecord] = []
    last_change = time.monotonic()

    def settled(records: list[ConsumerRecord]) -> bool:
        nonlocal last_change
        if len(records) != len(seen):
            seen[:] = records
            last_change = time.monotonic()
        return time.monotonic() - last_change > wait

    return await read_topic(bootstrap, topic, settled, timeout=wait * 10)


def alerts(records: list[ConsumerRecord]) -> list[CloudEvent]:
    return [CloudEvent.from_kafka(r.value, r.headers) for r in records]


def has_full_ring(members: list[str]) -> Callable[[list[ConsumerRecord]], bool]:
    return lambda records: any(sorted(e.data["accounts"]) == sorted(members) for e in alerts(records))


class Worker:
    """``detector worker`` as a child process; stopped (gracefully) when the test leaves the block."""

    def __init__(self, settings: Settings, tmp_path: Path, checkpoint_interval_s: float = 1.0):
        self.settings = settings
        self.log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.process: ManagedProcess = worker_process(settings, self.log, checkpoint_interval_s=checkpoint_interval_s)

    async def __aenter__(self) -> Worker:
        self.process.start()
        await wait_ready(self.process)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.process.stop)

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is checkpointed or committed."""
        os.kill(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 30)


async def test_a_ring_becomes_a_case_and_alerts_and_bad_records_go_to_the_dlq(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    members = [f"ring-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    good = [(e.actor.encode(), e.to_json()) for e in ring_events(members)]
    bad = [
        (b"k1", b"{not json"),
        (b"k2", b"\x00\xff\xfe binary \x89PNG"),
        (b"k3", b"x" * 200_000),
        (b"k4", None),
        (None, orjson.dumps({"ts": 1_700_000_000, "kind": "poke", "actor": "a", "target": "b"})),
    ]
    async with Worker(settings, tmp_path) as worker:
        placed = await publish(settings, bad[:2] + good + bad[2:])
        await wait_consumed(settings, worker.process, len(placed), timeout=120)
        assert worker.process.running

    records = await read_topic(kafka_bootstrap, settings.alerts_topic, has_full_ring(members))
    events = alerts(records)
    for event in events:
        validate(event)
    case_id = events[0].data["case_id"]
    assert {e.data["case_id"] for e in events} == {case_id}
    assert [e.id for e in events] == [f"{case_id}:r{n}" for n in range(1, len(events) + 1)]
    assert {r.key for r in records} == {case_id.encode()}  # a ring's alerts share one partition, in order
    assert events[-1].data["case_url"] == f"{CASE_BASE_URL}/{case_id}"

    store = CaseStore.from_url(redis_url)
    try:
        case = await store.get(case_id)
    finally:
        await store.redis.aclose()
    assert case.scheme == "farming_ring"
    assert sorted(case.accounts) == sorted(members)

    dead = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda rs: len(rs) >= len(bad))
    by_value = {(r.key, r.value): dict(r.headers) for r in dead}
    assert len(dead) == len(bad)
    expected_reasons = ["invalid_json", "invalid_json", "too_large", "invalid_json", "kind"]
    expected_places = placed[:2] + placed[-3:]
    for (key, value), reason, (partition, offset) in zip(bad, expected_reasons, expected_places, strict=True):
        headers = by_value[(key, value)]  # key and value exactly as they came
        assert headers["reason"].decode().startswith(reason)
        assert headers["source_topic"] == settings.interactions_topic.encode()
        assert (int(headers["source_partition"]), int(headers["source_offset"])) == (partition, offset)


async def test_a_crash_redelivers_alerts_with_the_same_ids_and_a_clean_stop_does_not(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    members, _ = await publish_ring(settings)

    # First run: never checkpoints on its own, and is killed; its alerts are out, its offsets uncommitted.
    async with Worker(settings, tmp_path, checkpoint_interval_s=3600) as worker:
        await read_topic(kafka_bootstrap, settings.alerts_topic, has_full_ring(members))
        first = len(await read_quietly(kafka_bootstrap, settings.alerts_topic))
        await worker.kill()
    assert not Path(settings.state_dir, f"{settings.app_id}.checkpoint").exists()
    assert await committed(settings) == 0

    # Second run: replays from the start and re-sends every alert, with the same ids and bytes; then stops
    # cleanly, which checkpoints and commits.
    async with Worker(settings, tmp_path, checkpoint_interval_s=3600) as worker:
        records = await read_topic(kafka_bootstrap, settings.alerts_topic, lambda rs: len(rs) >= 2 * first)
    assert await committed(settings) == len(members) * (len(members) - 1) * 3
    assert Path(settings.state_dir, f"{settings.app_id}.checkpoint").exists()
    again = len(await read_quietly(kafka_bootstrap, settings.alerts_topic))
    assert again == 2 * first
    originals, redelivered = records[:first], records[first:]
    assert [CloudEvent.from_kafka(r.value, r.headers).id for r in redelivered] == [
        CloudEvent.from_kafka(r.value, r.headers).id for r in originals
    ]
    assert [(r.key, r.value, r.headers) for r in redelivered] == [(r.key, r.value, r.headers) for r in originals]

    # Third run: resumes from the checkpoint; nothing is redelivered.
    async with Worker(settings, tmp_path) as worker:
        await asyncio.sleep(3)
        assert "resuming from" in worker.log.read_text()
    assert len(await read_quietly(kafka_bootstrap, settings.alerts_topic)) == 2 * first


async def rewind_group(settings: Settings, timeout: float = 60.0) -> None:
    """Commit offset 0 for the interactions group, as a group lagging its checkpoint would have (a crash between
    checkpoint and commit, or a new group). Retried until the stopped worker's static membership has expired."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.interactions_group, enable_auto_commit=False
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        tp = TopicPartition(settings.interactions_topic, 0)
        consumer.assign([tp])
        while True:
            try:
                await consumer.commit({tp: 0})
                return
            except KafkaError:
                assert time.monotonic() < deadline, "the stopped worker's membership never expired"
                await asyncio.sleep(1)
    finally:
        await consumer.stop()


async def test_a_restarted_worker_resumes_at_its_checkpoint_even_where_the_group_committed_less(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    members, placed = await publish_ring(settings)
    async with Worker(settings, tmp_path) as worker:
        await wait_consumed(settings, worker.process, len(placed), timeout=120)
    sent = len(await read_quietly(kafka_bootstrap, settings.alerts_topic))
    await rewind_group(settings)
    assert await committed(settings) == 0

    # The checkpoint covers every record: nothing is read again, and the group is brought up to the checkpoint.
    async with Worker(settings, tmp_path) as worker:
        await wait_consumed(settings, worker.process, len(placed), timeout=60)
    assert len(await read_quietly(kafka_bootstrap, settings.alerts_topic)) == sent
    assert "checkpoint:" not in worker.log.read_text()  # no record was processed, so nothing to save


async def test_a_second_worker_with_the_same_id_does_not_share_the_partitions_for_long(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    # Two processes with one app_id (a standby started while the active worker still runs, on another machine).
    settings = deployment(settings)
    standby = replace(settings, state_dir=str(tmp_path / "standby-state"))
    async with (
        Worker(settings, tmp_path, checkpoint_interval_s=0.5) as first,
        Worker(standby, tmp_path, checkpoint_interval_s=0.5) as second,
    ):
        workers = [first.process, second.process]
        await publish_ring(settings)
        deadline = time.monotonic() + 60
        while all(w.running for w in workers):
            assert time.monotonic() < deadline, "both workers kept reading the same partitions"
            await asyncio.sleep(0.5)
        stopped = [w for w in workers if not w.running]
        assert all("the group refused the commit" in w.log_tail(400) for w in stopped)


async def test_allowlisted_accounts_are_left_out_of_cases_and_alerts(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    tag = uuid.uuid4().hex[:6]
    partly = [f"ring-{tag}-a{i}" for i in range(6)]
    wholly = [f"ring-{tag}-b{i}" for i in range(6)]
    store = CaseStore.from_url(redis_url)
    try:
        for account in [partly[0], *wholly]:
            await store.allow(account, "ann", "verified creator")
        async with Worker(settings, tmp_path) as worker:
            events = sorted(ring_events(partly) + ring_events(wholly), key=lambda e: e.ts)
            placed = await publish(settings, [(e.actor.encode(), e.to_json()) for e in events])
            await wait_consumed(settings, worker.process, len(placed), timeout=120)
        records = await read_quietly(kafka_bootstrap, settings.alerts_topic)  # all flushed before the commit
        cases = [await store.get(case_id) for case_id in {e.subject for e in alerts(records)}]
        assert [await store.cases_of(account) for account in wholly] == [[]] * len(wholly)
    finally:
        await store.redis.aclose()
    flagged = {a for event in alerts(records) for a in event.data["accounts"]}
    assert flagged == set(partly[1:])
    assert [sorted(case.accounts) for case in cases] == [sorted(partly[1:])]


async def test_a_failing_sink_stops_the_worker_and_loses_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    members, placed = await publish_ring(settings)

    # Redis is down (nothing listens there): the first case write fails and the worker must stop, uncommitted.
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    broken = worker_process(down, tmp_path / "broken-worker.log")
    broken.start()
    assert await asyncio.to_thread(broken.wait, 60) != 0
    assert "detection failed" in broken.log_tail(400)
    assert not Path(settings.state_dir, f"{settings.app_id}.checkpoint").exists()
    assert await committed(settings) == 0

    async with Worker(settings, tmp_path) as worker:
        await wait_consumed(settings, worker.process, len(placed), timeout=120)
    records = await read_topic(kafka_bootstrap, settings.alerts_topic, has_full_ring(members))
    store = CaseStore.from_url(redis_url)
    try:
        case = await store.get(alerts(records)[0].subject)
    finally:
        await store.redis.aclose()
    assert sorted(case.accounts) == sorted(members)
