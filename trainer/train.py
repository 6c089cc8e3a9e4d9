"""Local training: mini-batch SGD or Adam with L2, progress, cancel and a time budget.

A batch smaller than the spec's batch_size takes a step in proportion to its rows
(`batch_weight`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from trainer.errors import DataError, TrainerError
from trainer.models import Model
from trainer.spec import TrainingConfig

ProgressFn = Callable[[int, float, float], None]  # (epoch 1-based, loss, accuracy)
StopFn = Callable[[], bool]

COMPLETED = "completed"
CANCELLED = "cancelled"
TIME_BUDGET = "time_budget"


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    loss: float
    accuracy: float


@dataclass
class TrainResult:
    params: np.ndarray
    history: list[EpochRecord] = field(default_factory=list)
    epochs_run: int = 0
    stopped_reason: str = COMPLETED  # "completed" | "cancelled" | "time_budget"


class _Adam:
    def __init__(self, size: int, lr: float, beta1=0.9, beta2=0.999, eps=1e-8) -> None:
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def step(self, params: np.ndarray, grad: np.ndarray, weight: float = 1.0) -> np.ndarray:
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return params - weight * self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class _SGD:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, params: np.ndarray, grad: np.ndarray, weight: float = 1.0) -> np.ndarray:
        return params - weight * self.lr * grad


def make_optimizer(cfg: TrainingConfig, size: int) -> _Adam | _SGD:
    """The spec's optimizer (Adam or plain SGD) at the spec's learning rate. Its `step` takes
    a `weight` in (0, 1]: the batch's rows / the spec's batch_size (`batch_weight`)."""
    return _Adam(size, cfg.learning_rate) if cfg.optimizer == "adam" else _SGD(cfg.learning_rate)


def batch_weight(rows: float, batch_size: int) -> float:
    """How much of a full step a batch of `rows` rows takes: rows / batch_size, at most 1.

    A batch smaller than the spec's batch_size (the last of an epoch, or all of a data set
    smaller than one batch) counts in proportion to its rows, as the sum of its rows'
    gradients / batch_size would. Why: updates are averaged with equal weights (row counts
    cannot be checked), so with a full step per batch one row trained for the spec's epochs
    moved the model as far as 200 rows did, took up to 20 % of a round, and a lone row at
    an epoch's end decided much of an update's direction (docs/PROTOCOL.md, "Small data
    sets take small steps")."""
    return min(1.0, float(rows) / max(1, int(batch_size)))


def checked_data(model: Model, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) as float64 / int64, or DataError when they do not fit the model."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or X.shape[1] != model.arch.n_features:
        raise DataError(
            f"The data has shape {X.shape}; the model expects {model.arch.n_features} features."
        )
    if len(y) != len(X) or len(y) == 0:
        raise DataError("The data needs at least one row and one label per row.")
    if y.min() < 0 or y.max() >= model.arch.n_classes:
        raise DataError("A label is outside the model's classes.")
    return X, y


def record_epoch(
    model: Model, X: np.ndarray, y: np.ndarray, l2: float, result: TrainResult, epoch: int,
    progress: ProgressFn | None,
) -> None:
    """Append epoch `epoch`'s loss and accuracy on (X, y) to `result` and report them;
    TrainerError when the loss is no longer finite (the run diverged)."""
    loss = model.loss(X, y, l2)
    if not np.isfinite(loss):
        raise TrainerError(
            "Training diverged (the loss became infinite); the learning rate may be too high."
        )
    record = EpochRecord(epoch, loss, model.accuracy(X, y))
    result.history.append(record)
    result.epochs_run = epoch
    if progress is not None:
        progress(epoch, record.loss, record.accuracy)


def train_local(
    model: Model,
    X: np.ndarray,
    y: np.ndarray,
    training_config: TrainingConfig,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    time_budget_s: float | None = None,
    epochs: int | None = None,
) -> TrainResult:
    """Train `model` in place on (X, y) and return the final parameters and history.

    Deterministic for a given seed (shuffling uses training_config.seed). `should_stop` is
    checked between mini-batches; a cancelled run returns stopped_reason "cancelled" with the
    parameters reached so far (callers that must not use them raise TrainingCancelled).
    `time_budget_s` stops after the mini-batch that exceeds it ("time_budget").
    """
    X, y = checked_data(model, X, y)
    cfg = training_config
    n_epochs = cfg.epochs if epochs is None else int(epochs)
    rng = np.random.default_rng(cfg.seed)
    params = model.get_params()
    optimizer = make_optimizer(cfg, params.size)
    batch = max(1, min(cfg.batch_size, len(y)))
    start = time.monotonic()
    result = TrainResult(params=params)
    for epoch in range(1, n_epochs + 1):
        order = rng.permutation(len(y))
        for lo in range(0, len(y), batch):
            if should_stop is not None and should_stop():
                result.stopped_reason = CANCELLED
                break
            idx = order[lo : lo + batch]
            _, grad = model.loss_and_grad(X[idx], y[idx], cfg.l2)
            params = optimizer.step(params, grad, batch_weight(len(idx), cfg.batch_size))
            model.set_params(params)
            if time_budget_s is not None and time.monotonic() - start > time_budget_s:
                result.stopped_reason = TIME_BUDGET
                break
        if result.stopped_reason == CANCELLED:
            break
        record_epoch(model, X, y, cfg.l2, result, epoch, progress)
        if result.stopped_reason == TIME_BUDGET:
            break
    result.params = model.get_params()
    return result
