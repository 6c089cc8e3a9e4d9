"""Scoring a model on labelled rows: per-example log-loss (the valuation's proper score) and accuracy.

Pure numpy, shared by the practitioner (valuing a round) and the wallet (checking a report
against the revealed validation set), so both compute the same numbers from the same bytes.

Log-loss is a strictly proper scoring rule and smooth in the parameters: a model that moves
every validation probability a little earns a little, where accuracy moves only when an
example crosses the decision boundary (one example deciding a round). Probabilities are
clipped to [PROB_CLIP, 1 - PROB_CLIP] so one confidently wrong example costs at most
-log(1e-6) = 13.8 nats instead of infinity.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

PROB_CLIP = 1e-6
MAX_EXAMPLE_LOSS = float(-np.log(PROB_CLIP))


class Classifier(Protocol):
    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


def per_example_log_loss_from_proba(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log p(y_j | x_j) per row, probabilities clipped to [PROB_CLIP, 1 - PROB_CLIP]."""
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if proba.ndim != 2 or labels.ndim != 1 or proba.shape[0] != labels.shape[0]:
        raise ValueError(f"probabilities {proba.shape} do not match labels {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= proba.shape[1]):
        raise ValueError("a label is outside the model's classes")
    picked = proba[np.arange(labels.size), labels]
    return -np.log(np.clip(picked, PROB_CLIP, 1.0 - PROB_CLIP))


def per_example_log_loss(model: Classifier, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The model's log-loss on each row of (x, y) (x already standardised)."""
    return per_example_log_loss_from_proba(model.predict_proba(x), y)


def log_loss(model: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    """Mean per-example log-loss (nats); 0.0 for no rows."""
    losses = per_example_log_loss(model, x, y)
    return float(losses.mean()) if losses.size else 0.0


def accuracy_from_proba(proba: np.ndarray, y: np.ndarray) -> float:
    labels = np.asarray(y, dtype=np.int64)
    if labels.size == 0:
        return 0.0
    return float(np.mean(np.argmax(proba, axis=1) == labels))


def accuracy(model: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose most probable class is the label; 0.0 for no rows."""
    return accuracy_from_proba(model.predict_proba(x), y)
