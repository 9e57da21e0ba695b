"""The detection's work, between the reader and the pure pipeline: one batch in, every sink written, and
checkpoints that decide what may be committed.

Exactly-once effect on state, at-least-once output with stable ids:

1. The reader (streams/reader.py) commits an offset only once a checkpoint that covers it is on disk, so the
   committed offset never passes the checkpoint.
2. The checkpoint holds the engine and the next offset per partition. A restarted worker restores it and reads on
   from those offsets; records the state already holds (redelivered after a rebalance, say) are skipped.
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

from detector.alerts import Decision
from detector.core.engine import Engine
from detector.core.findings import FLAG_THRESHOLD, MAX_NEW_CASES_PER_DAY
from detector.core.scoring import Scorer, load_weights, weights_version
from streams import checkpoint
from streams.pipeline import DetectorState, InputRecord
from streams.sinks import DeadLetterSink, FindingSink

log = logging.getLogger(__name__)


class Detection:
    """Owns the detector state for the interactions reader (one instance per worker, all partitions)."""

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
        #: The next offset per partition that the checkpoint on disk covers: what may be committed.
        self.checkpointed_offsets: dict[tuple[str, int], int] = dict(state.offsets)
        self._lock = asyncio.Lock()
        self._uncheckpointed = 0  # records handled since the last checkpoint
        self._dirty = False  # the state moved since the last checkpoint (held events released count too)
        self._in_flight = False
        self._quiet = True  # no batch since the last checkpoint interval began

    @classmethod
    def restore(
        cls,
        path: Path,
        sinks: Sequence[FindingSink],
        dead_letters: DeadLetterSink,
        weights: Path | None = None,
        threshold: float = FLAG_THRESHOLD,
        max_new_cases_per_day: int = MAX_NEW_CASES_PER_DAY,
    ) -> Detection:
        """Resume from the checkpoint at ``path``, or start with an empty engine when there is none; score with
        ``weights`` (a ``detector train --out`` file), else the shipped weights, and flag at ``threshold`` with at
        most ``max_new_cases_per_day`` new cases a day (the settings of this start, not the checkpoint's)."""
        saved = checkpoint.load(path)
        chosen, version = load_weights(weights), weights_version(weights) if weights else ""
        if saved is None:
            state = DetectorState(Engine(scorer=Scorer(chosen, version=version)))
        else:
            # A checkpoint holds the weights it scored with: the configured ones (a refit, an upgrade's) apply from
            # now on, and the online models keep what they learnt.
            state = DetectorState.from_checkpoint(saved)
            state.engine.scorer.use_weights(chosen, version)
        state.engine.use_flagging(threshold, max_new_cases_per_day)
        detection = cls(state, sinks, dead_letters, path)
        origin = (
            f"no checkpoint at {path}: starting with empty state"
            if saved is None
            else (f"resuming from {path} at offsets {saved.offsets}")
        )
        detection.origin = (
            f"{origin}; scoring with {version or 'the shipped weights'}, flagging at {threshold:g} with at most "
            f"{max_new_cases_per_day} new cases a day"
        )
        return detection

    async def handle(self, records: Sequence[InputRecord]) -> None:
        """Process one batch; returns once cases, alerts and dead letters are all written."""
        if records:
            self._quiet = False
        async with self._lock:
            self._in_flight = True
            revisions, rejections = self.state.process(records)
            await self.dead_letters.reject(rejections)
            # In order: cases before alerts, so that a platform following an alert's link finds the case.
            for sink in self.sinks:
                revisions = await sink.emit(revisions)
            self._in_flight = False
            self._uncheckpointed += len(records)
            self._dirty = True

    async def release_if_quiet(self) -> None:
        """Once no batch came for a whole checkpoint interval, release the events held back for merging partitions
        by event time: no partition is delivering anything older."""
        if self._quiet and len(self.state.merger):
            await self.handle([])
        self._quiet = True

    async def learn(self, decision: Decision) -> None:
        """Teach the engine's online classifier a reviewer's verdict (confirmed or dismissed, with features).

        The learned state is saved with the next checkpoint, interactions or not; a decision learned after the last
        checkpoint is learned again only if the decisions topic redelivers it.
        """
        if decision.label is None or not decision.features:
            return
        async with self._lock:
            self.state.engine.learn_decision(decision.scheme, decision.features, decision.label)
            self._dirty = True

    def _save(self) -> checkpoint.Checkpoint:
        saved = self.state.checkpoint()
        checkpoint.save(self.checkpoint_path, saved)
        return saved

    async def checkpoint(self) -> None:
        """Persist the state if it moved (not while a batch is in flight: after a failed batch, never); then
        ``checkpointed_offsets`` says what may be committed."""
        # Shielded: a stop that cancels the caller mid-save must not release the lock while the save's thread runs
        # on (a second save would race it for the same temporary file, and the state could move in between). The
        # save completes holding the lock; a checkpoint asked for meanwhile waits for it and finds nothing to do.
        await asyncio.shield(self._checkpoint())

    async def _checkpoint(self) -> None:
        async with self._lock:
            if self._in_flight or not self._dirty:
                return
            started = time.perf_counter()
            # Snapshot and write in a thread: pickling holds the GIL for long stretches, but the loop gets turns in
            # between (its longest stall about half the pickling time, measured), so heartbeats go on. The lock
            # keeps every batch and decision out meanwhile, so the state holds still.
            saved = await asyncio.to_thread(self._save)
            log.info(
                "checkpoint: %d records, engine %d bytes, %.3fs",
                self._uncheckpointed,
                len(saved.engine),
                time.perf_counter() - started,
            )
            self._uncheckpointed, self._dirty = 0, False
            self.checkpointed_offsets = saved.offsets
