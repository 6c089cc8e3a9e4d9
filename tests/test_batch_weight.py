"""A batch smaller than the spec's batch_size takes a step in proportion to its rows
(`trainer.train.batch_weight`): updates are averaged with equal weights, so without it one
row moved the model as far as 200 rows did (docs/PROTOCOL.md, "Small data sets take small
steps"). Real breast cancer rows, the real trainer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from trainer.dp_sgd import DpSgdConfig, train_dp_sgd
from trainer.models import LogisticRegression, SoftmaxRegression
from trainer.spec import TrainingConfig
from trainer.train import batch_weight, train_local

BATCH = 32


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(x), y


def _update(x: np.ndarray, y: np.ndarray, optimizer: str = "sgd", epochs: int = 1, batch: int = BATCH) -> np.ndarray:
    model = LogisticRegression(x.shape[1])
    start = model.get_params()
    train_local(model, x, y, TrainingConfig(optimizer, 0.1, epochs, batch, 0, 0.0))
    return model.get_params() - start


def test_batch_weight_is_the_share_of_a_full_batch():
    assert batch_weight(1, BATCH) == 1 / BATCH
    assert batch_weight(BATCH, BATCH) == 1.0
    assert batch_weight(5 * BATCH, BATCH) == 1.0  # a larger expected batch (DP-SGD) is one step
    assert batch_weight(0.5, 0) == 0.5  # a malformed batch size cannot divide by zero


def test_one_row_takes_one_batchs_share_of_the_step(rows):
    x, y = rows
    model = LogisticRegression(x.shape[1])
    _, grad = model.loss_and_grad(x[:1], y[:1])
    step = _update(x[:1], y[:1])
    np.testing.assert_allclose(step, -0.1 * grad / BATCH, rtol=1e-12, atol=1e-15)
    # and a full batch of rows its whole step
    _, grad_full = model.loss_and_grad(x[:BATCH], y[:BATCH])
    np.testing.assert_allclose(_update(x[:BATCH], y[:BATCH]), -0.1 * grad_full, rtol=1e-12, atol=1e-15)


def test_rows_split_over_two_addresses_add_up_to_the_whole(rows):
    """One epoch on fewer rows than a batch is one step: the halves' updates sum exactly to
    the whole's, so a sybil sending its rows as parts moves the model no further than the
    whole did (with a full step per batch each half moved it as far as the whole)."""
    x, y = rows[0][:30], rows[1][:30]
    whole = _update(x, y)
    halves = _update(x[:15], y[:15]) + _update(x[15:], y[15:])
    np.testing.assert_allclose(halves, whole, rtol=1e-9, atol=1e-12)
    # over several epochs the halves move it further (each fits only its own rows) but far
    # less than a full step per batch did: each half then moved it as far as the whole
    whole5 = np.linalg.norm(_update(x, y, epochs=5))
    halves5 = np.linalg.norm(_update(x[:15], y[:15], epochs=5) + _update(x[15:], y[15:], epochs=5))
    full_steps = np.linalg.norm(sum(_update(x[i:i + 15], y[i:i + 15], epochs=5, batch=15) for i in (0, 15)))
    assert halves5 < 1.4 * whole5 and full_steps > 1.8 * whole5


def test_the_last_short_batch_of_an_epoch_takes_a_short_step(rows):
    """BATCH + 1 rows: the lone row left at the epoch's end takes 1/BATCH of a step, not a
    whole one (it used to turn a retrained update of the same rows half around)."""
    x, y = rows[0][: BATCH + 1], rows[1][: BATCH + 1]
    model = LogisticRegression(x.shape[1])
    start = model.get_params()
    order = np.random.default_rng(0).permutation(BATCH + 1)  # TrainingConfig seed 0's order
    _, first = model.loss_and_grad(x[order[:BATCH]], y[order[:BATCH]])
    after_first = start - 0.1 * first
    model.set_params(after_first)
    _, last = model.loss_and_grad(x[order[BATCH:]], y[order[BATCH:]])
    expected = after_first - 0.1 * last / BATCH - start
    np.testing.assert_allclose(_update(x, y), expected, rtol=1e-12, atol=1e-15)


def test_adam_takes_the_same_share_of_its_step(rows):
    """Adam's step does not scale with the gradient, so the weight scales the step itself."""
    x, y = rows
    one = _update(x[:1], y[:1], optimizer="adam")
    full = _update(x[:BATCH], y[:BATCH], optimizer="adam")
    # Adam's first step is lr * sign(grad) (up to eps) per coordinate
    assert np.max(np.abs(one)) == pytest.approx(0.1 / BATCH, rel=1e-6)
    assert np.max(np.abs(full)) == pytest.approx(0.1, rel=1e-6)


def test_dp_sgd_without_noise_takes_the_plain_trainers_step(rows):
    """DP-SGD on fewer rows than a batch (sampling rate 1) with no noise and a clip no
    gradient reaches takes the same proportional step as plain training."""
    x, y = rows[0][:10], rows[1][:10]
    config = TrainingConfig("sgd", 0.1, 1, BATCH, 0, 0.0)
    plain = SoftmaxRegression(x.shape[1], 2)
    start = plain.get_params()
    train_local(plain, x, y, config)
    private = SoftmaxRegression(x.shape[1], 2)
    train_dp_sgd(private, x, y, config, DpSgdConfig(0.0, 1e9, 1.0, 1), rng=np.random.default_rng(0))
    np.testing.assert_allclose(private.get_params() - start, plain.get_params() - start, rtol=1e-9, atol=1e-13)
    assert np.linalg.norm(plain.get_params() - start) > 0
