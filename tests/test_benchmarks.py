"""The benchmark's in-process stages run on the code as it is (their speed is `make bench`'s to report)."""

from __future__ import annotations

from benchmarks.engine import engine_rate, parse_rate, raw_json_rate, replay_rate
from detector.simulation import SimulationConfig, generate


def test_every_in_process_stage_measures_a_rate_on_a_small_stream():
    events, _ = generate(SimulationConfig(seed=1, rings=1, bursts=1, days=3, accounts=150))
    raw = [event.to_json() for event in events]
    rates = [raw_json_rate(raw), parse_rate(raw), engine_rate(events), replay_rate(raw)]
    assert all(rate > 0 for rate in rates)
