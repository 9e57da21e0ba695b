"""`detector replay`: a deterministic backtest that accounts for every input line."""

from __future__ import annotations

import os
import random
import threading

import numpy as np
import orjson
import pytest
from test_engine import T0, organic_market, ring
from tqdm import tqdm

from detector import replay
from detector.cli import main
from detector.core.engine import MODEL_VERSION
from detector.core.events import Event
from detector.core.findings import Finding
from detector.core.scoring import weights_version
from models import WEIGHTS_PATH


def write_input(path, rng: random.Random) -> set[str]:
    members = [f"ring{i}" for i in range(7)]
    events = ring(members, T0, 3600.0, rng)
    events.append(Event(T0 + 10, "like", "bystander", "ring0", id="b1"))
    rng.shuffle(events)  # replay sorts by event time itself
    lines = [e.to_json() for e in events]
    lines.insert(3, b"{broken json")
    lines.insert(5, orjson.dumps({"ts": T0, "kind": "like", "actor": "x", "target": "x"}))
    lines.insert(8, b"")  # blank lines are skipped, not rejected
    lines.append(events[0].to_json())  # a duplicate id counts once
    path.write_bytes(b"\n".join(lines) + b"\n")
    return set(members)


def test_the_progress_bars_say_how_much_of_the_file_is_read_and_how_many_events_are_replayed(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    write_input(path, random.Random(1))
    assert main(["replay", str(path), "--out", str(tmp_path / "scores.jsonl")]) == 0
    bars = capsys.readouterr().err.replace("\r", "\n")
    size = tqdm.format_sizeof(path.stat().st_size)
    assert f"reading: 100%|██████████| {size}/{size}" in bars
    # Every line with an event time is replayed (the self-interaction is rejected then); the broken line has none.
    timed = sum(1 for line in path.read_bytes().splitlines() if line) - 1
    assert f"replaying: 100%|██████████| {timed}/{timed}" in bars


def test_replay_scores_every_account_rejects_bad_lines_and_exits_zero(tmp_path):
    members = write_input(tmp_path / "in.jsonl", random.Random(1))
    scores, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    code = main(
        ["replay", str(tmp_path / "in.jsonl"), "--out", str(scores), "--rejects", str(rejects), "--no-progress"]
    )
    assert code == 0
    rows = [orjson.loads(line) for line in scores.read_bytes().splitlines()]
    assert {r["account"] for r in rows} == members | {"bystander"}
    flagged = {r["account"] for r in rows if r["flagged"]}
    assert flagged == members
    for row in rows:
        assert set(row) >= {"account", "score", "flagged", "first_flagged_ts", "schemes", "evidence"}
        assert (row["first_flagged_ts"] is not None) == row["flagged"]
    assert [orjson.loads(line) for line in rejects.read_bytes().splitlines()] == [
        {"line": 4, "reason": "invalid_json: unexpected character, expected a string key"},
        {"line": 6, "reason": "self_interaction: actor equals target"},
    ]


def test_replay_is_byte_for_byte_deterministic(tmp_path):
    write_input(tmp_path / "in.jsonl", random.Random(2))
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.jsonl"
        findings = tmp_path / f"{run}.findings.jsonl"
        main(["replay", str(tmp_path / "in.jsonl"), "--out", str(out), "--findings", str(findings), "--no-progress"])
        outputs.append((out.read_bytes(), findings.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][1]  # the ring raised findings


def test_replay_writes_findings_as_their_dicts(tmp_path):
    write_input(tmp_path / "in.jsonl", random.Random(3))
    findings = tmp_path / "findings.jsonl"
    main(["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s.jsonl"), "--findings", str(findings)])
    lines = findings.read_bytes().splitlines()
    assert lines
    for line in lines:
        assert orjson.dumps(Finding.from_dict(orjson.loads(line)).to_dict()) == line


def test_refitted_weights_can_be_backtested_before_they_ship(tmp_path):
    members = write_input(tmp_path / "in.jsonl", random.Random(3))

    def flagged(*extra: str) -> set[str]:
        out = tmp_path / "scores.jsonl"
        assert main(["replay", str(tmp_path / "in.jsonl"), "--out", str(out), "--no-progress", *extra]) == 0
        return {row["account"] for row in map(orjson.loads, out.read_bytes().splitlines()) if row["flagged"]}

    assert flagged() == members
    strict = tmp_path / "weights.json"  # every model's intercept 60 logits lower: nothing reaches the threshold
    shipped = orjson.loads(WEIGHTS_PATH.read_bytes())
    strict.write_bytes(orjson.dumps({m: {**w, "intercept": w["intercept"] - 60} for m, w in shipped.items()}))
    assert flagged("--weights", str(strict)) == set()
    findings = tmp_path / "findings.jsonl"  # the cases name the weights they were scored with
    assert flagged("--weights", str(WEIGHTS_PATH), "--findings", str(findings)) == members
    versions = {orjson.loads(line)["model_version"] for line in findings.read_bytes().splitlines()}
    assert versions == {f"{MODEL_VERSION}+{weights_version(WEIGHTS_PATH)}"}


def test_weights_lacking_a_model_the_engine_scores_with_are_refused_before_the_input_is_read(tmp_path):
    older = tmp_path / "older.json"  # a refit by a version without reciprocal groups' weights
    shipped = orjson.loads(WEIGHTS_PATH.read_bytes())
    older.write_bytes(orjson.dumps({m: w for m, w in shipped.items() if m != "farming_ring_reciprocal"}))
    argv = ["replay", str(tmp_path / "never-read.jsonl"), "--out", str(tmp_path / "s.jsonl"), "--weights", str(older)]
    with pytest.raises(SystemExit, match="the weights lack farming_ring_reciprocal, which this engine scores with"):
        main(argv)
    assert not (tmp_path / "s.jsonl").exists()


def test_unflagged_accounts_report_the_highest_score_they_reached(tmp_path):
    # An organic market is scored (its popular accounts gain new boosters) but never flagged: researchers sweeping a
    # threshold need those scores, not zeros.
    events = organic_market(random.Random(7))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(e.to_json() for e in events) + b"\n")
    main(["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"])
    rows = [orjson.loads(line) for line in (tmp_path / "scores.jsonl").read_bytes().splitlines()]
    assert not any(r["flagged"] for r in rows)
    scored = [r["score"] for r in rows if r["score"] > 0]
    assert scored and max(scored) < 0.5


def test_a_backtest_flags_the_accounts_scored_at_the_threshold_it_is_given(tmp_path):
    events = organic_market(random.Random(7))  # scored, all under the default threshold
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(e.to_json() for e in events) + b"\n")

    def scores(*extra: str) -> list[dict]:
        argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s.jsonl"), "--no-progress", *extra]
        assert main(argv) == 0
        return [orjson.loads(line) for line in (tmp_path / "s.jsonl").read_bytes().splitlines()]

    scored = sorted(r["score"] for r in scores() if r["score"] > 0)
    threshold = scored[len(scored) // 2]
    rows = scores("--threshold", str(threshold))
    assert any(r["flagged"] for r in rows)
    assert all(r["flagged"] == (r["score"] >= threshold) for r in rows)
    with pytest.raises(SystemExit, match=r"threshold 0.0: a score in \(0, 1\]"):
        scores("--threshold", "0")


def test_a_ground_truth_labels_the_candidates_export_for_researchers(tmp_path):
    rng = random.Random(5)
    members = [f"ring{i}" for i in range(7)]
    events = ring(members, T0, 3600.0, rng) + organic_market(random.Random(7))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(e.to_json() for e in events) + b"\n")
    truth = tmp_path / "truth.json"
    truth.write_bytes(orjson.dumps({"schemes": [{"scheme_id": "s0", "scheme": "farming_ring", "accounts": members}]}))
    candidates = tmp_path / "candidates.jsonl"
    argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"]
    assert main([*argv, "--candidates", str(candidates), "--truth", str(truth)]) == 0
    rows = [orjson.loads(line) for line in candidates.read_bytes().splitlines()]
    about_ring = [r for r in rows if r["scheme"] == "farming_ring" and set(r["accounts"]) <= set(members)]
    assert about_ring and all(r["scheme_id"] == "s0" and r["label"] for r in about_ring)
    organic = [r for r in rows if not set(r["accounts"]) & set(members)]
    assert organic and all(r["scheme_id"] is None and not r["label"] for r in organic)


def test_a_ground_truth_without_a_candidates_export_is_refused_before_replaying(tmp_path):
    (tmp_path / "in.jsonl").write_bytes(b"")
    argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"]
    with pytest.raises(SystemExit, match="--truth labels the --candidates export"):
        main([*argv, "--truth", str(tmp_path / "truth.json")])
    with pytest.raises(SystemExit, match="cannot read the ground truth"):
        main([*argv, "--candidates", str(tmp_path / "c.jsonl"), "--truth", str(tmp_path / "missing.json")])


def test_replay_reads_a_pipe_as_it_reads_a_file(tmp_path):
    write_input(tmp_path / "in.jsonl", random.Random(4))
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes((tmp_path / "in.jsonl").read_bytes()))
    writer.start()
    for source, out in ((fifo, "piped"), (tmp_path / "in.jsonl", "file")):
        argv = ["replay", str(source), "--out", str(tmp_path / f"{out}.jsonl"), "--no-progress"]
        assert main([*argv, "--rejects", str(tmp_path / f"{out}.rejects.jsonl")]) == 0
    writer.join()
    assert (tmp_path / "piped.jsonl").read_bytes() == (tmp_path / "file.jsonl").read_bytes()
    assert (tmp_path / "piped.rejects.jsonl").read_bytes() == (tmp_path / "file.rejects.jsonl").read_bytes()


def test_an_empty_input_replays_to_empty_outputs(tmp_path):
    (tmp_path / "in.jsonl").write_bytes(b"")
    argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"]
    assert main([*argv, "--rejects", str(tmp_path / "rejects.jsonl")]) == 0
    assert (tmp_path / "scores.jsonl").read_bytes() == (tmp_path / "rejects.jsonl").read_bytes() == b""


def test_a_line_with_a_time_that_breaks_another_rule_is_rejected_with_its_line_number(tmp_path):
    events = ring([f"r{i}" for i in range(5)], T0, 3600.0, random.Random(5))
    lines = [e.to_json() for e in reversed(events)]  # out of order: replay sorts
    lines.insert(2, orjson.dumps({"ts": T0 + 5, "kind": "poke", "actor": "a", "target": "b"}))
    lines.insert(4, orjson.dumps({"ts": T0 + 6, "kind": "like", "actor": "a", "target": "b", "colour": "red"}))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines))  # and no final newline
    argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"]
    assert main([*argv, "--rejects", str(tmp_path / "rejects.jsonl")]) == 0
    rejects = [orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects] == [(3, "kind"), (5, "unknown_field")]
    rows = [orjson.loads(line) for line in (tmp_path / "scores.jsonl").read_bytes().splitlines()]
    assert {r["account"] for r in rows} == {f"r{i}" for i in range(5)}


def test_a_deeply_nested_line_is_rejected_not_a_crash(tmp_path):
    depth = 1000
    hostile = b'{"x":' + b"[" * depth + b"]" * depth + b"}"
    first_boost = ring(["a", "b", "c"], T0, 60.0, random.Random(6))[0]
    (tmp_path / "in.jsonl").write_bytes(hostile + b"\n" + first_boost.to_json())
    argv = ["replay", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"]
    assert main([*argv, "--rejects", str(tmp_path / "rejects.jsonl")]) == 0
    (reject,) = [orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert reject["line"] == 1 and reject["reason"].startswith("unknown_field")
    assert (tmp_path / "scores.jsonl").read_bytes()


@pytest.mark.parametrize("change", ["appended", "rewritten"])
def test_an_input_that_changes_between_the_two_passes_stops_the_replay(tmp_path, monkeypatch, change):
    path = tmp_path / "in.jsonl"
    write_input(path, random.Random(6))
    index_lines = replay.index_lines

    def index_then_change(lines, rejects):
        index = index_lines(lines, rejects)
        if change == "appended":
            with path.open("ab") as more:
                more.write(Event(T0, "like", "late", "writer").to_json() + b"\n")
        else:  # the same length, another time: only the event times can tell
            data = path.read_bytes()
            path.write_bytes(data.replace(str(int(T0 + 10)).encode(), str(int(T0 + 11)).encode(), 1))
        return index

    monkeypatch.setattr(replay, "index_lines", index_then_change)
    with pytest.raises(SystemExit, match="changed while it was replayed"):
        main(["replay", str(path), "--out", str(tmp_path / "scores.jsonl"), "--no-progress"])


def test_lines_are_read_back_whole_whether_near_each_other_or_scattered(tmp_path, monkeypatch):
    data = b"".join(b'{"n":%d}\n' % n for n in range(500))
    path = tmp_path / "lines"
    path.write_bytes(data)
    starts = np.array([data.index(b'{"n":%d}' % n) for n in (7, 3, 400, 5, 499)])
    ends = starts + np.array([len(b'{"n":%d}\n' % n) for n in (7, 3, 400, 5, 499)])
    expected = [data[s:e] for s, e in zip(starts, ends, strict=True)]
    with path.open("rb") as handle:
        assert list(replay._read_lines(handle.fileno(), starts, ends)) == expected  # one read of the span
        monkeypatch.setattr(replay, "READ_SLACK", 0)
        assert list(replay._read_lines(handle.fileno(), starts, ends)) == expected  # line by line


@pytest.mark.parametrize("scattered", [False, True])
def test_an_input_cut_short_while_it_is_replayed_stops_the_replay_instead_of_crashing(tmp_path, monkeypatch, scattered):
    lines = [Event(T0 + n, "like", f"a{n}", f"b{n}").to_json() + b"\n" for n in range(3000)]
    if scattered:  # out of time order: each block of the time order is read line by line
        random.Random(7).shuffle(lines)
        monkeypatch.setattr(replay, "READ_SLACK", 0)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(lines))
    monkeypatch.setattr(replay, "PROGRESS_EVERY", 500)
    rejects: list = []
    with path.open("rb") as handle:
        index = replay.index_lines([handle.readlines()], rejects)
        batches = index.in_time_order(handle, rejects)
        _, events = next(batches)
        assert [event.ts for event in events] == [T0 + n for n in range(500)]
        os.truncate(path, path.stat().st_size // 2)  # a memory-mapped read past the new end would be SIGBUS
        with pytest.raises(replay.InputChanged, match="shorter"):
            list(batches)
