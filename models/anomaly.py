"""Unsupervised novelty of a candidate (ring group or follower burst) among the candidates seen so far."""

from __future__ import annotations

from river import anomaly, compose, preprocessing


class CandidateNovelty:
    """Half-space trees over *candidate-level* features, min-max scaled.

    River's documentation warns that half-space trees miss anomalies packed together in time; raw events of a
    ring or a burst are exactly that, so the model only ever sees one summary vector per evaluated candidate.

    Examples
    --------
    >>> model = CandidateNovelty(seed=1)
    >>> for i in range(300):
    ...     model.learn_one({"closure": 0.1 + (i % 10) / 100, "size": 4 + i % 3})
    >>> model.score_one({"closure": 0.95, "size": 20}) > model.score_one({"closure": 0.12, "size": 5})
    True
    """

    def __init__(self, seed: int = 42, n_trees: int = 15, height: int = 8, window_size: int = 250):
        self.pipeline = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed),
        )
        self.seen = 0

    def learn_one(self, x: dict[str, float]) -> None:
        self.pipeline.learn_one(x)
        self.seen += 1

    def score_one(self, x: dict[str, float]) -> float:
        """Novelty in [0, 1]; 0.5 (no opinion) until the model has seen a full window."""
        if self.seen < self.pipeline[-1].window_size:
            return 0.5
        return float(self.pipeline.score_one(x))
