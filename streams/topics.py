"""The four topics. Values and keys stay raw bytes: validation is the event contract's job, not Faust's.

:func:`ensure` creates any that is missing before Faust starts, and waits until every partition has a leader: a
consumer that subscribed while its topic was still being created could be assigned nothing and sit idle until its
next metadata refresh. Existing topics are left as they are.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from detector.settings import Settings

#: Replicas of a topic the worker creates: three, or as many as the cluster has brokers.
MAX_REPLICATION = 3


@dataclass(frozen=True)
class Topics:
    """The topics Faust reads or writes (``interactions`` is read by streams/reader.py, not by Faust)."""

    decisions: faust.TopicT
    alerts: faust.TopicT
    dead_letters: faust.TopicT


def declare(app: faust.App, settings: Settings) -> Topics:
    def raw(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    return Topics(
        decisions=raw(settings.decisions_topic),
        alerts=raw(settings.alerts_topic),
        dead_letters=raw(settings.dlq_topic),
    )


async def ensure(settings: Settings, timeout: float = 60.0) -> None:
    """Create the missing topics with ``settings.topic_partitions`` partitions; return once all have leaders."""
    names = [settings.interactions_topic, settings.decisions_topic, settings.alerts_topic, settings.dlq_topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # Not describe_topics: its metadata request lets a broker with auto-creation on create the topics with
        # its own default partition count before we could create them with ours.
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            brokers = len((await admin.describe_cluster())["brokers"])
            replicas = min(MAX_REPLICATION, brokers)
            # Another process may create one meanwhile: its "already exists" is not an error here.
            await admin.create_topics([NewTopic(name, settings.topic_partitions, replicas) for name in missing])
        deadline = time.monotonic() + timeout
        while not _all_led(await admin.describe_topics(names)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {names} have no leader after {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _all_led(described: list[dict]) -> bool:
    return all(
        not d["error_code"] and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"]) for d in described
    )
