"""Differential privacy for one owner's update: clip, add Gaussian noise, count epsilon.

Quarry adds noise once per round to the owner's whole update (user-level DP, as in DP-FedAvg):
the update is clipped to L2 norm `clip_norm`, then N(0, (noise_multiplier * clip_norm)^2) noise
is added to every parameter. That is one Gaussian mechanism per round, so for an owner taking
part in R rounds the privacy loss is R self-composed Gaussian mechanisms with sampling rate 1.
epsilon is computed with Google's dp-accounting RDP accountant, not by hand.
"""

from __future__ import annotations

import logging
import math

import dp_accounting
import numpy as np
from dp_accounting.rdp import RdpAccountant

from trainer.errors import TrainerError


def clip_update(delta: np.ndarray, clip_norm: float) -> np.ndarray:
    """Scale `delta` down so its L2 norm is at most clip_norm (unchanged if already smaller)."""
    if not clip_norm > 0:
        raise TrainerError("The clip norm must be greater than 0.")
    vec = np.asarray(delta, dtype=np.float64)
    if not np.all(np.isfinite(vec)):
        raise TrainerError("The update contains NaN or infinite values.")
    norm = float(np.linalg.norm(vec))
    if norm <= clip_norm:
        return vec.copy()
    return vec * (clip_norm / norm)


def add_gaussian_noise(
    delta: np.ndarray,
    noise_multiplier: float,
    clip_norm: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """delta + N(0, (noise_multiplier * clip_norm)^2) per coordinate.

    rng: pass a seeded Generator only in tests; the default draws from the OS entropy pool,
    because predictable noise protects nothing.
    """
    if noise_multiplier < 0 or not math.isfinite(noise_multiplier):
        raise TrainerError("The noise multiplier must be a non-negative number.")
    vec = np.asarray(delta, dtype=np.float64)
    if noise_multiplier == 0:
        return vec.copy()
    rng = rng if rng is not None else np.random.default_rng()
    return vec + rng.normal(0.0, noise_multiplier * clip_norm, size=vec.shape)


def epsilon_spent(
    noise_multiplier: float, sampling_rate: float, steps_or_rounds: int, delta: float
) -> float:
    """The epsilon of (epsilon, delta)-DP after `steps_or_rounds` Poisson-sampled Gaussian steps.

    For Quarry's per-round noise: sampling_rate = 1.0 and steps_or_rounds = rounds taken part in.
    Returns math.inf without noise.
    """
    if not 0 < delta < 1:
        raise TrainerError("delta must be between 0 and 1.")
    if not 0 < sampling_rate <= 1:
        raise TrainerError("The sampling rate must be in (0, 1].")
    if steps_or_rounds < 0:
        raise TrainerError("The number of rounds cannot be negative.")
    if steps_or_rounds == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    event: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(noise_multiplier)
    if sampling_rate < 1:
        event = dp_accounting.PoissonSampledDpEvent(sampling_rate, event)
    accountant = RdpAccountant()
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, int(steps_or_rounds)))
    return float(accountant.get_epsilon(delta))


# The two mechanisms the wallet runs, as names people read and the ledger stores.
ROW_LEVEL = "dp_sgd"  # "Protect each row": DP-SGD during local training (trainer.dp_sgd)
USER_LEVEL = "user_level"  # "Protect my whole dataset": noise once on the whole update
NO_NOISE = "none"
MECHANISMS = (ROW_LEVEL, USER_LEVEL, NO_NOISE)


def dp_sgd_event(noise_multiplier: float, sampling_rate: float, steps: int) -> dp_accounting.DpEvent:
    """The DpEvent of one DP-SGD run: `steps` Poisson-sampled Gaussian steps."""
    if steps <= 0:
        return dp_accounting.NoOpDpEvent()
    if noise_multiplier <= 0:
        return dp_accounting.NonPrivateDpEvent()
    step: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(float(noise_multiplier))
    if sampling_rate < 1:
        step = dp_accounting.PoissonSampledDpEvent(float(sampling_rate), step)
    return dp_accounting.SelfComposedDpEvent(step, int(steps))


def user_level_event(noise_multiplier: float, rounds: int = 1) -> dp_accounting.DpEvent:
    """The DpEvent of user-level noise: one Gaussian mechanism per round sent."""
    if rounds <= 0:
        return dp_accounting.NoOpDpEvent()
    if noise_multiplier <= 0:
        return dp_accounting.NonPrivateDpEvent()
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(float(noise_multiplier)), int(rounds))


def mechanism_event(mechanism: str, params: dict) -> dp_accounting.DpEvent:
    """The DpEvent of a stored contribution (wallet.privacy_budget keeps mechanism + params)."""
    if mechanism == ROW_LEVEL:
        return dp_sgd_event(float(params["noise_multiplier"]), float(params["sampling_rate"]),
                            int(params["steps"]))
    if mechanism == USER_LEVEL:
        return user_level_event(float(params["noise_multiplier"]))
    if mechanism == NO_NOISE:
        return dp_accounting.NonPrivateDpEvent()
    raise TrainerError(f"Unknown privacy mechanism {mechanism!r}.")


def epsilon_of(events: dp_accounting.DpEvent | list[dp_accounting.DpEvent], delta: float) -> float:
    """epsilon at `delta` of the events composed, by dp-accounting's RDP accountant
    (math.inf if any of them is not private)."""
    if not 0 < delta < 1:
        raise TrainerError("delta must be between 0 and 1.")
    items = events if isinstance(events, list) else [events]
    if not items:
        return 0.0
    accountant = RdpAccountant()
    event = items[0] if len(items) == 1 else dp_accounting.ComposedDpEvent(list(items))
    if accountant.supports(event) is False:  # NonPrivateDpEvent is not "supported": it is inf
        return math.inf
    absl = logging.getLogger("absl")
    level = absl.level
    # small fractional orders of a sampled Gaussian may not converge: dp-accounting drops them
    # from the minimum over orders (correctly) and logs a warning per order; not for users
    absl.setLevel(logging.ERROR)
    try:
        accountant.compose(event)
        return float(accountant.get_epsilon(delta))
    finally:
        absl.setLevel(level)


def describe_epsilon(eps: float, delta: float, mechanism: str = USER_LEVEL) -> str:
    """A plain-words explanation of (epsilon, delta) for the wallet to show, accurate to the
    mechanism: DP-SGD (ROW_LEVEL) bounds what can be learnt about any one row of the data;
    user-level noise about the whole dataset, i.e. whether the owner took part at all."""
    if math.isinf(eps):
        return (
            "No privacy noise: your update is encrypted so only the practitioner can read it, "
            "but the practitioner could learn something about your data from it."
        )
    odds = math.exp(min(eps, 50.0))
    if eps <= 1:
        level = "Strong privacy"
    elif eps <= 4:
        level = "Good privacy"
    elif eps <= 10:
        level = "Moderate privacy"
    else:
        level = "Weak privacy"
    if mechanism == ROW_LEVEL:
        what = ("for any single row of your data (one person's record), whatever anyone "
                "concludes about it from this update is at most")
        than = "if that row had not been in your file"
    else:
        what = "whatever anyone concludes about you or your whole dataset from this update is at most"
        than = "if you had not taken part at all"
    return (
        f"{level} (epsilon = {eps:.2f}, delta = {delta:.0e}): {what} {odds:,.1f} times more "
        f"likely than {than} (except with probability {delta:.0e}). More noise means "
        "stronger privacy but a less useful update and a smaller reward."
    )
