"""Real services for the tests: Apache Kafka 4.x and redis-server, each started once per session on first use.

A test that needs neither starts neither. ``DETECTOR_KAFKA_BOOTSTRAP`` / ``DETECTOR_REDIS_URL`` are ignored here on
purpose: a shell left pointing at ``detector stack``'s embedded Tansu must not quietly change what is tested.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.settings import Settings
from detector.stack import KafkaBroker, RedisServer


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka 4.x in KRaft mode; its log is ``kafka.log`` in the session's ``kafka*`` temp directory."""
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """``redis-server`` without persistence, shared by the session: tests use their own key prefixes."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the session's Kafka and Redis, with an app id and topics of this test's own."""
    suffix = uuid.uuid4().hex[:10]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        app_id=f"test-{suffix}",
        interactions_topic=f"interactions-{suffix}",
        alerts_topic=f"alerts-{suffix}",
        dlq_topic=f"interactions-{suffix}.dlq",
        decisions_topic=f"decisions-{suffix}",
        state_dir=str(tmp_path / "state"),
    )
