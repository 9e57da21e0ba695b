"""The engine's compiled per-account state (``EngineState``): every event accounted for, snapshots that resume
exactly from any point, and damaged snapshots refused with a reason."""

from __future__ import annotations

import random

import pytest
from msgspec.structs import replace

from detector.core._native import DAY, EngineState
from detector.core.engine import Engine, EngineConfig
from detector.core.events import Event, EventRejected
from detector.simulation import SimulationConfig, generate

#: Idle accounts are forgotten within this stream, so eviction and the scores kept for forgotten accounts are in
#: the state too.
CONFIG = EngineConfig(idle_eviction_days=6, keep_forgotten_scores=True, allowed_lateness_s=600)


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    """Simulated traffic with rings and bursts, plus what a real feed also carries: redelivered events (same id),
    withdrawn boosts, and events arriving a little late."""
    events, _truth = generate(SimulationConfig(seed=11, accounts=300, days=20, rings=2, bursts=2))
    rng = random.Random(11)
    noisy: list[Event] = []
    for event in events:
        noisy.append(event)
        roll = rng.random()
        if roll < 0.05 and event.id is not None:
            noisy.append(event)  # redelivered
        elif roll < 0.08:
            noisy.append(replace(event, kind="unfollow", id=None, ts=event.ts + 60))
        elif roll < 0.10:
            noisy.append(replace(event, id=f"late-{len(noisy)}", ts=event.ts - rng.choice([300, 3600])))
    return noisy


def run(engine: Engine, events: list[Event]) -> tuple[list[dict], int]:
    findings, late = [], 0
    for event in events:
        try:
            findings += [f.to_dict() for f in engine.process(event)]
        except EventRejected:
            late += 1
    return findings, late


def observable(engine: Engine, accounts: set[str]) -> tuple:
    """What the engine's users can see of its state."""
    scores = {a: engine.best_score(a) for a in sorted(accounts)}
    held = sorted(a for a in accounts if a in engine.state)
    return engine.stats, engine.watermark, scores, held, {a: engine.state.burst_window(a) for a in held}


def test_every_event_is_processed_counted_as_a_duplicate_or_rejected_as_late(stream):
    engine = Engine(CONFIG)
    _findings, late = run(engine, stream)
    stats = engine.stats
    assert late > 0 and stats.duplicates > 0 and stats.evicted_accounts > 0  # the stream exercises all of them
    assert stats.events + stats.duplicates + stats.late == len(stream)
    assert stats.late == late


def test_a_snapshot_taken_anywhere_resumes_exactly(stream):
    accounts = {e.actor for e in stream} | {e.target for e in stream}
    whole = Engine(CONFIG)
    expected = run(whole, stream)
    for cut in (1, len(stream) // 7, len(stream) // 3, len(stream) // 2, len(stream) - 5):
        first = Engine(CONFIG)
        before, late_before = run(first, stream[:cut])
        resumed = Engine.restore(first.snapshot())
        after, late_after = run(resumed, stream[cut:])
        assert (before + after, late_before + late_after) == expected, f"cut at event {cut}"
        assert observable(resumed, accounts) == observable(whole, accounts), f"cut at event {cut}"


def test_a_damaged_state_is_refused_with_a_reason(stream):
    engine = Engine(CONFIG)
    run(engine, stream[:2000])
    state = engine.state.__getstate__()
    damaged = [state[:cut] for cut in range(0, len(state), max(1, len(state) // 300))]
    damaged += [state + b"\0", b"\x09" + state[1:]]
    for blob in damaged:
        target = EngineState(*engine.state.__getnewargs__())
        with pytest.raises(ValueError, match="engine state"):
            target.__setstate__(blob)


def test_late_events_leave_the_state_untouched():
    engine = Engine(EngineConfig(allowed_lateness_s=60))
    engine.process(Event(1_700_000_000.0, "like", "a", "b", id="first"))
    with pytest.raises(EventRejected, match=r"late: 3540s behind the watermark"):
        engine.process(Event(1_700_000_000.0 - 3540, "like", "c", "d", id="too-late"))
    assert "c" not in engine.state and engine.stats.events == 1
    # The late event's id was not remembered: delivered again in time, it counts.
    engine.process(Event(1_700_000_000.0 - 30, "like", "c", "d", id="too-late"))
    assert "c" in engine.state and engine.stats.events == 2 and engine.watermark == 1_700_000_000.0


def test_idle_accounts_are_forgotten_weekly_by_event_time():
    engine = Engine(EngineConfig(idle_eviction_days=10))
    engine.process(Event(1_700_000_000.0, "like", "old", "older"))
    engine.process(Event(1_700_000_000.0 + 9 * DAY, "like", "a", "b"))
    assert "old" in engine.state  # idle for 9 days of 10
    engine.process(Event(1_700_000_000.0 + 18 * DAY, "like", "a", "b"))
    assert "old" not in engine.state and "older" not in engine.state and "a" in engine.state
    assert engine.stats.evicted_accounts == 2
