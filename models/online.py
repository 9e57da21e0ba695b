"""A supervised online classifier that learns from reviewer decisions (confirmed = 1, dismissed = 0)."""

from __future__ import annotations

from river import linear_model, optim, preprocessing


class ReviewerFeedbackModel:
    """Logistic regression on standardised candidate features, updated one decision at a time.

    It has no say until it has learned from ``min_labels`` decisions of both kinds, so a cold start cannot
    move scores.

    Examples
    --------
    >>> model = ReviewerFeedbackModel(min_labels=4)
    >>> model.predict_proba_one({"closure": 0.9}) is None
    True
    >>> for _ in range(20):
    ...     model.learn_one({"closure": 0.9}, True)
    ...     model.learn_one({"closure": 0.1}, False)
    >>> model.predict_proba_one({"closure": 0.9}) > 0.5 > model.predict_proba_one({"closure": 0.1})
    True
    """

    def __init__(self, min_labels: int = 50, learning_rate: float = 0.05):
        self.min_labels = min_labels
        self.pipeline = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate)
        )
        self.positives = 0
        self.negatives = 0

    def learn_one(self, x: dict[str, float], confirmed: bool) -> None:
        self.pipeline.learn_one(x, confirmed)
        if confirmed:
            self.positives += 1
        else:
            self.negatives += 1

    def predict_proba_one(self, x: dict[str, float]) -> float | None:
        if self.positives + self.negatives < self.min_labels or not (self.positives and self.negatives):
            return None
        return float(self.pipeline.predict_proba_one(x).get(True, 0.0))
