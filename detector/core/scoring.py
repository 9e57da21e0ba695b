"""From scheme features to one calibrated score per candidate, with the reasons.

The score is a transparent logistic model per scheme (weights in ``models/weights.json``, refitted by
``detector train``), nudged by two river models: half-space trees (is this candidate novel among all
candidates seen?) and, once reviewers have decided enough cases, an online classifier of their decisions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from models import WEIGHTS_PATH
from models.anomaly import CandidateNovelty
from models.linear import LogisticScore, sigmoid
from models.online import ReviewerFeedbackModel


def load_weights(path: Path | None = None) -> dict[str, LogisticScore]:
    """The per-scheme logistic scores, from ``models/weights.json`` (written by ``detector train``)."""
    data = json.loads((path or WEIGHTS_PATH).read_text())
    return {scheme: LogisticScore.from_json(json.dumps(spec)) for scheme, spec in data.items()}


NOVELTY_WEIGHT = 1.0  # logit units at full novelty (score 1 vs 0.5)
FEEDBACK_WEIGHT = 1.0  # logit units per logit of the reviewer model


class Scorer:
    def __init__(self, weights: dict[str, LogisticScore] | None = None, seed: int = 42):
        self.weights = load_weights() if weights is None else dict(weights)
        self.novelty = {scheme: CandidateNovelty(seed=seed) for scheme in self.weights}
        self.feedback = {scheme: ReviewerFeedbackModel() for scheme in self.weights}

    def score(self, scheme: str, x: dict[str, float]) -> tuple[float, list[tuple[str, float, float]]]:
        """Score a candidate and learn it as seen; returns the score and contributions (name, value, logit)."""
        rule = self.weights[scheme]
        contributions = rule.contributions(x)
        z = rule.logit(x)
        novelty = self.novelty[scheme].score_one(x)
        self.novelty[scheme].learn_one(x)
        novelty_term = NOVELTY_WEIGHT * 2.0 * (novelty - 0.5)
        z += novelty_term
        contributions.append(("novelty", novelty, novelty_term))
        reviewed = self.feedback[scheme].predict_proba_one(x)
        if reviewed is not None:
            p = min(max(reviewed, 1e-6), 1 - 1e-6)
            term = FEEDBACK_WEIGHT * math.log(p / (1 - p))
            z += term
            contributions.append(("reviewer_model", reviewed, term))
        contributions.sort(key=lambda t: (-abs(t[2]), t[0]))
        return sigmoid(z), contributions

    def learn_decision(self, scheme: str, x: dict[str, float], confirmed: bool) -> None:
        self.feedback[scheme].learn_one(x, confirmed)
