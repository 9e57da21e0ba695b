"""From scheme features to one calibrated score per candidate, with the reasons.

The score is a transparent logistic model per scheme (weights in ``models/weights.json``, refitted by
``detector train``), nudged by two river models: half-space trees (is this candidate novel among all
candidates seen?) and, once reviewers have decided enough cases, an online classifier of their decisions.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from models import WEIGHTS_PATH
from models.anomaly import CandidateNovelty
from models.linear import LogisticScore, by_weight, sigmoid
from models.online import ReviewerFeedbackModel


def load_weights(path: Path | None = None) -> dict[str, LogisticScore]:
    """The per-scheme logistic scores, from ``models/weights.json`` (written by ``detector train``)."""
    data = json.loads((path or WEIGHTS_PATH).read_text())
    return {scheme: LogisticScore.from_json(json.dumps(spec)) for scheme, spec in data.items()}


def weights_version(path: Path) -> str:
    """How cases name the weights that scored them, when not the shipped ones: the file's content digest (the same
    weights in two files share it)."""
    return "weights-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


NOVELTY_WEIGHT = 1.0  # logit units at full novelty (score 1 vs 0.5)
FEEDBACK_WEIGHT = 1.0  # logit units per logit of the reviewer model


class Scorer:
    """Scores candidates with the weights of a named model (by default the scheme's own).

    A scheme can have more than one model when its candidates come from different searches: young rings (fresh
    cohorts, lockstep sessions) and grown rings are different populations, each scored by weights fitted on its own.
    The novelty trees are per model, the reviewer-feedback classifier per scheme (reviewers judge the scheme).
    """

    def __init__(self, weights: dict[str, LogisticScore] | None = None, seed: int = 42, version: str = ""):
        self.weights = load_weights() if weights is None else dict(weights)
        #: Names the weights in the findings' ``model_version`` ("" for the shipped ones; see :func:`weights_version`).
        self.version = version
        self.novelty = {model: CandidateNovelty(seed=seed) for model in self.weights}
        self.feedback: dict[str, ReviewerFeedbackModel] = {}

    @classmethod
    def from_file(cls, path: Path, seed: int = 42) -> Scorer:
        """A scorer with the weights of a ``detector train --out`` file, named by :func:`weights_version`."""
        return cls(load_weights(path), seed, weights_version(path))

    def use_weights(self, weights: dict[str, LogisticScore], version: str = "") -> None:
        """Score with other logistic weights from now on (a refit, deployed to a running stream), keeping what was
        learnt online: the novelty trees and the reviewer-feedback classifiers. The models must be the same."""
        if set(weights) != set(self.weights):
            raise ValueError(f"the weights name models {sorted(weights)}, the engine scores {sorted(self.weights)}")
        self.weights = dict(weights)
        self.version = version

    def score(
        self, scheme: str, x: dict[str, float], model: str | None = None
    ) -> tuple[float, list[tuple[str, float, float]]]:
        """Score a candidate and learn it as seen; returns the score and contributions (name, value, logit)."""
        model = model or scheme
        rule = self.weights[model]
        contributions = rule.terms(x)
        z = rule.intercept + sum(term for _, _, term in contributions)  # rule.logit(x), without a second pass
        novelty = self.novelty[model].score_one(x)
        self.novelty[model].learn_one(x)
        novelty_term = NOVELTY_WEIGHT * 2.0 * (novelty - 0.5)
        z += novelty_term
        contributions.append(("novelty", novelty, novelty_term))
        feedback = self.feedback.get(scheme)
        reviewed = feedback.predict_proba_one(x) if feedback is not None else None
        if reviewed is not None:
            p = min(max(reviewed, 1e-6), 1 - 1e-6)
            term = FEEDBACK_WEIGHT * math.log(p / (1 - p))
            z += term
            contributions.append(("reviewer_model", reviewed, term))
        contributions.sort(key=by_weight)
        return sigmoid(z), contributions

    def learn_decision(self, scheme: str, x: dict[str, float], confirmed: bool) -> None:
        feedback = self.feedback.get(scheme)
        if feedback is None:
            feedback = self.feedback[scheme] = ReviewerFeedbackModel()
        feedback.learn_one(x, confirmed)
