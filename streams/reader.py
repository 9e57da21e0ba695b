"""Reading the interactions topic: aiokafka's ``getmany`` in batches, checkpoints, and commits behind them.

Faust hands every record to an agent through its own per-record callback and stream machinery, about 75 µs a
record here, several times the engine's cost (docs/architecture.md, *Throughput*); ``take`` batches only after that.
The detection needs none of it: it takes raw records in batches and decides itself when offsets may be committed.
So the worker reads ``interactions`` with its own consumer, in the Faust app's event loop, and Faust keeps the rest
(the decisions agent, the producer the sinks write with, the worker's lifecycle).

One loop does everything in order: read a batch, hand it to the detection, and every ``checkpoint_interval_s``
checkpoint the state and commit the offsets that checkpoint covers. The committed offset is therefore never ahead of
the checkpoint; on (re)assignment the consumer seeks to the state's own offsets, so a restart or rebalance resumes
exactly where the state is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from mode import Service

from detector.settings import Settings
from streams.detection import Detection

log = logging.getLogger(__name__)
#: How long a stopping worker waits for its last commit.
FINAL_COMMIT_TIMEOUT_S = 15.0


class InteractionsReader(Service):
    """Feeds the detection from the interactions topic, as a service of the worker's Faust app: added while the
    app runs, it is stopped before the app's producer, so a stopping worker finishes or abandons its batch while
    the sinks can still write.

    Joins its group with a static member id (``<app_id>-detector``), so a restarted worker takes its partitions
    back at once. A failing batch calls ``on_crash`` (fail-stop: the worker exits, a restart redoes the batch), and
    so does a commit the group refuses: a second process started with the same id makes the group fence one of
    them, aiokafka rejoins it, and both would read; each stops at its next commit instead, so they overlap at most
    one checkpoint interval.
    """

    def __init__(
        self,
        settings: Settings,
        detection: Detection,
        checkpoint_interval_s: float,
        on_crash: Callable[[BaseException], Awaitable[None]],
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.settings = settings
        self.detection = detection
        self.checkpoint_interval_s = checkpoint_interval_s
        self.on_crash = on_crash
        self._committed: dict[TopicPartition, int] = {}  # what this reader committed, per partition

    @Service.task
    async def _read_until_stopped(self) -> None:
        try:
            await self.run()
        except Exception as exc:
            log.exception("detection failed; stopping the worker so that a restart replays from the checkpoint")
            await self.on_crash(exc)

    async def run(self) -> None:
        """Read until cancelled; on the way out (stop or crash) checkpoint what is complete and commit it."""
        settings = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            group_id=settings.interactions_group,
            group_instance_id=settings.member_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # How long a dead worker holds its partitions before a standby (another instance id) gets them.
            session_timeout_ms=10_000,
            max_poll_records=settings.batch_size,
        )
        consumer.subscribe([settings.interactions_topic], listener=_ResumeFromState(consumer, self.detection))
        try:
            await consumer.start()
            await self._read(consumer)
        finally:
            try:
                # Bounded: with Kafka unreachable aiokafka retries a commit for ever, and a stop must not hang. The
                # checkpoint is on disk by then; the restart seeks to it whatever the group holds.
                await asyncio.wait_for(self._checkpoint(consumer), FINAL_COMMIT_TIMEOUT_S)
            except TimeoutError:
                log.warning("the final commit timed out after %.0f s; the checkpoint is saved", FINAL_COMMIT_TIMEOUT_S)
            finally:
                await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        timeout_ms = max(1, round(self.settings.batch_timeout_s * 1000))
        next_checkpoint = time.monotonic() + self.checkpoint_interval_s
        while True:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.batch_size)
            records = [message for messages in batches.values() for message in messages]
            if records:
                await self.detection.handle(records)
            if time.monotonic() >= next_checkpoint:
                await self.detection.release_if_quiet()
                await self._checkpoint(consumer)
                next_checkpoint = time.monotonic() + self.checkpoint_interval_s

    async def _checkpoint(self, consumer: AIOKafkaConsumer) -> None:
        """Checkpoint the state if it moved, then commit the offsets the checkpoint on disk covers, if the group
        has not got them yet (after a restart too: the group's commit may lag the checkpoint)."""
        await self.detection.checkpoint()
        assigned = consumer.assignment()
        due = {
            tp: offset
            for (topic, partition), offset in self.detection.checkpointed_offsets.items()
            if (tp := TopicPartition(topic, partition)) in assigned and self._committed.get(tp) != offset
        }
        if not due:
            return
        try:
            await consumer.commit(due)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group's membership changed under us: another process joined with this worker's id, or the session
            # expired. Both may be reading now; stopping (a restart resumes from the checkpoint) keeps one owner.
            raise MembershipLost(f"the group refused the commit after a checkpoint ({exc}); stopping") from exc
        self._committed.update(due)
        # What an operator watches: whether the worker keeps up (records on the topic it has not read yet).
        offsets = self.detection.state.offsets
        lag = sum(
            max(0, end - offsets.get((tp.topic, tp.partition), 0))
            for tp in assigned
            if (end := consumer.highwater(tp)) is not None
        )
        log.info("committed the checkpoint's offsets; %d records on the topic not read yet", lag)


class MembershipLost(RuntimeError):
    """The group no longer counts this worker as the owner of its partitions."""


class _ResumeFromState(ConsumerRebalanceListener):
    """Start each assigned partition at the state's next offset: the checkpoint, not the group, says where the
    state is (the group's commit is at or behind it)."""

    def __init__(self, consumer: AIOKafkaConsumer, detection: Detection):
        self.consumer = consumer
        self.detection = detection

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # the state covers every partition; nothing to hand over

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        offsets = self.detection.state.offsets
        for tp in assigned:
            offset = offsets.get((tp.topic, tp.partition))
            if offset is not None:
                self.consumer.seek(tp, offset)
