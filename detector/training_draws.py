"""``detector eval --training-draws``: how far the figures move with the training draw alone.

The shipped weights are one draw of the training recipe (``detector train`` on simulated streams from seed 1000).
Refitting the same recipe on other simulated streams moves the boundary where the training streams hold few
examples, so a change to the engine that moves the evaluation by a few schemes cannot be judged on one retraining
(docs/detection.md, *Training variance*). Here each draw is fitted exactly as ``detector train --first-seed N``
would fit it, and the same evaluation runs with each draw's weights: one row per draw, and the spread.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from detector.evaluate import EvalConfig, evaluate, ours_rows, streams_text
from detector.simulation import SYNTHETIC
from models.retrain import (
    FIRST_TRAINING_SEED,
    TRAINING_STREAMS,
    fit_weights,
    simulated_streams,
    training_seeds,
    weights_json,
)


def overlapping_seeds(config: EvalConfig, draws: Sequence[int], streams: int) -> list[int]:
    """Synthetic evaluation seeds some draw trains on (a draw must be evaluated on streams it has not seen)."""
    if config.background != SYNTHETIC:
        return []
    trained = set().union(*(training_seeds(streams, first) for first in draws))
    return sorted(trained.intersection(config.seed_values()))


def evaluate_draws(config: EvalConfig, draws: Sequence[int], streams: int = TRAINING_STREAMS) -> dict:
    """Fit the weights of each draw (first training seed) and evaluate ``config`` with them (ours only)."""
    config = replace(config, methods=("ours",), review=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="detector-draws-") as workdir:
        for first in draws:
            dense, extra = simulated_streams(SYNTHETIC, first, streams)
            text = weights_json(fit_weights(dense, extra))
            path = Path(workdir) / f"weights-{first}.json"
            path.write_text(text)  # the evaluation's worker processes load the weights from a file
            report = evaluate(replace(config, weights=str(path)))
            rows.append(
                {
                    "first_seed": first,
                    "weights": json.loads(text),
                    "summary": report["summary"]["ours"],
                    "seeds": report["seeds"],
                }
            )
    return {"config": {**asdict(config), "weights": None}, "training_streams": streams, "draws": rows}


def format_draws(report: dict) -> str:
    config, draws = report["config"], report["draws"]
    seeds = [s["seed"] for s in draws[0]["seeds"]] if draws else []
    streams = report["training_streams"]
    lines = [
        streams_text(config, seeds)
        + f", scored with the weights of {len(draws)} training draws ({streams} simulated streams each, "
        "`detector train --first-seed N`)",
        "",
    ]
    # The shipped weights are the default recipe's draw: marked, when it is one of the rows.
    shipped = FIRST_TRAINING_SEED if streams == TRAINING_STREAMS else None
    rows = [
        (f"{draw['first_seed']}{'*' if draw['first_seed'] == shipped else ''}", draw["summary"], draw["seeds"])
        for draw in draws
    ]
    lines += ours_rows(rows, "draw", config)
    if draws:
        caught = [d["summary"]["caught"] for d in draws]
        organic = [d["summary"]["organic_flagged"]["mean"] for d in draws]
        with_benign = sum(1 for d in draws if d["summary"]["benign_flagged"]["max"])
        lines += [
            "",
            f"spread: {min(caught)}–{max(caught)} caught, {min(organic):.1f}–{max(organic):.1f} organic flags a run; "
            f"a benign-labelled account flagged in some run with {with_benign} of the {len(draws)} draws"
            + ("; * the shipped weights' draw" if any(d["first_seed"] == shipped for d in draws) else ""),
        ]
    return "\n".join(lines)
