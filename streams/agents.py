"""What runs in the worker's Faust app: the interactions reader (detection, checkpoints, commits) as a task, and the
agent that turns reviewer decisions into lifecycle alerts."""

from __future__ import annotations

import logging

import faust
from faust.types import Message

from detector.alerts import Decision, DecisionRejected, decided_event
from detector.settings import Settings
from streams.detection import Detection
from streams.pipeline import Record, Rejection
from streams.reader import InteractionsReader
from streams.sinks import DeadLetterSink, KafkaAlertSink
from streams.topics import Topics

log = logging.getLogger(__name__)


def register(
    app: faust.App,
    settings: Settings,
    topics: Topics,
    detection: Detection,
    alerts: KafkaAlertSink,
    dead_letters: DeadLetterSink,
    checkpoint_interval_s: float,
) -> None:
    @app.task
    async def read_interactions() -> None:
        await app.add_runtime_dependency(
            InteractionsReader(settings, detection, checkpoint_interval_s, on_crash=app.crash, loop=app.loop)
        )

    @app.agent(topics.decisions, name="decided")
    async def decided(stream: faust.StreamT) -> None:
        try:
            async for event in stream.events():  # acked after each iteration: at least once
                await publish_decision(event.message)
        except Exception as exc:
            log.exception("publishing a decision failed; stopping the worker so that a restart redelivers it")
            await app.crash(exc)
            raise

    async def publish_decision(message: Message) -> None:
        try:
            decision = Decision.from_json(message.value)
        except DecisionRejected as exc:
            record = Record(message.topic, message.partition, message.offset, message.key, message.value)
            await dead_letters.reject([Rejection(record, exc.reason)])
            return
        await alerts.publish([decided_event(decision, source=alerts.source, case_base_url=alerts.case_base_url)])
        await detection.learn(decision)

    @app.task
    async def on_start() -> None:
        log.info("detection: %s", detection.origin)
