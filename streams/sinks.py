"""Where the worker's output goes, each behind a small interface (as Osprey's output sinks are).

Every sink is idempotent under redelivery: cases are upserted by their stable id, alerts carry a stable
CloudEvents id (case id + revision), dead letters carry their source partition and offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from detector.alerts import CloudEvent, flagged_event, partition_key
from detector.alerts.cloudevents import Headers
from detector.core.findings import Finding
from detector.review.store import UpsertResult
from streams.pipeline import CaseRevision, Rejection

#: A dead letter keeps the original value up to this size: the input may sit at the broker's record limit,
#: and value + headers must stay under the producer's (Faust's default: 1,000,000 bytes).
DLQ_MAX_VALUE_BYTES = 900_000


class Producer(Protocol):
    """The part of Faust's producer the sinks use: ``send`` queues a record, the result resolves on delivery."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Headers | None,
    ) -> Awaitable[Any]: ...


class CaseWriter(Protocol):
    """The part of ``detector.review.store.CaseStore`` the case sink uses."""

    async def upsert_finding(self, finding: Finding) -> UpsertResult: ...


class FindingSink(Protocol):
    """One output of the detection. Sinks run in order; each writes what it is given and returns what the
    next one gets, so the case store (the system of record) can hold back what must not be alerted."""

    async def emit(self, revisions: Sequence[CaseRevision]) -> Sequence[CaseRevision]: ...


class RedisCaseSink:
    """Opens or updates the case for human review. Reviewers' allowlist applies downstream too: a finding on
    allowlisted accounts only is not alerted, and allowlisted accounts are left out of a ring's alert."""

    def __init__(self, store: CaseWriter):
        self.store = store

    async def emit(self, revisions: Sequence[CaseRevision]) -> list[CaseRevision]:
        passed = []
        for item in revisions:
            result = await self.store.upsert_finding(item.finding)
            if result.suppressed:
                continue
            if result.allowlisted:
                accounts = tuple(a for a in item.finding.accounts if a not in result.allowlisted)
                item = replace(item, finding=replace(item.finding, accounts=accounts))
            passed.append(item)
        return passed


class KafkaAlertSink:
    """Publishes alerts as CloudEvents and returns only once the broker has them all."""

    def __init__(self, producer: Producer, topic: str, *, source: str, case_base_url: str):
        self.producer = producer
        self.topic = topic
        self.source = source
        self.case_base_url = case_base_url

    async def emit(self, revisions: Sequence[CaseRevision]) -> Sequence[CaseRevision]:
        events = [
            flagged_event(r.finding, r.revision, source=self.source, case_base_url=self.case_base_url)
            for r in revisions
        ]
        await self.publish(events)
        return revisions

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        deliveries = []
        for event in events:
            data = event.data
            key, value, headers = event.to_kafka(partition_key(data["scheme"], data["case_id"], data["accounts"]))
            deliveries.append(await self.producer.send(self.topic, key, value, None, None, headers))
        await asyncio.gather(*deliveries)


class DeadLetterSink:
    """Parks rejected input: key and value as they came, the reason and the origin in headers."""

    def __init__(self, producer: Producer, topic: str):
        self.producer = producer
        self.topic = topic

    async def reject(self, rejections: Sequence[Rejection]) -> None:
        deliveries = []
        for rejection in rejections:
            record = rejection.record
            value = record.value
            headers = [
                ("reason", rejection.reason.encode()),
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
            ]
            if value is not None and len(value) > DLQ_MAX_VALUE_BYTES:
                headers.append(("truncated_from_bytes", str(len(value)).encode()))
                value = value[:DLQ_MAX_VALUE_BYTES]
            deliveries.append(await self.producer.send(self.topic, record.key, value, None, None, headers))
        await asyncio.gather(*deliveries)
