"""The worker's state machine without Kafka: validation, offsets, revisions and checkpoint/restore."""

from __future__ import annotations

import asyncio
import doctest
import os
import time
import zlib
from pathlib import Path

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from detector.alerts import Decision
from detector.core.engine import MODEL_VERSION, Engine
from detector.core.events import Event
from detector.core.scoring import load_weights, weights_version
from detector.settings import Settings
from models import WEIGHTS_PATH
from streams import checkpoint, pipeline
from streams.detection import Detection
from streams.pipeline import DetectorState, Record

TOPIC = "interactions"


def ring_events(prefix: str = "m", reps: int = 3, start: float = 1_700_000_000.0) -> list[Event]:
    ring = [f"{prefix}{i}" for i in range(6)]
    t, events = start, []
    for rep in range(reps):
        for a in ring:
            for b in ring:
                if a != b:
                    t += 60
                    events.append(Event(t, "endorse", a, b, id=f"{a}>{b}#{rep}"))
    return events


def records(values: list[bytes | None], partitions: int = 3) -> list[Record]:
    """Spread values over partitions round-robin, with per-partition offsets, like a keyed topic would."""
    next_offset = [0] * partitions
    out = []
    for i, value in enumerate(values):
        p = i % partitions
        out.append(Record(TOPIC, p, next_offset[p], None, value))
        next_offset[p] += 1
    return out


def test_rejects_malformed_binary_huge_and_empty_values_with_reasons():
    state = DetectorState(Engine())
    bad = [b"{not json", b"\x00\xff\xfe", b'{"ts": 1}', b"x" * 10_000, None, b'{"ts": 1700000000, "kind": "poke"}']
    revisions, rejections = state.process(records(bad))
    assert revisions == []
    reasons = [r.reason.split(":")[0] for r in rejections]
    assert reasons == ["invalid_json", "invalid_json", "ts", "too_large", "invalid_json", "kind"]
    assert [r.record.offset for r in rejections] == [0, 0, 0, 1, 1, 1]


def test_late_events_are_rejected_not_raised():
    state = DetectorState(Engine())
    now = Event(1_700_100_000.0, "like", "a", "b", id="now")
    late = Event(1_700_000_000.0, "like", "c", "d", id="late")
    state.process(records([now.to_json()], partitions=1))
    _, rejections = state.process([Record(TOPIC, 0, 1, None, late.to_json())])
    assert [r.reason.split(":")[0] for r in rejections] == ["late"]


def test_records_the_state_already_covers_are_skipped():
    state = DetectorState(Engine())
    batch = records([e.to_json() for e in ring_events()])
    first, _ = state.process(batch)
    assert first
    assert state.process(batch) == ([], [])
    assert state.engine.stats.events == len(batch)


def test_revisions_count_flags_per_case():
    state = DetectorState(Engine())
    revisions, _ = state.process(records([e.to_json() for e in ring_events()]))
    assert len({r.finding.case_id for r in revisions}) == 1
    assert [r.revision for r in revisions] == list(range(1, len(revisions) + 1))


def test_restore_from_a_checkpoint_continues_exactly(tmp_path: Path):
    """Stopping at a checkpoint and resuming yields what one uninterrupted run yields: same findings, same
    revisions (so the same alert ids). The input is in event-time order: batches are sorted by event time
    before the engine sees them, so out-of-order input may be scored differently with other batch bounds."""
    values = [e.to_json() for e in ring_events("p", reps=2)]
    values += [e.to_json() for e in ring_events("q", reps=3, start=1_700_100_000.0)]
    batch = records(values)
    half = len(batch) // 2

    straight = DetectorState(Engine())
    expected = [(r.finding.to_dict(), r.revision) for r in straight.process(batch)[0]]

    before = DetectorState(Engine())
    got = [(r.finding.to_dict(), r.revision) for r in before.process(batch[:half])[0]]
    path = tmp_path / "worker.checkpoint"
    checkpoint.save(path, before.checkpoint())
    after = DetectorState.from_checkpoint(checkpoint.load(path))
    # Redelivery from an older committed offset: the first half again, then the rest.
    got += [(r.finding.to_dict(), r.revision) for r in after.process(batch)[0]]

    assert expected and got == expected
    assert after.offsets == straight.offsets


def test_a_torn_checkpoint_is_refused(tmp_path: Path):
    path = tmp_path / "worker.checkpoint"
    state = DetectorState(Engine())
    state.process(records([e.to_json() for e in ring_events()]))
    checkpoint.save(path, state.checkpoint())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        checkpoint.load(path)


def test_a_checkpoint_of_an_older_format_is_refused_with_the_reason(tmp_path: Path):
    path = tmp_path / "worker.checkpoint"
    checkpoint.save(path, DetectorState(Engine()).checkpoint())
    header, _, body = path.read_bytes().partition(b"\n")
    older = checkpoint.FORMAT - 1
    path.write_bytes(orjson.dumps({**orjson.loads(header), "format": older}) + b"\n" + body)
    with pytest.raises(ValueError, match=f"format {older} was written by an older version"):
        checkpoint.load(path)


def test_no_checkpoint_is_none(tmp_path: Path):
    assert checkpoint.load(tmp_path / "absent") is None


def test_checkpoint_header_is_readable_json(tmp_path: Path):
    path = tmp_path / "worker.checkpoint"
    state = DetectorState(Engine())
    state.process(records([e.to_json() for e in ring_events()]))
    checkpoint.save(path, state.checkpoint())
    header = orjson.loads(path.read_bytes().split(b"\n", 1)[0])
    assert sorted(tuple(o) for o in header["offsets"]) == sorted((t, p, o) for (t, p), o in state.offsets.items())
    assert list(header["revisions"].values()) == [max(state.revisions.values())]


@pytest.mark.parametrize("module", [checkpoint, pipeline], ids=lambda m: m.__name__)
def test_streams_doctests(module):
    # streams/ is outside the doctest paths configured in pyproject.toml, so its examples are run from here.
    assert doctest.testmod(module).failed == 0


def backlog_batches(events: list[Event], partitions: int, per_partition: int) -> list[list[Record]]:
    """A backlog as a consumer fetches it: each batch holds the next ``per_partition`` records of every
    partition, so partitions drift apart in event time."""
    lanes: list[list[Record]] = [[] for _ in range(partitions)]
    for event in events:
        p = zlib.crc32(event.actor.encode()) % partitions  # keyed by actor, as published
        lanes[p].append(Record(TOPIC, p, len(lanes[p]), event.actor.encode(), event.to_json()))
    batches = []
    for start in range(0, max(map(len, lanes)), per_partition):
        batches.append([r for lane in lanes for r in lane[start : start + per_partition]])
    return batches


def test_a_multi_partition_backlog_reaches_the_engine_in_event_time_order_like_replay():
    from detector.simulation import SimulationConfig, generate

    events, _truth = generate(SimulationConfig(seed=2, days=10, accounts=400, rings=2, bursts=1))
    expected = [f.case_id for f in Engine().process_batch(events)]
    state, streamed, rejected = DetectorState(Engine()), [], []
    for batch in backlog_batches(events, partitions=4, per_partition=250):
        revisions, rejections = state.process(batch)
        streamed += [r.finding.case_id for r in revisions]
        rejected += rejections
    streamed += [r.finding.case_id for r in state.process([])[0]]  # an empty batch releases what is held
    assert rejected == []
    assert streamed == expected


def as_read_from_kafka(record: Record) -> ConsumerRecord:
    """The record as the worker's reader hands it to the pipeline: aiokafka's own, not copied."""
    topic, partition, offset, key, value = record.topic, record.partition, record.offset, record.key, record.value
    return ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, 0, len(value or b""), [])


@pytest.mark.parametrize("read", [lambda record: record, as_read_from_kafka], ids=["Record", "ConsumerRecord"])
def test_events_held_back_for_merging_survive_a_checkpoint(tmp_path: Path, read):
    events = ring_events()
    batches = [[read(r) for r in batch] for batch in backlog_batches(events, partitions=3, per_partition=20)]
    straight = DetectorState(Engine())
    expected = [r.finding.case_id for b in batches + [[]] for r in straight.process(b)[0]]
    before = DetectorState(Engine())
    got = [r.finding.case_id for r in before.process(batches[0])[0]]
    assert len(before.merger) > 0  # something is held back across the checkpoint
    saved = before.checkpoint()
    assert b"aiokafka" not in saved.pending  # held records are checkpointed as Records, whatever came in
    checkpoint.save(tmp_path / "ckpt", saved)
    after = DetectorState.from_checkpoint(checkpoint.load(tmp_path / "ckpt"))
    got += [r.finding.case_id for b in batches[1:] + [[]] for r in after.process(b)[0]]
    assert got == expected


class _Discard:
    """A sink and dead-letter sink that keeps nothing: these tests are about the checkpoint, not the outputs."""

    async def emit(self, revisions: list) -> list:
        return list(revisions)

    async def reject(self, rejections: list) -> None:
        return None


async def test_a_stop_during_a_checkpoint_write_lets_it_finish_and_the_final_checkpoint_find_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a slow disk: the stop lands while the save's thread is writing
        time.sleep(0.3)
        real_fsync(fd)

    monkeypatch.setattr(checkpoint.os, "fsync", slow_fsync)
    path = tmp_path / "w.checkpoint"
    detection = Detection(DetectorState(Engine()), [_Discard()], _Discard(), path)
    await detection.handle(records([e.to_json() for e in ring_events()], partitions=1))
    periodic = asyncio.create_task(detection.checkpoint())
    await asyncio.sleep(0.1)
    periodic.cancel()  # the worker stopping: the reader's task is cancelled mid-checkpoint
    with pytest.raises(asyncio.CancelledError):
        await periodic
    await detection.checkpoint()  # the reader's way out: waits for the save in progress, then has nothing to save
    covered = {(TOPIC, 0): len(ring_events())}
    assert detection.checkpointed_offsets == covered
    assert checkpoint.load(path).offsets == covered


async def test_a_decision_learned_while_no_interactions_arrive_is_saved_by_the_next_checkpoint(tmp_path: Path):
    path = tmp_path / "w.checkpoint"
    detection = Detection(DetectorState(Engine()), [_Discard()], _Discard(), path)
    decision = Decision.from_json(
        orjson.dumps(
            {
                "decision_id": "d1",
                "case_id": "ring-1",
                "scheme": "farming_ring",
                "accounts": ["a", "b"],
                "decision": "confirmed",
                "policy": "spam-network",
                "reason": "r",
                "reviewer": "ann",
                "decided_at": 1700000000,
                "features": {"tie_density": 1.0, "size": 5.0},
            }
        )
    )
    await detection.learn(decision)
    await detection.checkpoint()
    restored = DetectorState.from_checkpoint(checkpoint.load(path))
    assert "farming_ring" in restored.engine.scorer.feedback


class _Keep(_Discard):
    def __init__(self):
        self.revisions: list = []

    async def emit(self, revisions: list) -> list:
        self.revisions += revisions
        return list(revisions)


async def test_a_worker_resumed_with_refitted_weights_scores_with_them_and_keeps_what_it_learnt(tmp_path: Path):
    path = tmp_path / "w.checkpoint"
    kept = _Keep()
    detection = Detection.restore(path, [kept], _Discard())
    assert detection.origin.endswith(
        "scoring with the shipped weights, flagging at 0.5 with at most 1000 new cases a day"
    )
    first = [e.to_json() for e in ring_events("p")]
    await detection.handle(records(first, partitions=1))
    assert kept.revisions and all(r.finding.model_version == MODEL_VERSION for r in kept.revisions)
    await detection.checkpoint()
    learnt = detection.state.engine.scorer.novelty

    refit = tmp_path / "refit.json"  # every model's intercept 60 logits lower: nothing reaches the threshold
    shipped = orjson.loads(WEIGHTS_PATH.read_bytes())
    refit.write_bytes(orjson.dumps({m: {**w, "intercept": w["intercept"] - 60} for m, w in shipped.items()}))
    kept = _Keep()
    resumed = Detection.restore(path, [kept], _Discard(), weights=refit)
    assert resumed.origin.startswith("resuming from") and f"scoring with {weights_version(refit)}," in resumed.origin
    scorer = resumed.state.engine.scorer
    assert scorer.weights == load_weights(refit) and scorer.novelty.keys() == learnt.keys()
    assert [scorer.novelty[m].seen for m in learnt] == [learnt[m].seen for m in learnt]  # what the trees had seen
    later = [
        Record(TOPIC, 0, len(first) + i, None, e.to_json())
        for i, e in enumerate(ring_events("q", start=1_700_100_000.0))
    ]
    await resumed.handle(later)
    assert kept.revisions == []  # the stricter weights flag nothing

    other = tmp_path / "other.json"
    other.write_bytes(orjson.dumps({"farming_ring": shipped["farming_ring"]}))
    with pytest.raises(ValueError, match="the weights name models"):
        Detection.restore(path, [_Discard()], _Discard(), weights=other)


async def test_a_worker_flags_at_the_operating_point_of_each_start_a_resumed_checkpoint_included(tmp_path: Path):
    path = tmp_path / "w.checkpoint"
    settings = Settings.from_env({"DETECTOR_THRESHOLD": "0.999999", "DETECTOR_MAX_NEW_CASES_PER_DAY": "0"})
    kept = _Keep()
    strict = Detection.restore(
        path, [kept], _Discard(), threshold=settings.threshold, max_new_cases_per_day=settings.max_new_cases_per_day
    )
    assert strict.origin.endswith("flagging at 0.999999 with at most 0 new cases a day")
    first = [e.to_json() for e in ring_events("p")]
    await strict.handle(records(first, partitions=1))
    assert kept.revisions == [] and strict.state.engine.config.max_new_cases_per_day == 0  # none scored that high
    await strict.checkpoint()

    kept = _Keep()  # resumed with the default operating point: the checkpoint's does not stick
    resumed = Detection.restore(path, [kept], _Discard())
    await resumed.handle(
        [Record(TOPIC, 0, len(first) + i, None, e.to_json()) for i, e in enumerate(ring_events("q", start=1.7001e9))]
    )
    assert kept.revisions and min(r.finding.score for r in kept.revisions) < 0.999999
    with pytest.raises(ValueError, match=r"threshold 1.5: a score in \(0, 1\]"):
        Detection.restore(path, [_Discard()], _Discard(), threshold=1.5)
