"""Local training on real scikit-learn datasets, plus progress, cancel and time budget."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from trainer.errors import DataError, TrainingCancelled
from trainer.models import MLP, LogisticRegression, SoftmaxRegression, model_from_spec
from trainer.spec import TrainingConfig
from trainer.testing import make_spec
from trainer.train import CANCELLED, COMPLETED, TIME_BUDGET, train_local
from trainer.update import make_update


def _split(loader):
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine, load_digits])
@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.01), ("sgd", 0.1)])
def test_reaches_sklearn_logistic_regression_accuracy(loader, optimizer, lr):
    Xtr, Xte, ytr, yte = _split(loader)
    reference = SklearnLogisticRegression(max_iter=5000).fit(Xtr, ytr).score(Xte, yte)
    n_classes = len(np.unique(ytr))
    if n_classes == 2:
        model = LogisticRegression(Xtr.shape[1])
    else:
        model = SoftmaxRegression(Xtr.shape[1], n_classes)
    # sklearn's C=1 penalty on the summed loss = l2 of 1/n on our mean loss.
    config = TrainingConfig(optimizer, lr, 60, 32, 0, 1.0 / len(ytr))
    result = train_local(model, Xtr, ytr, config)
    assert result.stopped_reason == COMPLETED and result.epochs_run == 60
    ours = model.accuracy(Xte, yte)
    assert ours >= reference - 0.01, (ours, reference)


def test_mlp_learns_digits():
    Xtr, Xte, ytr, yte = _split(load_digits)
    model = MLP(64, 10, [32], seed=1)
    train_local(model, Xtr, ytr, TrainingConfig("adam", 0.01, 20, 32, 0, 1e-4))
    assert model.accuracy(Xte, yte) > 0.94


def test_training_is_deterministic_and_reports_progress():
    Xtr, _, ytr, _ = _split(load_wine)
    config = TrainingConfig("sgd", 0.05, 4, 16, 3, 0.0)
    seen = []
    a = train_local(SoftmaxRegression(13, 3), Xtr, ytr, config, progress=lambda *r: seen.append(r))
    b = train_local(SoftmaxRegression(13, 3), Xtr, ytr, config)
    assert np.array_equal(a.params, b.params)
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    assert seen[-1][1] < seen[0][1]  # loss goes down
    assert all(0 <= s[2] <= 1 for s in seen)
    assert [h.epoch for h in a.history] == [1, 2, 3, 4]
    other_seed = TrainingConfig("sgd", 0.05, 4, 16, 4, 0.0)
    c = train_local(SoftmaxRegression(13, 3), Xtr, ytr, other_seed)
    assert not np.array_equal(a.params, c.params)


def test_cancel_and_time_budget():
    Xtr, _, ytr, _ = _split(load_digits)
    config = TrainingConfig("adam", 0.01, 50, 8, 0, 0.0)
    calls = []
    result = train_local(
        SoftmaxRegression(64, 10),
        Xtr,
        ytr,
        config,
        should_stop=lambda: len(calls) > 5 or calls.append(1),
    )
    assert result.stopped_reason == CANCELLED and result.epochs_run == 0
    result = train_local(SoftmaxRegression(64, 10), Xtr, ytr, config, time_budget_s=0.05)
    assert result.stopped_reason == TIME_BUDGET
    assert 1 <= result.epochs_run < 50


def test_bad_shapes_give_data_errors():
    model = SoftmaxRegression(3, 3)
    config = TrainingConfig("sgd", 0.1, 1, 4, 0, 0.0)
    with pytest.raises(DataError, match="features"):
        train_local(model, np.zeros((5, 4)), np.zeros(5, dtype=int), config)
    with pytest.raises(DataError, match="outside"):
        train_local(model, np.zeros((5, 3)), np.full(5, 3), config)


def test_make_update_clips_and_noises():
    Xtr, _, ytr, _ = _split(load_breast_cancer)
    spec = make_spec(
        n_features=30,
        **{"training.epochs": 3, "privacy.clip_norm": 0.5, "privacy.max_noise_multiplier": 2.0},
    )
    start = model_from_spec(spec).get_params()
    update = make_update(spec, start, Xtr, ytr)
    assert update.delta.shape == (31,) and update.n_samples == len(ytr)
    assert update.raw_norm > 0.5 and update.clipped
    assert np.linalg.norm(update.delta) == pytest.approx(0.5)
    assert update.epsilon == float("inf") and len(update.train_history) == 3
    noisy = make_update(spec, start, Xtr, ytr, noise_multiplier=1.0, rng=np.random.default_rng(0))
    assert not np.allclose(noisy.delta, update.delta)
    assert 0 < noisy.epsilon < 10
    with pytest.raises(Exception, match="at most 2.0"):
        make_update(spec, start, Xtr, ytr, noise_multiplier=3.0)
    with pytest.raises(TrainingCancelled):
        make_update(spec, start, Xtr, ytr, should_stop=lambda: True)
    with pytest.raises(Exception, match="parameters"):
        make_update(spec, start[:-1], Xtr, ytr)
