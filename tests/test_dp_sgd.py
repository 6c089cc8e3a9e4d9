"""DP-SGD ("Protect each row") and the privacy accounting of both modes (issue 10)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp
from scipy.stats import norm

from trainer.dp_sgd import DpSgdConfig, clip_rows, dp_sgd_for, noisy_gradient, train_dp_sgd
from trainer.errors import SpecError, TrainerError
from trainer.models import MLP, LogisticRegression, SoftmaxRegression
from trainer.privacy import (
    ROW_LEVEL,
    USER_LEVEL,
    dp_sgd_event,
    epsilon_of,
    mechanism_event,
    user_level_event,
)
from trainer.spec import BountySpec
from trainer.testing import make_spec
from trainer.update import make_update, plan_privacy

MODELS = {
    "logistic": lambda: LogisticRegression(4),
    "softmax": lambda: SoftmaxRegression(4, 3),
    "mlp relu": lambda: MLP(4, 3, (5,), "relu"),
    "mlp tanh 2 layers": lambda: MLP(4, 3, (5, 3), "tanh"),
}


@pytest.mark.parametrize("kind", MODELS)
def test_per_example_gradients_match_finite_differences(kind: str) -> None:
    rng = np.random.default_rng(1)
    model = MODELS[kind]()
    model.set_params(rng.normal(scale=0.7, size=model.n_params))
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, model.arch.n_classes, size=5)
    grads = model.per_example_grads(x, y)
    assert grads.shape == (5, model.n_params)
    params = model.get_params()
    h = 1e-6
    for i in range(5):
        numeric = np.empty(model.n_params)
        for j in range(model.n_params):
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            model.set_params(up)
            loss_up = model.loss(x[i : i + 1], y[i : i + 1])
            model.set_params(down)
            numeric[j] = (loss_up - model.loss(x[i : i + 1], y[i : i + 1])) / (2 * h)
        model.set_params(params)
        np.testing.assert_allclose(grads[i], numeric, atol=1e-6, rtol=1e-5)
    # the mean of the rows is the batch gradient the plain trainer uses
    np.testing.assert_allclose(grads.mean(axis=0), model.loss_and_grad(x, y)[1], atol=1e-12)


def test_l2_gradient_is_the_penalty_of_weights_only() -> None:
    model = MLP(3, 2, (4,), seed=2)
    x, y = np.zeros((1, 3)), np.array([0])
    with_l2 = model.loss_and_grad(x, y, l2=0.3)[1]
    without = model.loss_and_grad(x, y, l2=0.0)[1]
    np.testing.assert_allclose(with_l2 - without, model.l2_grad(0.3), atol=1e-12)


@pytest.mark.parametrize("kind", MODELS)
def test_clipping_bounds_one_extreme_row(kind: str) -> None:
    """One row scaled 10^6 times moves a noiseless DP-SGD step by at most clip / (q n)."""
    rng = np.random.default_rng(3)
    model = MODELS[kind]()
    model.set_params(rng.normal(scale=0.3, size=model.n_params))
    x = rng.normal(size=(20, 4))
    y = rng.integers(0, model.arch.n_classes, size=20)
    extreme = x.copy()
    extreme[7] *= 1e6
    # its label is the class the model finds least likely: a huge gradient, not a zero one
    y[7] = int(np.argmin(model.predict_proba(extreme[7:8])[0]))
    assert np.linalg.norm(model.per_example_grads(extreme[7:8], y[7:8])) > 2 * 0.5  # clipped
    dp = DpSgdConfig(0.0, clip=0.5, sampling_rate=0.5, epochs=1)
    mask = np.ones(20, dtype=bool)
    base = noisy_gradient(model, x, y, mask, dp, 0.0, rng)
    moved = noisy_gradient(model, extreme, y, mask, dp, 0.0, rng)
    # each row's clipped gradient is at most clip long: swapping one row moves the sum <= 2 clip
    assert np.linalg.norm(moved - base) <= 2 * dp.clip / (dp.sampling_rate * 20) + 1e-12
    assert np.all(np.linalg.norm(clip_rows(model.per_example_grads(extreme, y), 0.5), axis=1) <= 0.5 + 1e-12)


def _rdp_sampled_gaussian_integer(q: float, sigma: float, alpha: int) -> float:
    """Mironov, Talwar & Zhang (2019), integer orders: log A_alpha / (alpha - 1)."""
    k = np.arange(alpha + 1)
    log_binom = gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
    with np.errstate(divide="ignore"):
        terms = log_binom + (alpha - k) * np.log1p(-q) + k * np.log(q) + (k * k - k) / (2 * sigma**2)
    return float(logsumexp(terms)) / (alpha - 1)


def _reference_epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    """RDP -> (eps, delta) with the conversion of Canonne, Kamath & Steinke (2020) over
    integer orders 2..256, written out here independently of dp-accounting."""
    best = math.inf
    for alpha in range(2, 257):
        rdp = steps * _rdp_sampled_gaussian_integer(q, sigma, alpha)
        eps = rdp + math.log1p(-1 / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)
        best = min(best, eps)
    return best


@pytest.mark.parametrize(("sigma", "q", "steps"), [(1.0, 0.01, 1000), (1.1, 256 / 60000, 14063),
                                                   (2.0, 0.25, 20), (1.0, 0.1, 50)])
def test_dp_sgd_epsilon_matches_an_independent_rdp_computation(sigma: float, q: float, steps: int) -> None:
    ours = epsilon_of(dp_sgd_event(sigma, q, steps), 1e-5)
    reference = _reference_epsilon(q, sigma, steps, 1e-5)
    # dp-accounting also searches fractional orders, so it may only be a little tighter
    assert ours <= reference + 1e-9
    assert ours >= 0.97 * reference


def test_user_level_epsilon_against_the_exact_gaussian_curve() -> None:
    """k self-composed Gaussians are one Gaussian of sigma / sqrt(k); its exact (eps, delta)
    curve (Balle & Wang 2018) is a lower bound the RDP accountant may exceed by a little."""
    for sigma, rounds in ((1.0, 1), (2.0, 5), (0.8, 3)):
        s = sigma / math.sqrt(rounds)

        def gap(eps: float, s: float = s) -> float:
            return norm.cdf(0.5 / s - eps * s) - math.exp(eps) * norm.cdf(-0.5 / s - eps * s) - 1e-5

        exact = brentq(gap, 1e-6, 100)
        ours = epsilon_of(user_level_event(sigma, rounds), 1e-5)
        assert exact <= ours <= 1.2 * exact
    assert epsilon_of(user_level_event(1.0), 1e-5) == pytest.approx(4.7285, abs=1e-3)  # issue 10's 4.73


def test_composition_and_non_private_events() -> None:
    one = dp_sgd_event(2.0, 0.25, 20)
    assert epsilon_of([one, one], 1e-5) == pytest.approx(epsilon_of(dp_sgd_event(2.0, 0.25, 40), 1e-5))
    assert math.isinf(epsilon_of([one, user_level_event(0.0)], 1e-5))
    assert epsilon_of([], 1e-5) == 0.0
    params = DpSgdConfig(2.0, 1.0, 0.25, 5).to_json()
    assert epsilon_of(mechanism_event(ROW_LEVEL, params), 1e-5) == epsilon_of(one, 1e-5)
    assert epsilon_of(mechanism_event(USER_LEVEL, {"noise_multiplier": 1.0}), 1e-5) == pytest.approx(4.7285, abs=1e-3)


def _data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x @ np.array([1.5, -1.0, 0.5, 0.0]) > 0).astype(np.int64)
    return x, y


def test_dp_sgd_trains_and_reports_its_mechanism() -> None:
    spec = make_spec(4)
    x, y = _data()
    start = np.zeros(LogisticRegression(4).n_params)
    config = dp_sgd_for(spec.training, len(y), noise_multiplier=1.0, clip=3.0)
    assert config.sampling_rate == pytest.approx(min(1.0, spec.training.batch_size / len(y)))
    update = make_update(spec, start, x, y, dp_sgd=config, rng=np.random.default_rng(0))
    model = LogisticRegression(4)
    model.set_params(start + update.delta)
    assert model.accuracy(x, y) > 0.85
    assert update.mechanism == ROW_LEVEL and update.mechanism_params["steps"] == config.steps
    assert update.epsilon == pytest.approx(epsilon_of(
        dp_sgd_event(1.0, config.sampling_rate, config.steps), spec.privacy.delta))
    assert np.linalg.norm(update.delta) <= spec.privacy.clip_norm + 1e-12
    with pytest.raises(TrainerError, match="one privacy mode"):
        make_update(spec, start, x, y, dp_sgd=config, noise_multiplier=1.0)


def test_train_dp_sgd_reports_every_epoch_and_stops() -> None:
    spec = make_spec(4)
    x, y = _data(60)
    seen: list[int] = []
    result = train_dp_sgd(LogisticRegression(4), x, y, spec.training, DpSgdConfig(1.0, 1.0, 0.3, 4),
                          progress=lambda e, loss, acc: seen.append(e), rng=np.random.default_rng(1))
    assert seen == [1, 2, 3, 4] and result.epochs_run == 4
    stopped = train_dp_sgd(LogisticRegression(4), x, y, spec.training, DpSgdConfig(1.0, 1.0, 0.3, 4),
                           should_stop=lambda: True)
    assert stopped.stopped_reason == "cancelled"


def test_spec_max_epsilon_is_parsed_and_enforced() -> None:
    spec = make_spec(4, **{"privacy.max_epsilon": 3.0})
    assert spec.privacy.max_epsilon == 3.0
    again = BountySpec.from_json_bytes(spec.to_json_bytes())
    assert again.privacy.max_epsilon == 3.0 and again.spec_hash == spec.spec_hash
    assert "max_epsilon" not in make_spec(4).to_json()["privacy"]  # older specs keep their hash
    with pytest.raises(SpecError, match="max_epsilon"):
        make_spec(4, **{"privacy.max_epsilon": -1})
    x, y = _data()
    start = np.zeros(5)
    with pytest.raises(TrainerError, match="at most ε = 3"):
        plan_privacy(spec)  # no noise: ε = ∞
    with pytest.raises(TrainerError, match="at most ε = 3"):
        plan_privacy(spec, noise_multiplier=1.0)  # ε 4.73
    strong = DpSgdConfig(3.0, 1.0, 0.1, 2)
    assert plan_privacy(spec, dp_sgd=strong).epsilon < 3.0
    assert make_update(spec, start, x, y, dp_sgd=strong).epsilon < 3.0
    # the practitioner's own reference training runs make_update too: the wallet enforces
    assert math.isinf(make_update(spec, start, x, y).epsilon)


def test_privacy_words_follow_the_mode() -> None:
    from trainer.privacy import describe_epsilon

    row = describe_epsilon(2.0, 1e-5, ROW_LEVEL)
    whole = describe_epsilon(2.0, 1e-5, USER_LEVEL)
    assert "any single row" in row and "whole dataset" not in row
    assert "whole dataset" in whole and "had not taken part at all" in whole
    assert "Good privacy" in row and "7.4 times" in row


def test_preview_measures_the_setting_on_held_out_rows() -> None:
    from trainer.privacy_preview import preview_privacy

    spec = make_spec(4, **{"privacy.max_epsilon": 5.0})  # the plain comparison still runs
    x, y = _data(200)
    start = np.zeros(5)
    gentle = preview_privacy(spec, start, x, y, dp_sgd=dp_sgd_for(spec.training, 160))
    heavy = preview_privacy(spec, start, x, y, noise_multiplier=50.0)
    assert gentle.rows_held_out == 40
    assert gentle.accuracy_plain > 0.85 and gentle.accuracy_plain == heavy.accuracy_plain
    assert gentle.drop_points < 10 < heavy.drop_points
    assert "40 of your rows held out" in gentle.words()
