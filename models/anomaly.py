"""Unsupervised novelty of a candidate (ring group or follower burst) among the candidates seen so far."""

from __future__ import annotations

import random
from functools import cache

from river.tree.padded import PaddedBranch, make_padded_tree

from detector.core._native import HalfSpaceForest


class CandidateNovelty:
    """River's half-space trees over *candidate-level* features, min-max scaled.

    River's documentation warns that half-space trees miss anomalies packed together in time; raw events of a
    ring or a burst are exactly that, so the model only ever sees one summary vector per evaluated candidate.

    The model is ``compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(...))``: river builds the
    trees (``make_padded_tree``, from the seed and the sorted feature names of the first candidate, as
    ``HalfSpaceTrees.learn_one`` does), and the compiled ``HalfSpaceForest`` walks them. Walking 15 trees per
    candidate in Python was about half of the engine's time on dense traffic; ``tests/test_models.py`` checks every
    score against river's own pipeline.

    Examples
    --------
    >>> model = CandidateNovelty(seed=1)
    >>> for i in range(300):
    ...     model.learn_one({"closure": 0.1 + (i % 10) / 100, "size": 4 + i % 3})
    >>> model.score_one({"closure": 0.95, "size": 20}) > model.score_one({"closure": 0.12, "size": 5})
    True
    """

    def __init__(self, seed: int = 42, n_trees: int = 15, height: int = 8, window_size: int = 250):
        self.seed = seed
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        #: The features the trees split on: those of the first candidate learnt, sorted (river's choice too).
        self.features: tuple[str, ...] = ()
        self.forest: HalfSpaceForest | None = None
        self.seen = 0

    def learn_one(self, x: dict[str, float]) -> None:
        if self.forest is None:
            self.features = tuple(sorted(x))
            trees = river_trees(self.n_trees, self.height, self.seed, self.features)
            self.forest = HalfSpaceForest(len(self.features), self.height, self.window_size, trees)
        self.forest.learn_one([x.get(f) for f in self.features])
        self.seen += 1

    def score_one(self, x: dict[str, float]) -> float:
        """Novelty in [0, 1]; 0.5 (no opinion) until the model has seen a full window."""
        if self.forest is None or self.seen < self.window_size:
            return 0.5
        return self.forest.score_one([x.get(f) for f in self.features])


@cache
def river_trees(n_trees: int, height: int, seed: int, features: tuple[str, ...]) -> list[list[tuple[int, float]]]:
    """The trees river's ``HalfSpaceTrees(n_trees, height, seed=seed)`` builds for these (sorted) features, each as
    its branches in heap order: (feature index, threshold). Built once per process (~50 ms)."""
    rng = random.Random(seed)  # what HalfSpaceTrees(seed=seed) draws from
    limits = {f: (0, 1) for f in features}  # its default limits, features in sorted order
    trees = []
    for _ in range(n_trees):
        root = make_padded_tree(limits=limits, height=height, padding=0.15, rng=rng, r_mass=0, l_mass=0)
        branches: list[tuple[int, float]] = [(0, 0.0)] * (2**height - 1)
        level = [(0, root)]
        while level:  # breadth first: heap order
            below = []
            for i, node in level:
                if isinstance(node, PaddedBranch):
                    branches[i] = (features.index(node.feature), node.threshold)
                    below += [(2 * i + 1, node.children[0]), (2 * i + 2, node.children[1])]
            level = below
        trees.append(branches)
    return trees
