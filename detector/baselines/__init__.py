"""Baselines the engine is compared against in ``detector eval``.

Each takes events in time order and returns a :class:`BaselineResult` per account seen, with the same fields the
evaluation reads from the engine's results:

* :mod:`~detector.baselines.heuristic` — the plain heuristic: mutual partners and clustering for rings, boosts per
  day against the account's own running mean for growth, fixed thresholds;
* :mod:`~detector.baselines.midas` — MIDAS-R (Bhatia et al., AAAI 2020) edge-stream anomaly scores, from the
  ``aberrant`` package, turned into account scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class BaselineResult:
    score: float = 0.0
    flagged: bool = False
    first_flagged_ts: float | None = None
    schemes: list[str] = field(default_factory=list)

    def flag(self, ts: float, scheme: str | None = None) -> None:
        """Mark flagged at ``ts`` (the first flag time is kept) and note the scheme."""
        if not self.flagged:
            self.flagged, self.first_flagged_ts = True, ts
        if scheme is not None and scheme not in self.schemes:
            self.schemes.append(scheme)


__all__ = ["BaselineResult"]
