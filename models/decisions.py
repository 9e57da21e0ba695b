"""Reviewer decisions as training labels: the file ``detector cases export`` writes and ``detector train --decisions``
reads (``detector eval --decisions-out`` writes the same from the ground truth).

One JSON object per line, one per decided case: the features the reviewer saw when deciding, the model that scored
them, and the decision. The simulated streams ``detector train`` fits on know nothing of a platform's own organic
communities (docs/detection.md, *Where the weights come from*); its reviewers' decisions do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

#: What a decision teaches: a confirmed case is a scheme, a dismissed one is not; an escalation is no label.
DECISION_LABELS: dict[str, bool] = {"confirmed": True, "dismissed": False}


def decision_row(
    *,
    case_id: str,
    scheme: str,
    model: str,
    accounts: Sequence[str],
    features: Mapping[str, float],
    decision: str,
    **provenance: object,
) -> dict:
    """One line of the export: the case, what was scored, the decision and its ``label``; ``provenance`` (who
    decided, when, under which policy) is carried along for the reader.

    >>> row = decision_row(case_id="ring-1", scheme="farming_ring", model="farming_ring_local", accounts=["a", "b"],
    ...                    features={"size": 4.0}, decision="dismissed", reviewer="ann")
    >>> row["label"], row["model"], row["reviewer"]
    (False, 'farming_ring_local', 'ann')
    """
    return {
        "case_id": case_id,
        "scheme": scheme,
        "model": model,
        "accounts": list(accounts),
        "features": dict(features),
        "decision": decision,
        "label": DECISION_LABELS.get(decision),
        **provenance,
    }


@dataclass
class Decisions:
    """The labelled lines of decision files, per model, and every other line with the reason it was left out."""

    rows: dict[str, list[tuple[dict, bool]]] = field(default_factory=dict)
    #: (file, line number, reason) per line not used.
    left_out: list[tuple[str, int, str]] = field(default_factory=list)

    def read(self, name: str, lines: Iterable[bytes], features: Mapping[str, Sequence[str]]) -> None:
        """Add the lines of one file; ``features``: the feature names of every model that can be refitted.

        >>> decisions = Decisions()
        >>> decisions.read("d.jsonl", [
        ...     b'{"model": "m", "features": {"x": 1.0}, "label": true}',
        ...     b'{"model": "m", "features": {"x": 1.0}, "label": null, "decision": "escalated"}',
        ...     b'{"model": "m", "features": {"x": "NaN"}, "label": false}',
        ...     b'not json',
        ... ], {"m": ["x"]})
        >>> decisions.rows
        {'m': [({'x': 1.0}, True)]}
        >>> [reason for _, _, reason in decisions.left_out]
        ['no label (escalated)', 'feature x: not a finite number', 'not JSON']
        """
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                model, x, label = _labelled(line, features)
            except ValueError as reason:
                self.left_out.append((name, number, str(reason)))
                continue
            self.rows.setdefault(model, []).append((x, label))


def _labelled(line: bytes, features: Mapping[str, Sequence[str]]) -> tuple[str, dict, bool]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    model = obj.get("model") or obj.get("scheme")
    if model not in features:
        raise ValueError(f"unknown model {model!r}")
    label = obj.get("label")
    if not isinstance(label, bool):
        raise ValueError(f"no label ({obj.get('decision') or 'label must be true or false'})")
    given = obj.get("features")
    if not isinstance(given, dict):
        raise ValueError("features: not an object")
    x = {}
    for name in features[model]:
        value = given.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"feature {name}: not a finite number")
        x[name] = float(value)
    return model, x, label
