"""The pure stages, in process: validating events and scoring them with the engine."""

from __future__ import annotations

import time
import tracemalloc

from detector.core.engine import Engine
from detector.core.events import Event, parse_event


def parse_rate(raw: list[bytes]) -> float:
    """Events validated per second by ``parse_event``."""
    started = time.perf_counter()
    for line in raw:
        parse_event(line)
    return len(raw) / (time.perf_counter() - started)


def engine_rate(events: list[Event]) -> float:
    """Events scored per second by ``Engine.process_batch``, from an empty engine, in batches of 1000 (as the
    worker feeds it)."""
    engine = Engine()
    started = time.perf_counter()
    for i in range(0, len(events), 1000):
        engine.process_batch(events[i : i + 1000])
    return len(events) / (time.perf_counter() - started)


def engine_footprint(events: list[Event]) -> tuple[int, int]:
    """(bytes of the engine's snapshot at the end, peak bytes allocated while scoring): the state's size."""
    tracemalloc.start()
    try:
        engine = Engine()
        engine.process_batch(events)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return len(engine.snapshot()), peak
