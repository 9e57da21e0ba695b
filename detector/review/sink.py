"""Where reviewer decisions go: the ``decisions`` topic, read by the alert stream and by online learning.

A decision record (see :meth:`detector.review.store.CaseStore.decide`) is a JSON object with ``decision_id``
(unique; consumers deduplicate on it, delivery is at least once), ``case_id``, ``scheme``, ``accounts``,
``decision``, ``policy``, ``reason``, ``note``, ``reviewer``, ``decided_at`` (Unix seconds), ``score``,
``model_version``, ``features`` (the scored features, for learning), ``supersedes`` (the decision a reopened
case's new decision replaces) and ``bulk_id``.
"""

from __future__ import annotations

from typing import Protocol

import orjson
from aiokafka import AIOKafkaProducer

from detector.producers import start_producer


class DecisionSink(Protocol):
    async def publish(self, decision: dict) -> None:
        """Deliver one decision record; raise if it was not accepted (the store then keeps it to retry)."""


class KafkaDecisionSink:
    """Publishes decisions to a Kafka topic, keyed by case id so one case's decisions stay in order.

    Use as an async context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, bootstrap_servers: str, topic: str):
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # acks=all and idempotence: a decision acknowledged to the reviewer must survive a broker failover.
        self._producer = await start_producer(self.bootstrap_servers, client_id="gsd-review")

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> KafkaDecisionSink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def publish(self, decision: dict) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaDecisionSink.publish before start()")
        await self._producer.send_and_wait(self.topic, key=decision["case_id"].encode(), value=orjson.dumps(decision))
