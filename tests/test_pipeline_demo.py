"""``detector demo`` end to end, as ``make demo`` runs it: embedded broker and Valkey, the real worker, a report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from detector.core.engine import Engine
from detector.simulation import SimulationConfig, generate

pytestmark = pytest.mark.integration


def test_the_demo_catches_injected_schemes_and_exits_by_itself(tmp_path: Path):
    # The demo starts its own stack unless these point it at one; the session's services are not what it shows.
    env = {k: v for k, v in os.environ.items() if k not in ("DETECTOR_KAFKA_BOOTSTRAP", "DETECTOR_REDIS_URL")}
    argv = [sys.executable, "-m", "detector.cli", "demo", "--work-dir", str(tmp_path)]
    argv += ["--days", "6", "--accounts", "300", "--rings", "2", "--bursts", "1", "--seed", "3"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    caught = re.search(r"caught (\d+) of (\d+) injected schemes", done.stdout)
    assert caught, done.stdout
    assert int(caught.group(2)) == 3 and int(caught.group(1)) >= 2
    assert re.search(r"^\s+ring-[0-9a-f]{16}\s+farming_ring", done.stdout, re.MULTILINE)
    # The stream flags exactly what a replay of the same traffic flags: one engine, one code path.
    events, _truth = generate(SimulationConfig(days=6, accounts=300, rings=2, bursts=1, seed=3))
    replayed = {finding.case_id for finding in Engine().process_batch(events)}
    streamed = set(re.findall(r"^\s+((?:ring|growth)-[0-9a-f]{16})\s", done.stdout, re.MULTILINE))
    assert streamed == replayed
