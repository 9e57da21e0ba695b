"""How far a score can be read as a probability: a reliability diagram of scores against outcomes.

The engine calls its score a calibrated probability (the alert contract says so). This measures it: of the
candidates scored about 0.7, are about 70 % real schemes? ``detector eval`` reports it on Bitcoin-Alpha, where no
model was trained, and ``detector train`` on its held-out stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Reliability:
    """Scores and their outcomes, counted in ``bins`` equal-width score bins; mergeable across streams.

    ``ece`` is the expected calibration error (the bins' gaps between mean score and observed share, weighted by
    their counts) and ``brier`` the mean squared error of the scores: both 0 for a perfect, confident scorer.

    Examples
    --------
    A scorer that says 0.8 where four of five are positives is calibrated; one that says 0.2 there is not:

    >>> honest, timid = Reliability(), Reliability()
    >>> for outcome in (True, True, True, True, False):
    ...     honest.update(0.8, outcome)
    ...     timid.update(0.2, outcome)
    >>> round(honest.ece, 3), round(timid.ece, 3)
    (0.0, 0.6)
    >>> round(honest.brier, 3), round(timid.brier, 3)
    (0.16, 0.52)
    >>> [(row.low, row.count, row.observed) for row in timid.rows()]
    [(0.2, 5, 0.8)]
    """

    bins: int = 10
    counts: list[int] = field(default_factory=list)
    score_sums: list[float] = field(default_factory=list)
    positives: list[int] = field(default_factory=list)
    squared_error: float = 0.0

    def __post_init__(self) -> None:
        for name in ("counts", "score_sums", "positives"):
            if not getattr(self, name):
                setattr(self, name, [0] * self.bins)

    def update(self, score: float, outcome: bool) -> None:
        b = min(int(score * self.bins), self.bins - 1)
        self.counts[b] += 1
        self.score_sums[b] += score
        self.positives[b] += outcome
        self.squared_error += (score - outcome) ** 2

    def merge(self, other: Reliability) -> Reliability:
        """A new reliability counting both.

        >>> a, b, both = Reliability(), Reliability(), Reliability()
        >>> for score, outcome in ((0.1, False), (0.9, True), (0.15, True)):
        ...     a.update(score, outcome)
        ...     both.update(score, outcome)
        >>> b.update(0.55, False); both.update(0.55, False)
        >>> a.merge(b) == both
        True
        """
        if other.bins != self.bins:
            raise ValueError(f"cannot merge {self.bins} bins with {other.bins}")
        return Reliability(
            self.bins,
            [x + y for x, y in zip(self.counts, other.counts, strict=True)],
            [x + y for x, y in zip(self.score_sums, other.score_sums, strict=True)],
            [x + y for x, y in zip(self.positives, other.positives, strict=True)],
            self.squared_error + other.squared_error,
        )

    @property
    def count(self) -> int:
        return sum(self.counts)

    @property
    def ece(self) -> float:
        n = self.count
        return sum(abs(row.mean_score - row.observed) * row.count for row in self.rows()) / n if n else 0.0

    @property
    def brier(self) -> float:
        n = self.count
        return self.squared_error / n if n else 0.0

    def rows(self) -> list[ReliabilityRow]:
        """The bins that hold any score, lowest first."""
        edges = [round(b / self.bins, 6) for b in range(self.bins + 1)]
        return [
            ReliabilityRow(edges[b], edges[b + 1], n, self.score_sums[b] / n, self.positives[b] / n)
            for b, n in enumerate(self.counts)
            if n
        ]


@dataclass(frozen=True)
class ReliabilityRow:
    low: float
    high: float
    count: int
    mean_score: float
    observed: float  # share of positive outcomes
