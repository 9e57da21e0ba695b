"""``detector eval --thresholds``: ours flagging at several thresholds, a row each.

The engine flags a candidate scored at its threshold or more (0.5 by default, ``DETECTOR_THRESHOLD`` in the
worker). Lowering it catches more schemes, earlier, for more organic accounts flagged and more cases to review;
raising it does the opposite. The searches never read the score (docs/detection.md), so every row scores the same
candidates and only what is flagged differs: the rows are the operating points a platform chooses between, each
measured end to end (cases, the daily case budget and prevention included), not read off one run's scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

from detector.evaluate import EvalConfig, evaluate, ours_rows, streams_text


def evaluate_thresholds(config: EvalConfig, thresholds: Sequence[float]) -> dict:
    """Evaluate ``config`` with ours flagging at each threshold (ours only)."""
    config = replace(config, methods=("ours",), review=False)
    rows = []
    for threshold in thresholds:
        report = evaluate(replace(config, threshold=threshold))
        rows.append({"threshold": threshold, "summary": report["summary"]["ours"], "seeds": report["seeds"]})
    return {"config": asdict(config), "thresholds": rows}


def format_thresholds(report: dict) -> str:
    config, rows = report["config"], report["thresholds"]
    seeds = [s["seed"] for s in rows[0]["seeds"]] if rows else []
    lines = [
        streams_text(config, seeds)
        + f", ours flagging at {len(rows)} threshold{'' if len(rows) == 1 else 's'}"
        + (f"; weights {config['weights']}" if config.get("weights") else ""),
        "",
        *ours_rows(
            [(f"{row['threshold']:g}", row["summary"], row["seeds"]) for row in rows],
            "threshold",
            config,
        ),
    ]
    return "\n".join(lines)
