"""``detector replay``: run the engine over a JSONL file in event-time order, as a backtest.

Deterministic: the same file and engine version always give the same scores. Rejected lines (malformed,
out of contract) go to the rejects file with their line number and reason; the run still exits 0. An account's
score is the highest of any candidate it was in, flagged or not, so a threshold can be swept over the output.

Memory does not grow with the input beyond 32 bytes a line: a first pass reads each line's event time only, and the
lines are read again in time order (a block of nearby lines at a time), parsed and scored (a pipe is spooled to a
temporary file first). The file must not change between the two passes; a change that shows (another size, a line with
another event time, a file cut short while it is read) stops the replay with an error instead of scoring the wrong
lines.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import sys
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import accumulate, compress, islice
from operator import attrgetter
from pathlib import Path
from typing import IO

import numpy as np
import orjson
from tqdm import tqdm

from detector.core.engine import AccountResult, Engine, EngineConfig
from detector.core.events import Event, EventRejected, event_time, parse_event
from detector.core.findings import FLAG_THRESHOLD, MAX_NEW_CASES_PER_DAY, Finding
from detector.core.scoring import Scorer
from models.labels import SchemeIndex

#: Lines handled as one batch, and between progress bar updates: per line, a generator's step or a bar's update
#: would cost about as much as parsing the line.
PROGRESS_EVERY = 4096
#: Bytes of other lines a block may span and still be read at once.
READ_SLACK = 1 << 20


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


class InputChanged(Exception):
    """The input is not what the first pass read: it changed while it was replayed."""


def replay_events(
    events: Iterable[Event],
    config: EngineConfig | None = None,
    engine: Engine | None = None,
    findings: list[Finding] | None = None,
) -> dict[str, AccountResult]:
    """Run the engine over events (sorted here by event time, stably) and return per-account results.

    Every account that appears in an event gets a result, flagged or not, with the highest score it reached. A
    given ``engine`` is used as configured: give it ``keep_forgotten_scores`` for the scores of accounts it forgets.
    ``findings``, when given, receives every finding in the order raised (what the stream would have alerted).
    Raises :class:`EventRejected` for events older than a given engine's watermark allows.
    """
    engine = engine or Engine(replace(config or EngineConfig(), keep_forgotten_scores=True))
    ordered = sorted(events, key=_event_time)
    found = engine.process_batch(ordered)  # sorted input is late only behind a given engine's watermark
    if findings is not None:
        findings.extend(found)
    seen = set(map(_actor, ordered)) | set(map(_target, ordered))
    return {account: account_result(engine, account) for account in seen | set(engine.results)}


def account_result(engine: Engine, account: str) -> AccountResult:
    """The account's result as replay reports it: the engine's, with the highest score of any candidate."""
    result = engine.results.get(account) or AccountResult()
    return replace(result, score=engine.best_score(account))


@dataclass
class LineIndex:
    """Where each valid event of a file is and when it happened: 32 bytes a line, instead of the parsed events
    (about 700 bytes each), so a replay's memory does not grow with its input beyond that."""

    times: array  # event time, per valid line, in file order
    numbers: array  # line number (from 1)
    offsets: array  # byte offset of the line in the file
    lengths: array  # its length in bytes
    size: int = 0  # bytes read

    def __len__(self) -> int:
        return len(self.times)

    def in_time_order(self, handle: IO[bytes], rejects: list[Rejected]) -> Iterator[tuple[list[int], list[Event]]]:
        """Events by event time, stably (events of the same time stay in line order), in batches of up to
        :data:`PROGRESS_EVERY` with their line numbers, parsed from ``handle``, the file, only now: holding every
        parsed event would cost far more memory than parsing costs time. A line that has a time but breaks another
        rule of the contract goes to ``rejects`` here."""
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        if size != self.size:
            raise InputChanged(f"{self.size} bytes read, {size} now")
        order = np.argsort(np.frombuffer(self.times, dtype=np.float64), kind="stable")
        offsets = np.frombuffer(self.offsets, dtype=np.int64)
        ends = offsets + np.frombuffer(self.lengths, dtype=np.int64)
        times, numbers = self.times, self.numbers
        for start in range(0, len(order), PROGRESS_EVERY):
            positions = order[start : start + PROGRESS_EVERY]
            batch_numbers: list[int] = []
            events: list[Event] = []
            for i, line in zip(positions.tolist(), _read_lines(fd, offsets[positions], ends[positions]), strict=True):
                try:
                    event = parse_event(line.strip())
                except EventRejected as exc:
                    rejects.append(Rejected(numbers[i], exc.reason))
                    continue
                if event.ts != times[i]:
                    raise InputChanged(f"line {numbers[i]} has another event time than when it was first read")
                batch_numbers.append(numbers[i])
                events.append(event)
            yield batch_numbers, events


def _read_lines(fd: int, starts: np.ndarray, ends: np.ndarray) -> Iterator[bytes]:
    """The bytes of each line ``starts[k]:ends[k]`` of the file, read with ``pread`` (a mapped file that shrinks
    kills the process with SIGBUS; a read just comes back short). A mostly time-ordered file keeps a block's lines
    close together: their span is read at once; a scattered block is read line by line."""
    low, high = int(starts.min()), int(ends.max())
    if high - low <= 2 * int((ends - starts).sum()) + READ_SLACK:
        span = _read_exactly(fd, low, high)
        for start, end in zip((starts - low).tolist(), (ends - low).tolist(), strict=True):
            yield span[start:end]
    else:
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            yield _read_exactly(fd, start, end)


def _read_exactly(fd: int, start: int, end: int) -> bytes:
    data = os.pread(fd, end - start, start)
    if len(data) != end - start:
        raise InputChanged("the file is shorter than when it was first read")
    return data


def index_lines(batches: Iterable[list[bytes]], rejects: list[Rejected]) -> LineIndex:
    """Index every line that has an event time (blank lines are skipped); the others go to ``rejects`` with the
    contract's reason. The rest of the contract is checked when the line is parsed, in time order."""
    index = LineIndex(array("d"), array("q"), array("q"), array("q"))
    number = offset = 0
    for lines in batches:
        lengths = list(map(len, lines))
        times = list(map(event_time, lines))  # the JSON decoder skips the surrounding whitespace itself
        if None in times:
            for k, ts in enumerate(times):
                if ts is None:
                    times[k] = _time_or_reject(lines[k], number + k + 1, rejects)
        valid = [ts is not None for ts in times]
        index.times.extend(compress(times, valid))
        index.numbers.extend(compress(range(number + 1, number + len(lines) + 1), valid))
        index.offsets.extend(compress(accumulate(lengths, initial=offset), valid))
        index.lengths.extend(compress(lengths, valid))
        number += len(lines)
        offset += sum(lengths)
    index.size = offset
    return index


def _time_or_reject(line: bytes, number: int, rejects: list[Rejected]) -> float | None:
    """The event time of a line :func:`event_time` could not read: None for a blank line, or for a line rejected
    (with the contract's reason). A line it could not read only for its length may still be valid once stripped."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        return parse_event(stripped).ts
    except EventRejected as exc:
        rejects.append(Rejected(number, exc.reason))
        return None


_event_time = attrgetter("ts")
_actor = attrgetter("actor")
_target = attrgetter("target")


def _line_batches(handle: IO[bytes], hidden: bool) -> Iterator[list[bytes]]:
    """The file's lines in lists of :data:`PROGRESS_EVERY`, with a progress bar on stderr in bytes of the file (so
    it shows how much is left), updated after each list."""
    size = os.fstat(handle.fileno()).st_size
    with tqdm(desc="reading", total=size, unit="B", unit_scale=True, disable=hidden, file=sys.stderr) as bar:
        while batch := list(islice(handle, PROGRESS_EVERY)):
            yield batch
            bar.update(sum(map(len, batch)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="events, one JSON object per line")
    parser.add_argument("--out", type=Path, required=True, help="scores, one JSON line per account seen")
    parser.add_argument("--rejects", type=Path, help="rejected input lines: line number and reason")
    parser.add_argument("--findings", type=Path, help="every finding the engine raised, in order")
    parser.add_argument(
        "--candidates", type=Path, help="every scored candidate with its features (input for `detector train`)"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        help="ground truth (`detector simulate --truth` format): label each exported candidate with the scheme it is "
        "about (`scheme_id`, null when organic) and `label`",
    )
    parser.add_argument(
        "--weights", type=Path, help="score with these weights (`detector train --out`) instead of the shipped ones"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=FLAG_THRESHOLD,
        help="flag candidates scored this or more (default: %(default)s; `detector eval --thresholds` compares them)",
    )
    parser.add_argument(
        "--max-new-cases-per-day",
        type=int,
        default=MAX_NEW_CASES_PER_DAY,
        help="new cases a day (event time) scored under 0.95 beyond which they are held back (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    index = _truth_index(args)
    engine = _engine(args)
    rejects: list[Rejected] = []
    with _seekable(args.input) as handle:
        lines = index_lines(_line_batches(handle, args.no_progress), rejects)
        # Each line parsed allocates an event and its strings while the engine's state grows, and none of it
        # forms cycles worth collecting: collect the young generation every 50,000 allocations instead of 700
        # (5-8 % faster) and never walk what was loaded before (the models).
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        try:
            findings, seen = _replay(engine, lines.in_time_order(handle, rejects), len(lines), rejects, args)
        except InputChanged as exc:
            raise SystemExit(
                f"detector replay: {args.input} changed while it was replayed ({exc}); replay a copy"
            ) from None
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
    with args.out.open("wb") as out:
        write_scores(engine, seen, out)
    if args.rejects:
        with args.rejects.open("wb") as out:
            for item in sorted(rejects, key=lambda r: r.line):
                out.write(orjson.dumps({"line": item.line, "reason": item.reason}) + b"\n")
    if args.findings:
        with args.findings.open("wb") as out:
            for finding in findings:
                # orjson writes the dataclass as to_dict() would, without deep-copying the evidence first
                out.write(orjson.dumps(finding) + b"\n")
    if args.candidates:
        with args.candidates.open("wb") as out:
            for candidate in engine.candidates:
                if index is not None:
                    scheme_id = index.about(candidate)
                    candidate = {**candidate, "scheme_id": scheme_id, "label": scheme_id is not None}
                out.write(orjson.dumps(candidate) + b"\n")
    flagged = sum(1 for r in engine.results.values() if r.flagged)
    print(
        f"replayed {engine.stats.events} events ({engine.stats.duplicates} duplicates, {len(rejects)} rejected); "
        f"{len(engine.state)} accounts in memory, {flagged} flagged in {len({f.case_id for f in findings})} cases",
        file=sys.stderr,
    )
    return 0


def _truth_index(args: argparse.Namespace) -> SchemeIndex | None:
    """The ground truth's schemes for labelling the candidates export, read before the replay so that a wrong
    path fails at once."""
    if args.truth is None:
        return None
    if args.candidates is None:
        raise SystemExit("detector replay: --truth labels the --candidates export; give --candidates too")
    try:
        return SchemeIndex(orjson.loads(args.truth.read_bytes())["schemes"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise SystemExit(f"detector replay: cannot read the ground truth {args.truth}: {exc!r}") from None


@contextlib.contextmanager
def _seekable(path: Path) -> Iterator[IO[bytes]]:
    """The input, opened for reading twice (it must not change meanwhile): a pipe, another special file, or a file
    that reports no size (procfs and the like) is spooled to a temporary file first."""
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            yield handle
        return
    with path.open("rb") as source, tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(source, spool)
        spool.seek(0)
        yield spool


def _engine(args: argparse.Namespace) -> Engine:
    """The engine to replay with, its weights checked before any input is read."""
    config = EngineConfig(record_candidates=args.candidates is not None, keep_forgotten_scores=True)
    try:
        engine = Engine(config, scorer=Scorer.from_file(args.weights, config.seed) if args.weights else None)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"detector replay: --weights {args.weights}: {exc}") from None
    try:
        engine.use_flagging(args.threshold, args.max_new_cases_per_day)
    except ValueError as exc:
        raise SystemExit(f"detector replay: {exc}") from None
    return engine


def _replay(
    engine: Engine,
    batches: Iterable[tuple[list[int], list[Event]]],
    count: int,
    rejects: list[Rejected],
    args: argparse.Namespace,
) -> tuple[list[Finding], set[str]]:
    findings: list[Finding] = []
    seen: set[str] = set()
    with tqdm(desc="replaying", unit=" events", total=count, disable=args.no_progress, file=sys.stderr) as bar:
        for numbers, events in batches:
            seen.update(map(_actor, events))
            seen.update(map(_target, events))
            for position, outcome in engine.process_each(events):
                if isinstance(outcome, EventRejected):  # pragma: no cover - sorted input is never late
                    rejects.append(Rejected(numbers[position], outcome.reason))
                else:
                    findings.extend(outcome)
            # A batch is PROGRESS_EVERY lines of the time order, the rejected ones included.
            bar.update(min(PROGRESS_EVERY, count - bar.n))
    return findings, seen


def write_scores(engine: Engine, seen: set[str], out: IO[bytes]) -> None:
    """One line per account seen in the input (the engine itself forgets long-idle, unflagged accounts)."""
    for account in sorted(seen | set(engine.results)):
        result = account_result(engine, account)
        out.write(
            orjson.dumps(
                {
                    "account": account,
                    "score": result.score,
                    "flagged": result.flagged,
                    "first_flagged_ts": result.first_flagged_ts,
                    "schemes": result.schemes,
                    "case_ids": result.case_ids,
                    "evidence": result.evidence,
                }
            )
            + b"\n"
        )
