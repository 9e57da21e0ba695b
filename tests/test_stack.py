"""The local stack: the real Kafka and Redis of the test session, the embedded pair of the demo, the stack rules."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from detector.settings import Settings
from detector.stack import KafkaBroker, RedisServer, StackError, TansuBroker, ValkeyServer, local_stack
from detector.stack.kafka import kafka_answers
from detector.stack.process import ManagedProcess
from detector.stack.redis import redis_answers

FETCH, CONSUMER_GROUP_HEARTBEAT = 1, 68


def api_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 over a raw socket: ``{api_key: (min_version, max_version)}`` as the broker states them."""
    host, _, port = bootstrap.rpartition(":")
    client_id = b"test"
    request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id  # api key 18, version 0, correlation 7
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))
        response = sock.recv(size, socket.MSG_WAITALL)
    correlation, error, count = struct.unpack(">ihi", response[:10])
    assert (correlation, error) == (7, 0)
    return {key: (low, high) for key, low, high in struct.iter_unpack(">hhh", response[10 : 10 + 6 * count])}


async def roundtrip(bootstrap: str, topic: str, count: int = 20) -> dict[int, int]:
    """Produce ``count`` keyed records, consume them all in a consumer group, commit; return committed offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, orjson.dumps({"i": i}), key=f"account-{i % 5}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    group = f"group-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        seen: list[int] = []
        while len(seen) < count:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"only {len(seen)} of {count} records came back"
            seen += [orjson.loads(record.value)["i"] for records in batches.values() for record in records]
        await consumer.commit()
        partitions = consumer.partitions_for_topic(topic) or set()
        committed = {p: await consumer.committed(TopicPartition(topic, p)) or 0 for p in partitions}
    finally:
        await consumer.stop()
    assert sorted(seen) == list(range(count))
    return committed


@pytest.mark.integration
async def test_records_roundtrip_through_the_real_broker_with_committed_offsets(kafka_bootstrap: str):
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    committed = await roundtrip(kafka_bootstrap, topic)
    assert len(committed) == 4, "auto-created topics take num.partitions"
    assert sum(committed.values()) == 20


@pytest.mark.integration
def test_the_session_broker_is_apache_kafka_4(kafka_broker: KafkaBroker):
    versions = api_versions(kafka_broker.bootstrap)
    # Kafka 4.0 dropped Fetch v0-3 (KIP-896) and made the new consumer group protocol GA (KIP-848).
    assert versions[FETCH][0] == 4
    assert CONSUMER_GROUP_HEARTBEAT in versions
    assert kafka_broker.log_path is not None
    logged = re.search(r"Kafka version: (\S+)", kafka_broker.log_path.read_text())
    assert logged and logged.group(1) == kafka_broker.version and logged.group(1).startswith("4.")


@pytest.mark.integration
async def test_the_real_broker_runs_kraft_with_one_node(kafka_bootstrap: str):
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    host, _, port = kafka_bootstrap.rpartition(":")
    assert [(broker["host"], broker["port"]) for broker in cluster["brokers"]] == [(host, int(port))]
    assert cluster["controller_id"] == cluster["brokers"][0]["node_id"]


@pytest.mark.integration
async def test_redis_answers_ping_set_get_and_keeps_nothing_on_disk(redis_url: str):
    client = aioredis.from_url(redis_url, decode_responses=True)
    key = f"test-stack:{uuid.uuid4().hex}"
    try:
        assert await client.ping() is True
        await client.set(key, "value", ex=60)
        assert await client.get(key) == "value"
        assert await client.config_get("save") == {"save": ""}
        assert await client.config_get("appendonly") == {"appendonly": "no"}
        assert (await client.info("server"))["redis_version"]
    finally:
        await client.delete(key)
        await client.aclose()


@pytest.mark.integration
def test_the_settings_fixture_points_at_the_session_services_with_topics_of_its_own(
    settings: Settings, kafka_bootstrap: str, redis_url: str
):
    assert (settings.kafka_bootstrap, settings.redis_url) == (kafka_bootstrap, redis_url)
    names = [settings.app_id, settings.interactions_topic, settings.alerts_topic, settings.dlq_topic]
    suffixes = {name.removesuffix(".dlq").rpartition("-")[2] for name in names + [settings.decisions_topic]}
    assert len(suffixes) == 1 and suffixes != {""}
    assert settings.interactions_topic != Settings().interactions_topic


async def test_the_embedded_pair_serves_kafka_clients_and_redis_clients(tmp_path: Path):
    # Tansu stores in memory and needs no idempotent producer for this; see detector/stack/embedded.py.
    with TansuBroker(tmp_path / "tansu") as broker, ValkeyServer(tmp_path / "valkey") as valkey:
        committed = await roundtrip(broker.bootstrap, f"embedded-{uuid.uuid4().hex[:8]}")
        assert sum(committed.values()) == 20
        client = aioredis.from_url(valkey.url, decode_responses=True)
        try:
            await client.set("k", "v")
            assert await client.get("k") == "v"
            assert "valkey_version" in await client.info("server")
        finally:
            await client.aclose()
        logs = [broker.log_path, valkey.log_path]
    assert not broker.running and not valkey.running
    assert all(path is not None and path.exists() for path in logs), "a given work dir keeps the logs"


def test_configured_services_are_used_and_nothing_is_started():
    environ = {"DETECTOR_KAFKA_BOOTSTRAP": "kafka:9092", "DETECTOR_REDIS_URL": "redis://redis:6379/0"}
    with local_stack("real", environ=environ) as stack:
        assert stack.started == []
        assert stack.env() == environ
        assert stack.settings(Settings(app_id="x")) == Settings(
            kafka_bootstrap="kafka:9092", redis_url="redis://redis:6379/0", app_id="x"
        )


def test_only_the_missing_service_is_started(tmp_path: Path):
    with local_stack("embedded", environ={"DETECTOR_KAFKA_BOOTSTRAP": "kafka:9092"}, work_dir=tmp_path) as stack:
        assert stack.kafka is None and stack.kafka_bootstrap == "kafka:9092"
        assert isinstance(stack.redis, ValkeyServer) and redis_answers("127.0.0.1", stack.redis.port or 0)
        server = stack.redis
    assert not server.running


def test_a_server_that_dies_while_starting_fails_with_its_log(tmp_path: Path):
    process = ManagedProcess("doomed", ["sh", "-c", "echo bind failed: address in use; exit 3"], tmp_path / "d.log")
    process.start()
    with pytest.raises(StackError, match=r"(?s)doomed exited with code 3.*bind failed: address in use"):
        process.wait_ready(lambda: False, timeout=30)


def test_a_server_that_never_answers_is_stopped_after_the_timeout(tmp_path: Path):
    process = ManagedProcess("mute", ["sh", "-c", "echo started; exec sleep 60"], tmp_path / "m.log")
    process.start()
    with pytest.raises(StackError, match=r"(?s)mute did not answer within 1 s.*started"):
        process.wait_ready(lambda: False, timeout=1)
    assert not process.running


def test_servers_refuse_an_address_before_start():
    with pytest.raises(StackError, match="not started"):
        _ = KafkaBroker().bootstrap
    with pytest.raises(StackError, match="not started"):
        _ = RedisServer().url


def test_detector_stack_prints_exports_and_stops_its_servers_on_ctrl_c(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETECTOR_")}
    command = [sys.executable, "-m", "detector.cli", "stack", "--work-dir", str(tmp_path), "--settings-file",
               str(tmp_path / "stack.env")]  # fmt: skip
    stack = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stack.stdout is not None
        exports = dict(re.fullmatch(r"export (\w+)=(\S+)\n", stack.stdout.readline()).groups() for _ in range(2))
        assert set(exports) == {"DETECTOR_KAFKA_BOOTSTRAP", "DETECTOR_REDIS_URL"}
        written = Settings.from_env({"DETECTOR_SETTINGS_FILE": str(tmp_path / "stack.env")})
        assert (written.kafka_bootstrap, written.redis_url) == tuple(exports.values())
        assert kafka_answers(exports["DETECTOR_KAFKA_BOOTSTRAP"])
        redis_port = int(exports["DETECTOR_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        assert redis_answers("127.0.0.1", redis_port)
        stack.send_signal(signal.SIGINT)
        assert stack.wait(30) == 0
    finally:
        if stack.poll() is None:
            stack.kill()
    assert not kafka_answers(exports["DETECTOR_KAFKA_BOOTSTRAP"], timeout=1)
    assert not redis_answers("127.0.0.1", redis_port)
