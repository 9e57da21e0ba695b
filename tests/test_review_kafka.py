"""Decisions reach the ``decisions`` topic on a real Kafka broker, keyed by case id."""

from __future__ import annotations

import uuid

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from detector.core.findings import FOLLOWER_GROWTH, Finding
from detector.review import CaseStore, KafkaDecisionSink
from detector.stack import TansuBroker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_decision_is_published_to_the_decisions_topic(redis_url: str, kafka_bootstrap: str):
    await decide_and_read_back(redis_url, kafka_bootstrap)


async def test_decisions_also_reach_the_demos_embedded_broker(redis_url: str, tmp_path):
    # Tansu refuses idempotent producers: the sink must fall back rather than fail every decision of the demo.
    with TansuBroker(tmp_path / "tansu") as broker:
        await decide_and_read_back(redis_url, broker.bootstrap)


async def decide_and_read_back(redis_url: str, kafka_bootstrap: str) -> None:
    topic = f"decisions-{uuid.uuid4().hex[:8]}"
    client = aioredis.from_url(redis_url, decode_responses=True)
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    finding = Finding(
        "growth-k1", FOLLOWER_GROWTH, ("k1",), 0.8, 1.0, 0.0, 1.0, "test-1", {"summary": "burst", "features": {"f": 1}}
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # explicitly: the broker may not create topics on first use
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    try:
        async with KafkaDecisionSink(kafka_bootstrap, topic) as sink:
            store = CaseStore(client, prefix=prefix, sink=sink)
            await store.upsert_finding(finding)
            record = await store.decide("growth-k1", "alice", "confirmed", "fake-followers", "bought followers")
            assert await store.pending_decisions() == 0
        await consumer.start()
        message = await consumer.getone()
    finally:
        await consumer.stop()
        await client.delete(*[k async for k in client.scan_iter(match=prefix + "*")])
        await client.aclose()
    assert message.key == b"growth-k1"
    value = orjson.loads(message.value)
    assert value == record
    assert {"decision_id", "case_id", "accounts", "scheme", "decision", "policy", "reason", "reviewer",
            "decided_at"} <= value.keys()  # fmt: skip
