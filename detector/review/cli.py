"""``detector cases``: work review cases from a terminal, against the same Redis as the UI.

Examples::

    detector cases list --state open --scheme farming_ring
    detector cases --as alice claim --next
    detector cases --as alice decide ring-205830ca5b23bbe3 confirmed --policy inauthentic-engagement \
        --reason "closed loop of endorsements"
    detector cases --as alice allowlist add some_account --reason "verified outlet" --days 30
    detector cases export --out decisions.jsonl     # then: detector train --decisions decisions.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import orjson

from detector.core.findings import SCHEMES
from detector.review.config import store_from_env
from detector.review.policies import POLICIES
from detector.review.sink import KafkaDecisionSink
from detector.review.store import DECISIONS, STATES, Case, CaseStore, ReviewError
from detector.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--as", dest="actor", default=getpass.getuser(), help="who acts (default: the OS user)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="list cases")
    listing.add_argument("--state", choices=(*STATES, *DECISIONS))
    listing.add_argument("--scheme", choices=SCHEMES)
    listing.add_argument("--min-score", type=float)
    listing.add_argument("--max-score", type=float)
    listing.add_argument("--min-age-hours", type=float)
    listing.add_argument("--max-age-hours", type=float)
    listing.add_argument("--limit", type=int, default=50)

    show = sub.add_parser("show", help="a case with its evidence and audit history")
    show.add_argument("case_id")

    claim = sub.add_parser("claim", help="claim a case, or the next one in the queue")
    target = claim.add_mutually_exclusive_group(required=True)
    target.add_argument("case_id", nargs="?")
    target.add_argument("--next", action="store_true")
    claim.add_argument("--scheme", choices=SCHEMES, help="with --next: only this scheme")

    release = sub.add_parser("release", help="give a claimed case back to the queue")
    release.add_argument("case_id")

    decide = sub.add_parser("decide", help="decide a case (open, or claimed by you)")
    decide.add_argument("case_id")
    decide.add_argument("decision", choices=DECISIONS)
    decide.add_argument("--policy", required=True, choices=sorted(POLICIES))
    decide.add_argument("--reason", required=True)
    decide.add_argument("--note")

    reopen = sub.add_parser("reopen", help="put a decided case back in the queue")
    reopen.add_argument("case_id")
    reopen.add_argument("--reason", required=True)

    allow = sub.add_parser("allowlist", help="accounts never flagged again")
    allow_sub = allow.add_subparsers(dest="allow_action", required=True, metavar="list|add|remove")
    allow_sub.add_parser("list")
    add = allow_sub.add_parser("add")
    add.add_argument("account")
    add.add_argument("--reason", required=True)
    add.add_argument("--days", type=float, help="expire after this many days (default: never)")
    remove = allow_sub.add_parser("remove")
    remove.add_argument("account")

    sub.add_parser("maintain", help="return expired leases, publish pending decisions, apply retention")

    export = sub.add_parser(
        "export", help="write every decided case as a labelled line for `detector train --decisions`"
    )
    export.add_argument("--out", type=Path, required=True, help="JSONL file (replaced once complete)")


def run(args: argparse.Namespace) -> int:
    store = store_from_env(Settings.from_env())
    try:
        return asyncio.run(_run(store, args))
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


#: Actions that publish decisions; the others need no Kafka connection.
PUBLISHING_ACTIONS = frozenset({"decide", "maintain"})


async def _run(store: CaseStore, args: argparse.Namespace) -> int:
    sink = store.sink if args.action in PUBLISHING_ACTIONS else None
    store.sink = sink
    if isinstance(sink, KafkaDecisionSink):
        await sink.start()
    try:
        return await _act(store, args)
    finally:
        if isinstance(sink, KafkaDecisionSink):
            await sink.stop()
        await store.redis.aclose()


async def _act(store: CaseStore, args: argparse.Namespace) -> int:
    actor = args.actor
    if args.action == "list":
        hours = 3600.0
        cases = await store.list_cases(
            state=args.state,
            scheme=args.scheme,
            min_score=args.min_score,
            max_score=args.max_score,
            min_age_seconds=None if args.min_age_hours is None else args.min_age_hours * hours,
            max_age_seconds=None if args.max_age_hours is None else args.max_age_hours * hours,
            limit=args.limit,
        )
        _emit(args, [c.to_dict() for c in cases], "\n".join(_line(c) for c in cases) or "no cases")
    elif args.action == "show":
        case = await store.get(args.case_id)
        audit = await store.case_audit(args.case_id)
        trail = [f"  {_when(e.ts)}  {e.actor:<12} {e.action:<24} {_compact(e.details)}" for e in audit]
        text = "\n".join([_line(case), f"  {case.summary}", f"  accounts: {', '.join(case.accounts)}", *trail])
        _emit(args, {**case.to_dict(), "audit": [asdict(e) for e in audit]}, text)
    elif args.action == "claim":
        case = (
            await store.claim_next(actor, scheme=args.scheme) if args.next else await store.claim(args.case_id, actor)
        )
        if case is None:
            _emit(args, None, "no open case")
            return 1
        _emit(args, case.to_dict(), f"claimed until {_when(case.lease_expires_at)}: {_line(case)}")
    elif args.action == "release":
        await store.release(args.case_id, actor)
        _emit(args, {"released": args.case_id}, f"released {args.case_id}")
    elif args.action == "decide":
        record = await store.decide(args.case_id, actor, args.decision, args.policy, args.reason, args.note)
        _emit(args, record, f"{args.case_id}: {args.decision} ({record['decision_id']})")
    elif args.action == "reopen":
        case = await store.reopen(args.case_id, actor, args.reason)
        _emit(args, case.to_dict(), f"reopened: {_line(case)}")
    elif args.action == "allowlist":
        return await _allowlist(store, args)
    elif args.action == "export":
        counts = await _export(store, args.out)
        _emit(args, counts, f"{args.out}: " + _compact(counts))
    else:
        done = await store.maintain()
        _emit(args, done, _compact(done))
    return 0


async def _allowlist(store: CaseStore, args: argparse.Namespace) -> int:
    if args.allow_action == "list":
        entries = await store.allowlist()
        lines = [
            f"{e.account}\t{e.reason}\tby {e.added_by}\tuntil {_when(e.expires_at) if e.expires_at else 'never'}"
            for e in entries
        ]
        _emit(args, [asdict(e) for e in entries], "\n".join(lines) or "allowlist is empty")
    elif args.allow_action == "add":
        expires = time.time() + args.days * 86400 if args.days else None
        entry = await store.allow(args.account, args.actor, args.reason, expires)
        _emit(args, asdict(entry), f"allowlisted {args.account}")
    elif not await store.disallow(args.account, args.actor):
        print(f"{args.account} was not allowlisted", file=sys.stderr)
        return 1
    else:
        _emit(args, {"removed": args.account}, f"removed {args.account}")
    return 0


async def _export(store: CaseStore, out: Path) -> dict[str, int]:
    """Write the decided cases' last decisions, with the features the reviewer saw, as training lines; the file
    appears only once complete."""
    counts: Counter[str] = Counter()
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as file:
        async for _, row in store.labelled_decisions():
            if row is None:
                counts["without_record"] += 1  # decided before decision records were kept
                continue
            file.write(orjson.dumps(row) + b"\n")
            counts[row["decision"]] += 1
    partial.replace(out)
    return {"exported": sum(n for k, n in counts.items() if k != "without_record"), **counts}


def _emit(args: argparse.Namespace, data: object, text: str) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if args.json else text)


def _line(case: Case) -> str:
    status = {"claimed": f"claimed by {case.claimed_by}", "decided": f"{case.decision} by {case.decided_by}"}
    accounts = ", ".join(case.accounts[:3]) + (f" +{len(case.accounts) - 3}" if len(case.accounts) > 3 else "")
    return f"{case.case_id}\t{case.scheme}\t{case.score:.2f}\t{status.get(case.state, case.state)}\t{accounts}"


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _compact(details: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in details.items() if v not in (None, "", []))
