"""DP-SGD (Abadi et al. 2016) for the trainer's numpy models: "Protect each row".

Each step samples every row independently with probability `sampling_rate` (Poisson
sampling, what the accountant's PoissonSampledDpEvent assumes), clips each sampled row's own
gradient to L2 norm `clip`, sums them, adds N(0, (noise_multiplier * clip)^2) to every
coordinate and divides by the expected batch size (sampling_rate * n; a fixed divisor, so the
sum's sensitivity stays `clip`). The L2 penalty's gradient does not depend on the data and is
added after the noise. The spec's optimizer (SGD or Adam) then takes the step, scaled by
`batch_weight` when the expected batch is smaller than the spec's batch_size (a data set of
fewer rows): anything done to the noisy gradient is post-processing.

The run is `steps = ceil(epochs / sampling_rate)` sampled Gaussian steps; its epsilon is
`trainer.privacy.epsilon_of(dp_sgd_event(...))`, computed by dp-accounting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from trainer.errors import DataError, TrainerError
from trainer.models import Model
from trainer.spec import TrainingConfig
from trainer.train import (
    CANCELLED,
    TIME_BUDGET,
    ProgressFn,
    StopFn,
    TrainResult,
    batch_weight,
    checked_data,
    make_optimizer,
    record_epoch,
)


@dataclass(frozen=True)
class DpSgdConfig:
    noise_multiplier: float  # sigma: the noise's std is sigma * clip
    clip: float  # per-example L2 bound of a gradient
    sampling_rate: float  # q: each row's chance of being in a step's batch
    epochs: int  # expected passes over the data; steps = ceil(epochs / q)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0):
            raise TrainerError("The DP-SGD noise multiplier must be a number >= 0.")
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise TrainerError("The DP-SGD per-example clip must be greater than 0.")
        if not 0 < self.sampling_rate <= 1:
            raise TrainerError("The DP-SGD sampling rate must be in (0, 1].")
        if not 1 <= int(self.epochs) <= 10_000:
            raise TrainerError("DP-SGD epochs must be between 1 and 10000.")

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.epochs / self.sampling_rate - 1e-9))

    def to_json(self) -> dict[str, float | int]:
        return {"noise_multiplier": self.noise_multiplier, "clip": self.clip,
                "sampling_rate": self.sampling_rate, "epochs": int(self.epochs),
                "steps": self.steps}


def clip_rows(grads: np.ndarray, clip: float) -> np.ndarray:
    """Each row scaled down to L2 norm at most `clip` (rows already shorter unchanged)."""
    norms = np.linalg.norm(grads, axis=1)
    factors = np.minimum(1.0, clip / np.maximum(norms, 1e-300))
    return grads * factors[:, None]


def poisson_sample(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """The indices of a Poisson sample (each of n rows in with probability `rate`), drawn in
    time proportional to the sample, not to n: its size is Binomial(n, rate) and, given
    the size, every subset is equally likely, which is the same distribution. (A mask of
    n uniforms per step made an epoch on a million rows take 31,000 passes over them.)"""
    size = int(rng.binomial(n, rate))
    return np.sort(rng.choice(n, size=size, replace=False)) if size else np.empty(0, np.int64)


def noisy_gradient(
    model: Model, X: np.ndarray, y: np.ndarray, mask: np.ndarray, dp: DpSgdConfig, l2: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One DP-SGD gradient: the sampled rows (`mask`: a boolean mask or row indices)
    clipped, summed, noised, / (q * n)."""
    rows = np.flatnonzero(mask) if mask.dtype == bool else mask
    total = np.zeros(model.n_params)
    if rows.size:
        total = clip_rows(model.per_example_grads(X[rows], y[rows]), dp.clip).sum(axis=0)
    if dp.noise_multiplier > 0:
        total = total + rng.normal(0.0, dp.noise_multiplier * dp.clip, size=total.shape)
    return total / (dp.sampling_rate * len(y)) + model.l2_grad(l2)


def train_dp_sgd(
    model: Model,
    X: np.ndarray,
    y: np.ndarray,
    training_config: TrainingConfig,
    dp: DpSgdConfig,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    time_budget_s: float | None = None,
    rng: np.random.Generator | None = None,
) -> TrainResult:
    """Train `model` in place with DP-SGD; the spec's optimizer and learning rate, dp's epochs.

    rng draws both the Poisson samples and the noise: pass a seeded Generator only in tests
    (both must be secret for the guarantee to hold). A time-budget stop runs fewer steps than
    accounted, which only spends less privacy than reported.
    """
    X, y = checked_data(model, X, y)
    cfg = training_config
    rng = rng if rng is not None else np.random.default_rng()
    params = model.get_params()
    optimizer = make_optimizer(cfg, params.size)
    steps = dp.steps
    # an expected batch smaller than the spec's takes a step in proportion, as in train_local
    weight = batch_weight(dp.sampling_rate * len(y), cfg.batch_size)
    start = time.monotonic()
    result = TrainResult(params=params)
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            result.stopped_reason = CANCELLED
            break
        rows = poisson_sample(rng, len(y), dp.sampling_rate)
        params = optimizer.step(params, noisy_gradient(model, X, y, rows, dp, cfg.l2, rng), weight)
        model.set_params(params)
        epoch = (step * dp.epochs) // steps  # epochs completed (in expectation)
        if epoch > result.epochs_run:
            record_epoch(model, X, y, cfg.l2, result, epoch, progress)
        if time_budget_s is not None and time.monotonic() - start > time_budget_s:
            result.stopped_reason = TIME_BUDGET
            break
    result.params = model.get_params()
    return result


# The wallet's default "Protect each row" setting, chosen by measurement
# (python -m benchmarks.privacy; the table is in docs/PROTOCOL.md). The sampling rate and
# epochs follow the bounty's training settings (expected batch = the spec's batch_size, the
# spec's epochs), so a private run takes as many steps as the plain one would.
DEFAULT_NOISE_MULTIPLIER = 2.0
DEFAULT_CLIP = 3.0


def dp_sgd_for(
    training: TrainingConfig, n_rows: int, noise_multiplier: float = DEFAULT_NOISE_MULTIPLIER,
    clip: float = DEFAULT_CLIP, sampling_rate: float | None = None, epochs: int | None = None,
) -> DpSgdConfig:
    """A DP-SGD setting for `n_rows` rows: sampling rate batch_size / n_rows (capped at 1)
    and the spec's epochs unless given."""
    if n_rows < 1:
        raise DataError("DP-SGD needs at least one row.")
    q = sampling_rate if sampling_rate is not None else min(1.0, training.batch_size / n_rows)
    return DpSgdConfig(float(noise_multiplier), float(clip), float(q),
                       int(epochs if epochs is not None else training.epochs))
