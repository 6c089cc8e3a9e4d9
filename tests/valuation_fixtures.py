"""A validation scorer for value_round on a small numpy game: logistic regression without a
bias term (give x a column of ones for one), scored with trainer.scoring. Import:
``from tests.valuation_fixtures import LogisticScorer``."""

from __future__ import annotations

import numpy as np

from trainer.scoring import accuracy_from_proba, per_example_log_loss_from_proba


class LogisticScorer:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def probabilities(self, params: np.ndarray) -> np.ndarray:
        p1 = 1 / (1 + np.exp(-(self.x @ params)))
        return np.column_stack([1 - p1, p1])

    def losses(self, params: np.ndarray) -> np.ndarray:
        return per_example_log_loss_from_proba(self.probabilities(params), self.y)

    def accuracy(self, params: np.ndarray) -> float:
        return accuracy_from_proba(self.probabilities(params), self.y)
