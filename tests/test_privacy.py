"""Clipping, Gaussian noise and the epsilon from dp-accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.errors import TrainerError
from trainer.privacy import add_gaussian_noise, clip_update, describe_epsilon, epsilon_spent


def test_clip_scales_down_only_when_needed():
    v = np.array([3.0, 4.0])
    assert np.allclose(clip_update(v, 1.0), [0.6, 0.8])
    assert np.array_equal(clip_update(v, 10.0), v)
    with pytest.raises(TrainerError):
        clip_update(v, 0.0)
    with pytest.raises(TrainerError, match="NaN"):
        clip_update(np.array([np.nan]), 1.0)


def test_noise_has_requested_scale():
    rng = np.random.default_rng(0)
    noisy = add_gaussian_noise(np.zeros(200_000), 1.5, 2.0, rng)
    assert noisy.std() == pytest.approx(3.0, rel=0.01)
    assert abs(noisy.mean()) < 0.02
    assert np.array_equal(add_gaussian_noise(np.ones(3), 0.0, 1.0), np.ones(3))
    with pytest.raises(TrainerError):
        add_gaussian_noise(np.ones(3), -1.0, 1.0)


def test_epsilon_matches_gaussian_mechanism_theory():
    # One Gaussian mechanism, sigma = 1: the optimal (eps, delta) curve (Balle & Wang 2018)
    # gives eps ~= 4.22 at delta = 1e-5; RDP is a valid upper bound, a bit looser.
    eps = epsilon_spent(1.0, 1.0, 1, 1e-5)
    assert 4.2 < eps < 5.5
    # More noise, less epsilon; more rounds, more epsilon.
    assert epsilon_spent(2.0, 1.0, 1, 1e-5) < eps < epsilon_spent(1.0, 1.0, 4, 1e-5)
    # Subsampling amplifies privacy.
    assert epsilon_spent(1.0, 0.01, 1, 1e-5) < eps


def test_epsilon_known_dp_sgd_value():
    # Abadi et al. style MNIST setting (q = 256/60000, sigma = 1.1, 60 epochs): RDP gives ~2.6-3.
    steps = 60 * 60000 // 256
    eps = epsilon_spent(1.1, 256 / 60000, steps, 1e-5)
    assert 2.0 < eps < 3.5


def test_epsilon_edge_cases():
    assert epsilon_spent(0.0, 1.0, 1, 1e-5) == math.inf
    assert epsilon_spent(1.0, 1.0, 0, 1e-5) == 0.0
    with pytest.raises(TrainerError):
        epsilon_spent(1.0, 1.0, 1, 0.0)
    with pytest.raises(TrainerError):
        epsilon_spent(1.0, 1.5, 1, 1e-5)


def test_describe_epsilon_plain_words():
    assert "No privacy noise" in describe_epsilon(math.inf, 1e-5)
    text = describe_epsilon(0.5, 1e-5)
    assert "Strong privacy" in text and "epsilon = 0.50" in text and "1.6 times" in text
    assert "Weak privacy" in describe_epsilon(20.0, 1e-5)
