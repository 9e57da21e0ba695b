"""The worker's state machine, free of Faust and I/O: raw records in, case revisions and rejections out.

It owns the engine plus what must be checkpointed with it: the next offset per input partition (so a
restarted worker skips what its state already holds), the revision count per case (so the alert for the
n-th flag of a case has the same id however often it is redelivered), and the events read but held back to merge
partitions in event-time order.
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from detector.core.engine import Engine
from detector.core.events import Event, EventRejected, parse_event
from detector.core.findings import Finding
from streams.checkpoint import Checkpoint


class InputRecord(Protocol):
    """What the pipeline reads of an input record: aiokafka's ``ConsumerRecord`` as the reader gets it (copying
    each into a :class:`Record` cost about a quarter of the engine's time), or a :class:`Record`."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One input record as read from Kafka (key and value untouched bytes, or None): what a checkpoint keeps of
    the records it holds back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, record: InputRecord) -> Record:
        if isinstance(record, Record):
            return record
        return cls(record.topic, record.partition, record.offset, record.key, record.value)


@dataclass(frozen=True, slots=True)
class Rejection:
    record: InputRecord
    reason: str


@dataclass(frozen=True, slots=True)
class CaseRevision:
    """A finding and its revision: 1 for the first flag of the case, then 2, 3, ..."""

    finding: Finding
    revision: int


class EventTimeMerger:
    """Merges input partitions by event time before the engine.

    A backlog (a restart, a backfill) is fetched partition by partition, so one partition's events can run days
    ahead of another's, and the engine would reject the slower partition's events as late. The merger holds each
    valid event until every partition delivering in the current batch has reached its time; partitions absent
    from a batch (caught up, or idle) hold nothing back. At most ``max_pending`` events are held: beyond that the
    oldest are released anyway, and may then be late.

    Examples
    --------
    >>> merger = EventTimeMerger()
    >>> def ev(ts): return Event(1_700_000_000.0 + ts, "like", "a", "b")
    >>> r = Record("interactions", 0, 0, None, None)
    >>> [e.ts - 1_700_000_000 for e, _ in merger.merge([(0, ev(5), r), (0, ev(9), r), (1, ev(7), r)])]
    [5.0, 7.0]
    >>> [e.ts - 1_700_000_000 for e, _ in merger.merge([(1, ev(12), r)])]
    [9.0, 12.0]
    """

    def __init__(self, max_pending: int = 200_000):
        self.max_pending = max_pending
        self._heap: list[tuple[float, int, Event, InputRecord]] = []
        self._seq = 0

    def merge(self, batch: Sequence[tuple[int, Event, InputRecord]]) -> list[tuple[Event, InputRecord]]:
        """Add one batch of (partition, event, record); return what may now go to the engine, in event time."""
        frontier: dict[int, float] = {}
        for partition, event, record in batch:
            heapq.heappush(self._heap, (event.ts, self._seq, event, record))
            self._seq += 1
            frontier[partition] = max(frontier.get(partition, event.ts), event.ts)
        horizon = min(frontier.values(), default=float("inf"))
        released = []
        heap = self._heap
        while heap and (heap[0][0] <= horizon or len(heap) > self.max_pending):
            _, _, event, record = heapq.heappop(heap)
            released.append((event, record))
        return released

    def __len__(self) -> int:
        return len(self._heap)

    def dumps(self) -> bytes:
        if not self._heap:
            return b""
        # As Records, whatever the reader handed in: a checkpoint must not depend on the Kafka client's classes.
        held = [(ts, seq, event, Record.of(record)) for ts, seq, event, record in self._heap]  # still a heap
        return pickle.dumps((held, self._seq), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, blob: bytes) -> EventTimeMerger:
        merger = cls()
        if blob:
            merger._heap, merger._seq = pickle.loads(blob)
        return merger


class DetectorState:
    """The engine and the bookkeeping that makes its output idempotent.

    Examples
    --------
    >>> state = DetectorState(Engine())
    >>> records = [Record("interactions", 0, 0, None, None), Record("interactions", 0, 1, b"a", b"{}")]
    >>> revisions, rejections = state.process(records)
    >>> [r.reason for r in rejections], state.offsets
    (['invalid_json: Input is a zero-length, empty document', 'ts: required'], {('interactions', 0): 2})
    >>> state.process(records)  # already processed: skipped
    ([], [])
    """

    def __init__(
        self,
        engine: Engine,
        offsets: dict[tuple[str, int], int] | None = None,
        revisions: dict[str, int] | None = None,
        merger: EventTimeMerger | None = None,
    ):
        self.engine = engine
        self.offsets = dict(offsets or {})
        self.revisions = dict(revisions or {})
        self.merger = merger or EventTimeMerger()

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> DetectorState:
        merger = EventTimeMerger.loads(checkpoint.pending)
        return cls(Engine.restore(checkpoint.engine), checkpoint.offsets, checkpoint.revisions, merger)

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.engine.snapshot(), dict(self.offsets), dict(self.revisions), self.merger.dumps())

    def process(self, records: Sequence[InputRecord]) -> tuple[list[CaseRevision], list[Rejection]]:
        """Validate and score one batch; records at offsets the state already covers are skipped.

        Valid events go to the engine merged across partitions in event-time order (see
        :class:`EventTimeMerger`); held-back events are part of the state and of its checkpoint.
        """
        accepted: list[tuple[int, Event, InputRecord]] = []
        rejections: list[Rejection] = []
        for record in records:
            tp = (record.topic, record.partition)
            if record.offset < self.offsets.get(tp, 0):
                continue
            self.offsets[tp] = record.offset + 1
            try:
                accepted.append((record.partition, parse_event(record.value or b""), record))
            except EventRejected as exc:
                rejections.append(Rejection(record, exc.reason))
        revisions: list[CaseRevision] = []
        released = self.merger.merge(accepted)
        for position, outcome in self.engine.process_each([event for event, _ in released]):
            record = released[position][1]
            if isinstance(outcome, EventRejected):  # too late for the engine's watermark
                rejections.append(Rejection(record, outcome.reason))
                continue
            for finding in outcome:
                revision = self.revisions[finding.case_id] = self.revisions.get(finding.case_id, 0) + 1
                revisions.append(CaseRevision(finding, revision))
        return revisions, rejections
