"""The alert lifecycle on the real broker: a reviewer's decision in the review store becomes a
``case.decided.v1`` alert on the alerts topic, with an id that survives redelivery."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from test_alerts_contract import BASE_URL, SOURCE, alerts_of, decision_json, ring_findings, validate
from test_pipeline_kafka import Worker, alerts, deployment, has_full_ring, publish, read_topic, ring_events

from detector.alerts import DECIDED_TYPE, Decision, decided_event
from detector.review import CaseStore, KafkaDecisionSink
from detector.settings import Settings
from streams.process import wait_consumed

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_a_decision_closes_the_case_with_a_decided_alert(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    members = [f"ring-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    async with Worker(settings, tmp_path) as worker:
        placed = await publish(settings, [(e.actor.encode(), e.to_json()) for e in ring_events(members)])
        await wait_consumed(settings, worker.process, len(placed), timeout=120)
        flagged = alerts(await read_topic(kafka_bootstrap, settings.alerts_topic, has_full_ring(members)))
        case_id = flagged[0].data["case_id"]

        # The reviewer decides in the review store, which publishes the decision to the decisions topic.
        async with KafkaDecisionSink(kafka_bootstrap, settings.decisions_topic) as sink:
            store = CaseStore.from_url(redis_url, sink=sink)
            try:
                decision = await store.decide(case_id, "ann", "confirmed", "inauthentic-engagement", "mutual boosts")
            finally:
                await store.redis.aclose()

        def decided(records) -> list:
            return [e for e in alerts(records) if e.type == DECIDED_TYPE]

        records = await read_topic(kafka_bootstrap, settings.alerts_topic, lambda rs: len(decided(rs)) >= 1)

    (event,) = decided(records)
    validate(event)
    assert event.id == f"{case_id}:decision:{decision['decision_id']}"
    assert event.data["activity"] == "close"
    assert event.data["decision"] == "confirmed"
    assert sorted(event.data["accounts"]) == sorted(members)
    assert event.data["reviewer"] == "ann"
    (record,) = [r for r in records if dict(r.headers)["ce_type"] == DECIDED_TYPE.encode()]
    assert record.key == case_id.encode()  # same partition as the case's flags: consumers see them in order


async def test_a_redelivered_decision_keeps_its_id_and_a_malformed_one_is_dead_lettered(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, settings: Settings
):
    settings = deployment(settings)
    decision = {
        "decision_id": uuid.uuid4().hex,
        "case_id": "growth-0123456789abcdef",
        "scheme": "follower_growth",
        "accounts": ["star"],
        "decision": "dismissed",
        "policy": "no-violation",
        "reason": "a viral post",
        "reviewer": "bo",
        "decided_at": 1_700_000_000.0,
    }
    async with Worker(settings, tmp_path):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for value in (orjson.dumps(decision), orjson.dumps(decision), b'{"decision": "confirmed"}'):
                await producer.send_and_wait(settings.decisions_topic, value, key=b"growth-0123456789abcdef")
        finally:
            await producer.stop()
        records = await read_topic(kafka_bootstrap, settings.alerts_topic, lambda rs: len(rs) >= 2)
        dead = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda rs: len(rs) >= 1)

    first, again = alerts(records)
    validate(first)
    assert first == again  # the same decision twice: the same event, so consumers drop the second
    assert first.id == f"growth-0123456789abcdef:decision:{decision['decision_id']}"
    assert first.data["activity"] == "close"
    assert {r.key for r in records} == {b"star"}  # follower growth is keyed by the account
    (letter,) = dead
    headers = dict(letter.headers)
    assert headers["source_topic"] == settings.decisions_topic.encode()
    assert headers["reason"].startswith(b"decision_id:")
    assert letter.value == b'{"decision": "confirmed"}'


async def test_the_example_consumer_acts_once_per_alert_id(kafka_bootstrap: str):
    spec = importlib.util.spec_from_file_location("alert_consumer", EXAMPLES / "alert_consumer.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    flagged = alerts_of(ring_findings())[0]
    decided = decided_event(Decision.from_json(decision_json()), source=SOURCE, case_base_url=BASE_URL)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in (flagged, flagged, decided, decided):  # every alert delivered twice
            key, value, headers = event.to_kafka(event.subject)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    handled: list[tuple[str, dict]] = []
    task = asyncio.create_task(example.consume(kafka_bootstrap, topic, "platform", lambda t, a: handled.append((t, a))))
    try:
        deadline = time.monotonic() + 30
        while len(handled) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # room for a wrongly handled duplicate to show up
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert handled == [(flagged.type, flagged.data), (decided.type, decided.data)]
