"""The pure stages, in process: validating events, scoring them with the engine, and ``detector replay`` end to
end."""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import orjson

from detector import replay
from detector.core.engine import Engine
from detector.core.events import Event, parse_event


def parse_rate(raw: list[bytes]) -> float:
    """Events validated per second by ``parse_event``."""
    started = time.perf_counter()
    for line in raw:
        parse_event(line)
    return len(raw) / (time.perf_counter() - started)


def raw_json_rate(raw: list[bytes]) -> float:
    """Lines decoded per second by ``orjson.loads`` alone, nothing validated: the baseline of the replay rows."""
    started = time.perf_counter()
    for line in raw:
        orjson.loads(line)
    return len(raw) / (time.perf_counter() - started)


def replay_rate(raw: list[bytes]) -> float:
    """Events per second through ``detector replay`` end to end: read, parse, validate, sort, score, and write
    scores, findings and rejects (the process's start and imports excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in.jsonl").write_bytes(b"\n".join(raw) + b"\n")
        # The command's own parser, so every option it grows has its default here too.
        parser = argparse.ArgumentParser()
        replay.add_arguments(parser)
        args = parser.parse_args(
            [
                str(work / "in.jsonl"),
                *("--out", str(work / "scores.jsonl"), "--rejects", str(work / "rejects.jsonl")),
                *("--findings", str(work / "findings.jsonl"), "--no-progress"),
            ]
        )
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            replay.run(args)
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
    """(bytes of the engine's snapshot at the end, peak resident memory the scoring added): the state's size.

    Measured in a forked child, by the kernel's resident-set high-water mark (Linux): the compiled graph allocates
    outside Python's allocator, where ``tracemalloc`` cannot see it.
    """
    context = multiprocessing.get_context("fork")  # the child inherits the events instead of unpickling them
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_footprint_in_child, args=(events, send))
    child.start()
    footprint = receive.recv()
    child.join()
    return footprint


def _footprint_in_child(events: list[Event], send: Connection) -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets the high-water mark to the current resident set
    before = _status_kib("VmHWM")
    engine = Engine()
    engine.process_batch(events)
    send.send((len(engine.snapshot()), (_status_kib("VmHWM") - before) * 1024))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)
