"""``detector demo``: the whole pipeline on one machine, end to end, in a few minutes.

Starts a local Kafka and Redis (embedded Tansu and Valkey by default), runs the real ``detector worker``,
publishes simulated organic traffic with injected farming rings and follower bursts, waits until the worker has
consumed all of it, then prints the flagged cases from Redis and how many injected schemes were caught.

Every run has its own app id, topics and state directory, so runs never see each other's data; the report
lists the cases this run's alerts name. Cases land in Redis, where ``detector web`` shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from detector.alerts import CloudEvent
from detector.review import CaseStore
from detector.settings import Settings
from detector.simulate import publish
from detector.simulation import SimulationConfig, generate
from detector.stack import local_stack
from streams.process import wait_consumed, wait_ready, worker_process

CASES_SHOWN = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimulationConfig()
    parser.add_argument(
        "--stack",
        choices=("embedded", "real"),
        default="embedded",
        help="embedded: Tansu + Valkey from PyPI wheels (default); real: Apache Kafka + redis-server",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="simulation seed")
    parser.add_argument("--rings", type=int, default=defaults.rings, help="farming rings to inject")
    parser.add_argument("--bursts", type=int, default=defaults.bursts, help="bought follower bursts to inject")
    parser.add_argument("--days", type=float, default=defaults.days, help="span of the simulated traffic")
    parser.add_argument("--accounts", type=int, default=defaults.accounts, help="organic accounts")
    parser.add_argument("--work-dir", type=Path, default=Path(".work/demo"), help="logs and worker state")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the worker")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack and worker running afterwards (Ctrl-C stops them)"
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(demo(args))


async def demo(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    work = args.work_dir.resolve() / f"run-{run_id}"
    print(f"demo run {run_id}: logs and state in {work}")
    with local_stack(args.stack, work_dir=work / "stack") as stack:
        for line in stack.describe():
            print("  " + line)
        settings = run_settings(stack.settings(), run_id, work)
        worker = worker_process(settings, work / "worker.log")
        worker.start()
        try:
            await wait_ready(worker, timeout=args.timeout)
            print(f"  worker: pid {worker.pid}, log {worker.log_path}")

            config = SimulationConfig(
                seed=args.seed, rings=args.rings, bursts=args.bursts, days=args.days, accounts=args.accounts
            )
            events, truth = generate(config)
            started = time.monotonic()
            sent = await publish(events, settings)
            injected = len(truth["schemes"])
            print(f"published {sent} events to {settings.interactions_topic} ({injected} schemes injected)")
            await wait_consumed(settings, worker, sent, timeout=args.timeout)
            print(f"the worker consumed them all in {time.monotonic() - started:.1f} s (publishing included)")

            await report(settings, truth)
            if args.keep:
                await keep_running(settings, stack.env())
        finally:
            worker.stop()
    return 0


def run_settings(base: Settings, run_id: str, work: Path) -> Settings:
    """Topics, consumer group and state of this run only."""
    return replace(
        base,
        app_id=f"demo-{run_id}",
        interactions_topic=f"demo-{run_id}.interactions",
        alerts_topic=f"demo-{run_id}.alerts",
        dlq_topic=f"demo-{run_id}.interactions.dlq",
        decisions_topic=f"demo-{run_id}.decisions",
        state_dir=str(work / "state"),
    )


async def report(settings: Settings, truth: dict) -> int:
    """Print this run's cases (those its alerts name) and the injected schemes caught; return how many were."""
    alerts = await read_alerts(settings)
    case_ids = sorted({a.subject for a in alerts})
    store = CaseStore.from_url(settings.redis_url)
    try:
        cases = sorted([await store.get(case_id) for case_id in case_ids], key=lambda c: -c.score)
    finally:
        await store.redis.aclose()

    print(f"\n{len(cases)} cases flagged, {len(alerts)} alerts on {settings.alerts_topic}")
    print(f"  {'case':<24} {'scheme':<16} {'score':>6} {'accounts':>8}  summary")
    for case in cases[:CASES_SHOWN]:
        print(f"  {case.case_id:<24} {case.scheme:<16} {case.score:>6.3f} {len(case.accounts):>8}  {case.summary}")
    if len(cases) > CASES_SHOWN:
        print(f"  ... and {len(cases) - CASES_SHOWN} more (detector web shows them all)")

    print("\ninjected schemes:")
    caught = 0
    for scheme in truth["schemes"]:
        hits = [c for c in cases if c.scheme == scheme["scheme"] and set(c.accounts) & set(scheme["accounts"])]
        caught += bool(hits)
        found = ", ".join(c.case_id for c in hits) if hits else "MISSED"
        print(f"  {scheme['scheme_id']:<4} {scheme['scheme']:<16} {len(scheme['accounts']):>3} accounts  -> {found}")
    print(f"\ncaught {caught} of {len(truth['schemes'])} injected schemes")
    return caught


async def read_alerts(settings: Settings, quiet_s: float = 3.0) -> list[CloudEvent]:
    """Every alert of this run: its alerts topic from the start until nothing new comes for ``quiet_s``. The
    worker flushed them all before committing, so nothing is still on its way."""
    consumer = AIOKafkaConsumer(
        settings.alerts_topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    alerts: list[CloudEvent] = []
    try:
        while batches := await consumer.getmany(timeout_ms=int(quiet_s * 1000)):
            alerts += [CloudEvent.from_kafka(r.value, r.headers) for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    return alerts


async def keep_running(settings: Settings, stack_env: dict[str, str]) -> None:
    env = {
        **stack_env,
        "DETECTOR_DECISIONS_TOPIC": settings.decisions_topic,
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    print(
        "\nThe stack and the worker keep running. Review the cases in the browser with\n"
        f"  {exports} detector web --demo-user\n"
        f"then open http://{settings.web_host}:{settings.web_port}/ ; decisions there come out as alerts on "
        f"{settings.alerts_topic}.\nCtrl-C stops everything."
    )
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await asyncio.Event().wait()
    print("stopping", file=sys.stderr)
