"""The interactions agent's work, between Faust and the pure pipeline: one batch in, every sink written, and
periodic checkpoints that decide what Faust may commit.

Exactly-once effect on state, at-least-once output with stable ids:

1. Events are taken with ``noack_take``: Faust commits an offset only after we ack its event, and we ack only
   once a checkpoint that covers the event is on disk. So the committed offset never passes the checkpoint.
2. The checkpoint holds the engine and the next offset per partition. A restarted worker restores it, and
   Faust redelivers from the committed offset (at or before the checkpoint's): records the state already holds
   are skipped, the rest are processed again.
3. Reprocessing after a crash re-raises the same findings (the engine is deterministic, case ids are
   stable, revision counters are checkpointed with it), so the case store upserts the same cases and the
   alerts carry the same ids.
4. A batch is "in flight" from the engine's first event until every sink has it. No checkpoint is taken while
   one is: a crash or shutdown mid-batch leaves the previous checkpoint, and the batch is redone on restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from faust.types import EventT, Message

from detector.alerts import Decision
from detector.core.engine import Engine
from streams import checkpoint
from streams.pipeline import DetectorState, Record
from streams.sinks import DeadLetterSink, FindingSink

log = logging.getLogger(__name__)


class Detection:
    """Owns the detector state for the interactions agent (one instance per worker, all partitions)."""

    def __init__(
        self,
        state: DetectorState,
        sinks: Sequence[FindingSink],
        dead_letters: DeadLetterSink,
        checkpoint_path: Path,
    ):
        self.state = state
        self.sinks = sinks
        self.dead_letters = dead_letters
        self.checkpoint_path = checkpoint_path
        #: Where the state came from, for the startup log (Faust sets up logging only once the worker starts).
        self.origin = "new state"
        self._lock = asyncio.Lock()
        self._unacked: list[EventT] = []
        self._in_flight = False
        self._quiet = True  # no batch since the last timer tick

    @classmethod
    def restore(cls, path: Path, sinks: Sequence[FindingSink], dead_letters: DeadLetterSink) -> Detection:
        """Resume from the checkpoint at ``path``, or start with an empty engine when there is none."""
        saved = checkpoint.load(path)
        if saved is None:
            detection = cls(DetectorState(Engine()), sinks, dead_letters, path)
            detection.origin = f"no checkpoint at {path}: starting with empty state"
            return detection
        detection = cls(DetectorState.from_checkpoint(saved), sinks, dead_letters, path)
        detection.origin = f"resuming from {path} at offsets {saved.offsets}"
        return detection

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process one batch; returns once cases, alerts and dead letters are all written."""
        records = [_record(e.message) for e in events]
        if events:
            self._quiet = False
        async with self._lock:
            self._in_flight = True
            revisions, rejections = self.state.process(records)
            await self.dead_letters.reject(rejections)
            # In order: cases before alerts, so that a platform following an alert's link finds the case.
            for sink in self.sinks:
                revisions = await sink.emit(revisions)
            self._in_flight = False
            self._unacked.extend(events)

    async def release_if_quiet(self) -> None:
        """Once no batch came for a whole timer interval, release the events held back for merging partitions
        by event time: no partition is delivering anything older."""
        if self._quiet and len(self.state.merger):
            await self.handle([])
        self._quiet = True

    async def learn(self, decision: Decision) -> None:
        """Teach the engine's online classifier a reviewer's verdict (confirmed or dismissed, with features).

        The learned state is saved with the next checkpoint; a decision learned after the last checkpoint is
        learned again only if the decisions topic redelivers it.
        """
        if decision.label is None or not decision.features:
            return
        async with self._lock:
            self.state.engine.learn_decision(decision.scheme, decision.features, decision.label)

    async def checkpoint(self) -> None:
        """Persist the state if it moved, then let Faust commit what it covers (not while a batch is in flight:
        after a failed batch, never)."""
        async with self._lock:
            if self._in_flight or not self._unacked:
                return
            started = time.perf_counter()
            saved = self.state.checkpoint()
            await asyncio.to_thread(checkpoint.save, self.checkpoint_path, saved)
            for event in self._unacked:
                event.ack()
            log.info(
                "checkpoint: %d events, engine %d bytes, %.3fs",
                len(self._unacked),
                len(saved.engine),
                time.perf_counter() - started,
            )
            self._unacked.clear()


def _record(message: Message) -> Record:
    return Record(message.topic, message.partition, message.offset, message.key, message.value)
