"""The valuation's per-example utility and its estimates over the validation examples, shared
by the practitioner (`trainer.shapley`, `practitioner.valuation`) and an owner's wallet,
which recomputes its own value where it can (`wallet.verify`: rounds of one or two counted
updates, docs/PROTOCOL.md "Verification")."""

from __future__ import annotations

import math

import numpy as np

# One validation example's log-loss reduction counts at most c = UTILITY_CLIP_SHARE x the
# round model's mean validation log-loss (nats), either way: a confidently wrong example
# (up to 13.8 nats) or a relabelled one cannot outweigh the rest of a small validation set,
# and the bound shrinks with the losses as the model improves. Measured with
# benchmarks.fairness (docs/PROTOCOL.md): on 30-35 validation rows the largest share of a
# round one relabelled example moves is 0.14 with 0.3, 0.22 with 0.5, and 0.29 with a fixed
# 0.5 nats; values and ranks barely change.
UTILITY_CLIP_SHARE = 0.3
# Each player's value is the trimmed mean of its per-example values: its TRIM_COUNT highest
# and TRIM_COUNT lowest of m values are left out, and its standard error is Tukey &
# McLaughlin's (1963): the winsorised standard deviation / ((1 - 2k/m) sqrt(m)). One
# validation example then moves a value only as far as the values in the middle are spread,
# not up to the utility clip: with the reference update fixed, the largest share of a round
# one relabelled example moved fell from 23 / 13 / 7 % to 9 / 6 / 6 % on iris / wine /
# diabetes (30 / 35 / 88 rows). A fixed count, not a share: it is one example's (or two's)
# leverage that is bounded; trimming 5 % of 1,273 rows (statsmodels' fair) paid its 60 %-noise
# owner above its clean self in one round (benchmarks.example_influence, benchmarks.fairness).
TRIM_COUNT = 2


def utility_clip(round_loss: float) -> float:
    """c of the per-example utility clip, from the round model's mean validation log-loss
    (the report's metricBefore), so anyone holding the validation set recomputes it."""
    return max(UTILITY_CLIP_SHARE * float(round_loss), 1e-6)


def trimmed_count(m: int, count: int = TRIM_COUNT) -> int:
    """How many of m values each side the trimmed mean leaves out: `count`, or none when
    fewer than 2 values would remain."""
    return count if count > 0 and m - 2 * count >= 2 else 0


def trimmed_mean_and_stderr(per_example: np.ndarray, trim: int = TRIM_COUNT) -> tuple[np.ndarray, np.ndarray]:
    """Per row (player), the trimmed mean of its per-example values (`trimmed_count` each side
    left out) and Tukey & McLaughlin's standard error: the winsorised standard deviation /
    ((1 - 2k/m) sqrt(m)). With trim=0 these are the plain mean and standard error; a zero row
    stays exactly 0."""
    matrix = np.asarray(per_example, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("per-example values are players x examples")
    n, m = matrix.shape
    if m == 0:
        return np.zeros(n), np.zeros(n)
    k = trimmed_count(m, trim)
    ordered = np.sort(matrix, axis=1)
    mean = ordered[:, k : m - k].mean(axis=1)
    if m < 2:
        return mean, np.zeros(n)
    winsorised = np.clip(ordered, ordered[:, [k]], ordered[:, [m - k - 1]])
    stderr = winsorised.std(axis=1, ddof=1) / ((1.0 - 2.0 * k / m) * math.sqrt(m))
    return mean, stderr
