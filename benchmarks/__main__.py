"""``python -m benchmarks``: medians over repeats, each rate also as a ratio to a baseline: raw aiokafka reading
for the stages of the worker, a bare ``orjson.loads`` loop over the same lines for ``detector replay`` end to end.

Traffic is the simulator's organic stream with injected schemes (about 90,000 events by default), so the engine
works on realistic data. The broker is Apache Kafka (``--stack real``, the default) or the embedded Tansu broker;
``DETECTOR_KAFKA_BOOTSTRAP`` / ``DETECTOR_REDIS_URL`` point it at running services instead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks import broker
from benchmarks.engine import engine_footprint, engine_rate, parse_rate, raw_json_rate, replay_rate
from detector.settings import Settings
from detector.simulation import SimulationConfig, generate
from detector.stack import local_stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000, help="organic accounts simulated (events scale)")
    parser.add_argument("--days", type=float, default=30.0, help="days of traffic simulated")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--stack", choices=("real", "embedded"), default="real", help="which local broker to start")
    parser.add_argument("--engine-only", action="store_true", help="skip the broker measurements")
    parser.add_argument(
        "--quick", action="store_true", help="in-process stages only (no broker), on 1000 synthetic accounts"
    )
    args = parser.parse_args()
    if args.quick:
        args.engine_only, args.accounts = True, 1000

    events, _truth = generate(SimulationConfig(seed=0, accounts=args.accounts, days=args.days))
    # The real, sparser network the evaluation runs on (detector eval's traffic): the engine's neighbourhood
    # searches are cheaper there.
    alpha, _truth = generate(SimulationConfig(background="bitcoin-alpha", seed=0, rings=8, bursts=6))
    raw = [event.to_json() for event in events]
    raw_alpha = [event.to_json() for event in alpha]
    print(f"{len(events)} simulated events, {sum(map(len, raw)) / len(raw):.0f} bytes each on average")
    print(f"{len(alpha)} Bitcoin-Alpha events with injected schemes")
    rows: list[tuple[str, list[float]]] = [
        ("parse_event (validation)", repeat(args.repeats, lambda: parse_rate(raw))),
        ("Engine.process_batch", repeat(args.repeats, lambda: engine_rate(events))),
        ("Engine, Bitcoin-Alpha stream", repeat(args.repeats, lambda: engine_rate(alpha))),
    ]
    for name, stream in (("synthetic", events), ("Bitcoin-Alpha", alpha)):
        snapshot, peak = engine_footprint(stream)
        print(
            f"engine memory, {name} ({len(stream)} events): snapshot {snapshot / 1e6:.1f} MB, "
            f"peak resident memory added while scoring {peak / 1e6:.1f} MB"
        )
    if not args.engine_only:
        rows = asyncio.run(broker_rows(args, raw)) + rows
    report(rows)
    report(
        [
            ("orjson.loads, Bitcoin-Alpha", repeat(args.repeats, lambda: raw_json_rate(raw_alpha))),
            ("replay, Bitcoin-Alpha", repeat(args.repeats, lambda: replay_rate(raw_alpha))),
            ("replay, synthetic", repeat(args.repeats, lambda: replay_rate(raw))),
        ]
    )


async def broker_rows(args: argparse.Namespace, raw: list[bytes]) -> list[tuple[str, list[float]]]:
    with tempfile.TemporaryDirectory() as tmp, local_stack(args.stack, work_dir=Path(tmp) / "stack") as stack:
        print("\n".join(stack.describe()))
        settings = stack.settings(Settings(interactions_topic=f"bench-{uuid.uuid4().hex[:8]}.interactions"))
        await broker.publish(settings, raw)
        n = len(raw)
        raw_rates = [await broker.raw_read_rate(settings, n) for _ in range(args.repeats)]
        each = repeat(args.repeats, lambda: broker.faust_read_rate(settings, n, "each"))
        take = repeat(args.repeats, lambda: broker.faust_read_rate(settings, n, "take"))
        pipeline = [await broker.pipeline_rate(settings, n, Path(tmp)) for _ in range(args.repeats)]
    return [
        ("aiokafka getmany (baseline)", raw_rates),
        ("Faust agent, per record", each),
        ("Faust agent, take(1000)", take),
        ("detector worker, end to end", pipeline),
    ]


def repeat(times: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(times)]


def report(rows: list[tuple[str, list[float]]]) -> None:
    baseline = statistics.median(rows[0][1])
    print(f"\nratio: median / median of the first row ({rows[0][0]})")
    print(f"{'stage':<30} {'events/s (median)':>18} {'min':>10} {'max':>10} {'ratio':>8}")
    for name, rates in rows:
        median = statistics.median(rates)
        print(f"{name:<30} {median:>18,.0f} {min(rates):>10,.0f} {max(rates):>10,.0f} {median / baseline:>8.2f}x")


if __name__ == "__main__":
    main()
