"""Unsupervised novelty of a candidate (ring group or follower burst) among the candidates seen so far."""

from __future__ import annotations

import pickle

from river import anomaly, compose, preprocessing
from river.tree.padded import make_padded_tree

#: A fresh model's trees, pickled, per (trees, height, seed, feature names): river builds them in Python at the first
#: ``learn_one``, ~50 ms a model, and replay and the evaluation start many engines of three models each; unpickling
#: a copy takes ~7 ms.
_FRESH_TREES: dict[tuple, bytes] = {}


class _HalfSpaceTrees(anomaly.HalfSpaceTrees):
    """River's half-space trees, whose fresh trees are built once per process and copied after.

    The trees are built exactly as river builds them (from the seed and the sorted feature names), so the model
    scores exactly as river's does: ``tests/test_models.py`` checks it against river's own class.
    """

    def learn_one(self, x: dict) -> None:
        if not self.trees:
            limits = {f: self.limits[f] for f in sorted(x)}
            key = (self.n_trees, self.height, self.seed, tuple(limits.items()))
            fresh = _FRESH_TREES.get(key)
            if fresh is None:
                trees = self._build(limits)
                nodes = [list(t.iter_dfs()) for t in trees]  # river's flat node lists, pickled with the trees they list
                fresh = _FRESH_TREES[key] = pickle.dumps((trees, nodes, self.rng.getstate()))
            self.trees, self._tree_nodes, rng_state = pickle.loads(fresh)
            self.rng.setstate(rng_state)  # where building them would have left it
        super().learn_one(x)

    def _build(self, limits: dict[str, tuple[float, float]]) -> list:
        """River's construction (``HalfSpaceTrees.learn_one``, river 0.26), advancing ``self.rng`` as it does."""
        return [
            make_padded_tree(
                limits=dict(limits),  # it narrows and restores the limits while it recurses
                height=self.height,
                padding=0.15,
                rng=self.rng,
                r_mass=0,
                l_mass=0,
            )
            for _ in range(self.n_trees)
        ]


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
            _HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed),
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
