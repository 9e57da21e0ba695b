"""The four topics. Values and keys stay raw bytes: validation is the event contract's job, not Faust's.

All four are ``internal`` in Faust's sense (the app may create them): the worker declares any that is missing
before it subscribes, with ``settings.topic_partitions`` partitions, and leaves existing ones as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from detector.settings import Settings


@dataclass(frozen=True)
class Topics:
    interactions: faust.TopicT
    decisions: faust.TopicT
    alerts: faust.TopicT
    dead_letters: faust.TopicT

    def outputs(self) -> tuple[faust.TopicT, ...]:
        """Topics no agent reads, which Faust therefore does not declare by itself."""
        return self.alerts, self.dead_letters


def declare(app: faust.App, settings: Settings) -> Topics:
    def raw(name: str) -> faust.TopicT:
        return app.topic(
            name, key_serializer="raw", value_serializer="raw", partitions=settings.topic_partitions, internal=True
        )

    return Topics(
        interactions=raw(settings.interactions_topic),
        decisions=raw(settings.decisions_topic),
        alerts=raw(settings.alerts_topic),
        dead_letters=raw(settings.dlq_topic),
    )
