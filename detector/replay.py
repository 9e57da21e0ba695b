"""``detector replay``: run the engine over a JSONL file in event-time order, as a backtest.

Deterministic: the same file and engine version always give the same scores. Rejected lines (malformed,
out of contract) go to the rejects file with their line number and reason; the run still exits 0. An account's
score is the highest of any candidate it was in, flagged or not, so a threshold can be swept over the output.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

import orjson
from tqdm import tqdm

from detector.core.engine import AccountResult, Engine, EngineConfig
from detector.core.events import Event, EventRejected, parse_event
from detector.core.findings import Finding
from models.labels import SchemeIndex

T = TypeVar("T")
#: Items between progress bar updates: updating it per item would cost about as much as parsing the item.
PROGRESS_EVERY = 4096


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


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
    """
    engine = engine or Engine(replace(config or EngineConfig(), keep_forgotten_scores=True))
    seen: set[str] = set()
    for event in sorted(events, key=_event_time):
        seen.add(event.actor)
        seen.add(event.target)
        found = engine.process(event)
        if findings is not None:
            findings.extend(found)
    return {account: account_result(engine, account) for account in seen | set(engine.results)}


def account_result(engine: Engine, account: str) -> AccountResult:
    """The account's result as replay reports it: the engine's, with the highest score of any candidate."""
    result = engine.results.get(account) or AccountResult()
    return replace(result, score=engine.best_score(account))


def read_events(lines: Iterable[bytes], rejects: list[Rejected]) -> Iterator[tuple[int, Event]]:
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            yield number, parse_event(stripped)
        except EventRejected as exc:
            rejects.append(Rejected(number, exc.reason))


def _event_time(event: Event) -> float:
    return event.ts


def _item_time(item: tuple[int, Event]) -> float:
    return item[1].ts


def _progress(items: Iterable[T], desc: str, unit: str, hidden: bool) -> Iterator[T]:
    """``items``, with a progress bar on stderr updated every :data:`PROGRESS_EVERY` items."""
    total = len(items) if isinstance(items, Sized) else None
    iterator = iter(items)
    with tqdm(desc=desc, unit=unit, total=total, disable=hidden, file=sys.stderr) as bar:
        while chunk := list(islice(iterator, PROGRESS_EVERY)):
            yield from chunk
            bar.update(len(chunk))


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
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    index = _truth_index(args)
    rejects: list[Rejected] = []
    numbered = load(args.input, rejects, hide_progress=args.no_progress)
    # The loaded events live until the end and hold no cycles: keep the cyclic GC from walking them over and
    # over while the engine allocates.
    gc.freeze()
    try:
        engine, findings = _replay(numbered, rejects, args)
    finally:
        gc.unfreeze()
    with args.out.open("wb") as out:
        write_scores(engine, {a for _, e in numbered for a in (e.actor, e.target)}, out)
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
        f"{len(engine.accounts)} accounts in memory, {flagged} flagged in {len({f.case_id for f in findings})} cases",
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


def load(path: Path, rejects: list[Rejected], hide_progress: bool = True) -> list[tuple[int, Event]]:
    """The valid events of a JSONL file with their line numbers, sorted by event time (stably, so events of the
    same time stay in line order); rejected lines go to ``rejects``."""
    # Loading creates an object or two per line and no cycles: the cyclic GC would only walk the growing list
    # again and again.
    gc.disable()
    try:
        with path.open("rb") as handle:
            numbered = list(read_events(_progress(handle, "reading", " lines", hide_progress), rejects))
        numbered.sort(key=_item_time)
    finally:
        gc.enable()
    return numbered


def _replay(
    numbered: list[tuple[int, Event]], rejects: list[Rejected], args: argparse.Namespace
) -> tuple[Engine, list[Finding]]:
    engine = Engine(EngineConfig(record_candidates=args.candidates is not None, keep_forgotten_scores=True))
    findings: list[Finding] = []
    for number, event in _progress(numbered, "replaying", " events", args.no_progress):
        try:
            findings.extend(engine.process(event))
        except EventRejected as exc:  # pragma: no cover - sorted input is never late
            rejects.append(Rejected(number, exc.reason))
    return engine, findings


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
