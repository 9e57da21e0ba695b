"""The worker's state machine, free of Faust and I/O: raw records in, case revisions and rejections out.

It owns the engine plus what must be checkpointed with it: the next offset per input partition (so a
restarted worker skips what its state already holds) and the revision count per case (so the alert for the
n-th flag of a case has the same id however often it is redelivered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detector.core.engine import Engine
from detector.core.events import Event, EventRejected, parse_event
from detector.core.findings import Finding
from streams.checkpoint import Checkpoint


@dataclass(frozen=True, slots=True)
class Record:
    """One input record as read from Kafka (key and value untouched bytes, or None)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejection:
    record: Record
    reason: str


@dataclass(frozen=True, slots=True)
class CaseRevision:
    """A finding and its revision: 1 for the first flag of the case, then 2, 3, ..."""

    finding: Finding
    revision: int


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
    ):
        self.engine = engine
        self.offsets = dict(offsets or {})
        self.revisions = dict(revisions or {})

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> DetectorState:
        return cls(Engine.restore(checkpoint.engine), checkpoint.offsets, checkpoint.revisions)

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.engine.snapshot(), dict(self.offsets), dict(self.revisions))

    def process(self, records: Sequence[Record]) -> tuple[list[CaseRevision], list[Rejection]]:
        """Validate and score one batch; records at offsets the state already covers are skipped.

        Valid events go to the engine in event-time order (stable on ties), which keeps events from
        different partitions within the engine's allowed lateness.
        """
        accepted: list[tuple[Event, Record]] = []
        rejections: list[Rejection] = []
        for record in records:
            tp = (record.topic, record.partition)
            if record.offset < self.offsets.get(tp, 0):
                continue
            self.offsets[tp] = record.offset + 1
            try:
                accepted.append((parse_event(record.value or b""), record))
            except EventRejected as exc:
                rejections.append(Rejection(record, exc.reason))
        accepted.sort(key=_event_time)
        revisions: list[CaseRevision] = []
        for event, record in accepted:
            try:
                findings = self.engine.process(event)
            except EventRejected as exc:  # too late for the engine's watermark
                rejections.append(Rejection(record, exc.reason))
                continue
            for finding in findings:
                revision = self.revisions[finding.case_id] = self.revisions.get(finding.case_id, 0) + 1
                revisions.append(CaseRevision(finding, revision))
        return revisions, rejections


def _event_time(item: tuple[Event, Record]) -> float:
    return item[0].ts
