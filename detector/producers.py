"""Kafka producers for the project's own writes (simulated traffic, reviewer decisions)."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import UnknownError, UnsupportedVersionError

log = logging.getLogger(__name__)


async def start_producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A started producer with ``acks=all`` and idempotence (a retried send is not duplicated).

    Falls back to a plain ``acks=all`` producer when the broker cannot hand out producer ids: the embedded Tansu
    broker of the demo answers InitProducerId with an unknown error. Apache Kafka never takes the fallback.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options)
    try:
        await producer.start()
        return producer
    except (UnknownError, UnsupportedVersionError) as exc:
        await producer.stop()
        log.warning("broker refused an idempotent producer (%r); producing without idempotence", exc)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    await producer.start()
    return producer
