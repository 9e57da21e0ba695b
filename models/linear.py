"""A transparent logistic score: every flag can say how much each feature pushed it up or down."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LogisticScore:
    """``sigmoid(intercept + sum(coef[f] * transform(x[f])))`` with per-feature contributions.

    Features named in ``log1p`` enter as ``log(1 + x)`` (counts and z-scores are heavy-tailed).

    Examples
    --------
    >>> s = LogisticScore(intercept=-2.0, coefs={"closure": 4.0})
    >>> round(s.score({"closure": 1.0}), 3)
    0.881
    >>> s.contributions({"closure": 0.5})
    [('closure', 0.5, 2.0)]
    """

    intercept: float
    coefs: dict[str, float]
    log1p: frozenset[str] = field(default_factory=frozenset)

    def _term(self, name: str, value: float) -> float:
        if name in self.log1p:
            value = math.log1p(max(value, 0.0))
        return self.coefs[name] * value

    def logit(self, x: dict[str, float]) -> float:
        return self.intercept + sum(self._term(n, x.get(n, 0.0)) for n in self.coefs)

    def score(self, x: dict[str, float]) -> float:
        return sigmoid(self.logit(x))

    def terms(self, x: dict[str, float]) -> list[tuple[str, float, float]]:
        """(feature, value, contribution to the logit), in the order of ``coefs``: ``intercept`` plus their sum in
        that order is :meth:`logit`, to the last bit."""
        return [(n, float(x.get(n, 0.0)), self._term(n, x.get(n, 0.0))) for n in self.coefs]

    def contributions(self, x: dict[str, float]) -> list[tuple[str, float, float]]:
        """(feature, value, contribution to the logit), largest absolute contribution first."""
        return sorted(self.terms(x), key=by_weight)

    def to_json(self) -> str:
        return json.dumps({"intercept": self.intercept, "coefs": self.coefs, "log1p": sorted(self.log1p)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> LogisticScore:
        data = json.loads(text)
        return cls(float(data["intercept"]), dict(data["coefs"]), frozenset(data.get("log1p", ())))

    @classmethod
    def load(cls, path: Path) -> LogisticScore:
        return cls.from_json(path.read_text())


def by_weight(term: tuple[str, float, float]) -> tuple[float, str]:
    """Sort key of (name, value, contribution) terms: largest absolute contribution first, then by name."""
    return -abs(term[2]), term[0]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
