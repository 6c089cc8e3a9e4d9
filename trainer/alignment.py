"""How an update's direction compares with the practitioner's own update on its validation
data: the reference update, the tail of a random direction's cosine with it, and the screen's
thresholds. The practitioner screens and pays with these (`trainer.shapley`); an owner's
wallet recomputes them once the validation set is revealed, to check a rejection of its own
update (`wallet.verify.refute_rejection`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from trainer.dp_sgd import DpSgdConfig
from trainer.models import model_from_spec
from trainer.spec import BountySpec
from trainer.update import make_update

# The screen (docs/PROTOCOL.md, Valuation step 1): a single test keeps an update whose cosine
# with the reference reaches ALIGNMENT_KEEP_Z standard deviations of a random direction's; a
# round of more than ALIGNMENT_FREE_TESTS + 1 tests adds Holm's step-down at this level.
ALIGNMENT_KEEP_Z = 1.0
ALIGNMENT_FLOOD_LEVEL = 1.0 - NormalDist().cdf(1.5)
ALIGNMENT_FREE_TESTS = 14
# The pay factor (Valuation step 4) rises from 0 at ALIGNMENT_KEEP_Z to 1 at this normal score.
ALIGNMENT_FULL_Z = 4.0
# The screen's replay rule: an update within REPLAY_TOLERANCE x the previous round's global
# change of it is rejected with REPLAY_REASON (trainer.shapley.screen_updates); an owner's
# wallet checks such a rejection against the two public models (wallet.verify).
REPLAY_REASON = "replay of the previous round's global change"
REPLAY_TOLERANCE = 0.1


def replay_distance(update: np.ndarray, previous_change: np.ndarray) -> float | None:
    """|update - previous change| / |previous change| (None when the change is zero or the
    shapes differ): the screen rejects an update within REPLAY_TOLERANCE as a replay."""
    norm = float(np.linalg.norm(previous_change)) if update.shape == previous_change.shape else 0.0
    if norm == 0.0:
        return None
    return float(np.linalg.norm(update - previous_change)) / norm


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of two vectors (0 when either is zero)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def alignment_threshold(dimension: int) -> float:
    """The single test's cosine: ALIGNMENT_KEEP_Z standard deviations of the cosine between a
    random direction and a fixed vector (0: the update must not point away from it)."""
    return ALIGNMENT_KEEP_Z / math.sqrt(max(dimension, 1))


def random_direction_quantile(level: float, dimension: int) -> float:
    """The cosine t with `random_direction_tail(t, dimension) = level` (bisection; the tail
    decreases in t)."""
    low, high = -1.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2.0
        if random_direction_tail(middle, dimension) > level:
            low = middle
        else:
            high = middle
    return high


def random_direction_tail(cosine_value: float, dimension: int) -> float:
    """P(cosine(rho, r) >= cosine_value) for rho uniformly random on the unit sphere of R^d
    and any fixed r: (1 + cosine) / 2 ~ Beta((d-1)/2, (d-1)/2), so the tail is the regularised
    incomplete beta I_{(1-t)/2}((d-1)/2, (d-1)/2). Exact (no sampling), so anyone recomputes it."""
    t = min(max(float(cosine_value), -1.0), 1.0)
    if dimension < 2:
        return 1.0 if t <= -1.0 else 0.5  # one dimension: cosine is -1 or +1
    a = (dimension - 1) / 2.0
    return regularized_incomplete_beta(a, a, (1.0 - t) / 2.0)


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), pure Python."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def tail_pay_factor(tail: float, z_start: float = ALIGNMENT_KEEP_Z, z_full: float = ALIGNMENT_FULL_Z) -> float:
    """The share of its lower bound an update is paid when a random direction is at least as
    aligned with probability `tail`: z = Phi^-1(1 - tail), clip((z - z_start) / (z_full -
    z_start), 0, 1); 0 when tail >= 1."""
    if tail >= 1.0:
        return 0.0
    z = -NormalDist().inv_cdf(max(tail, 1e-300))
    return min(1.0, max(0.0, (z - z_start) / (z_full - z_start)))


def alignment_pay_factor(cosine_value: float, dimension: int) -> float:
    """The protocol's pay factor of an update whose cosine with the reference update is
    `cosine_value` in d = `dimension` parameters (each update tested on its own). The
    practitioner pays with it (`trainer.shapley.alignment_pay_factors`) and an owner's
    wallet recomputes its own once the validation set is revealed (`wallet.verify`)."""
    return tail_pay_factor(random_direction_tail(cosine_value, dimension))


def surely_kept(cosine_value: float, dimension: int, tests: int) -> bool:
    """Whether the screen keeps an update of this cosine with the reference whatever the
    other updates of a round of at most `tests` tests are: it reaches the single test, and
    the strictest threshold Holm's step-down can set (that of the first rank), which every
    better aligned update then reaches too."""
    if cosine_value < alignment_threshold(dimension):
        return False
    remaining = tests - ALIGNMENT_FREE_TESTS
    return remaining <= 1 or random_direction_tail(cosine_value, dimension) <= ALIGNMENT_FLOOD_LEVEL / remaining


def reference_update(
    spec: BountySpec, global_params: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """The practitioner's own update on its validation data: the direction honest updates
    share (used to screen out unaligned updates and for the pay factors, never aggregated).

    Full-batch gradient descent from the round's model with each example's gradient clipped
    to the median per-example gradient norm there (DP-SGD's clipping with no noise and every
    row in every step), for as many steps as the spec's mini-batch training takes: one
    validation example, mislabelled or relabelled, moves it no more than a typical example
    does, so it cannot turn the direction every pay factor is measured against. Measured
    against training it like an owner (docs/PROTOCOL.md, "Influence of one validation
    example"): the share of a round one relabelled example moves fell from 20-25 % to 9-13 %
    on 30-35 validation rows. Deterministic: anyone holding the validation set recomputes it."""
    model = model_from_spec(spec)
    start = np.asarray(global_params, dtype=np.float64)
    model.set_params(start)
    norms = np.linalg.norm(model.per_example_grads(x, y), axis=1)
    clip = float(np.median(norms)) if norms.size else 0.0
    if not (math.isfinite(clip) and clip > 0):  # nothing to learn at this model
        return np.zeros_like(start)
    steps = spec.training.epochs * math.ceil(len(y) / spec.training.batch_size)
    descent = DpSgdConfig(noise_multiplier=0.0, clip=clip, sampling_rate=1.0, epochs=steps)
    return make_update(spec, start, x, y, dp_sgd=descent, rng=np.random.default_rng(0)).delta


def along_bound(clip_norm: float, now: Sequence[float], first: Sequence[float]) -> float | None:
    """How far one update may move the model along the reference update r_t of its round:
    the spec's clip norm x the largest of now[i] / first[i], the lengths of honest steps on
    the validation data from the round's model over their lengths from the bounty's freshly
    initialised model (`round_along_bound`: the reference update r and an owner's update v).
    Round 1's bound is the clip norm itself; it shrinks as honest steps do, so an update kept
    at the clip norm while honest ones shrink (one row scaled up) cannot keep its early reach,
    and it shrinks only as far as the slower of the two, so honest updates keep theirs. It
    depends on the validation data alone: no owner moves it. None (no bound) when a step is
    zero or not finite (nothing to learn there)."""
    ratios = [float(n) / float(f) for n, f in zip(now, first, strict=True)
              if math.isfinite(n) and math.isfinite(f) and n > 0 and f > 0]
    if not ratios or len(ratios) != len(now):
        return None
    return float(clip_norm) * max(ratios)


def along_scale(update: np.ndarray, reference: np.ndarray, bound: float | None) -> float:
    """The factor (<= 1) the update is scaled by, its direction kept, so that its component
    along the reference is at most `bound`: 1 when it already is (or there is no bound)."""
    norm = float(np.linalg.norm(reference))
    if bound is None or norm == 0.0:
        return 1.0
    along = float(np.dot(update, reference)) / norm
    return bound / along if along > bound else 1.0


def validation_step_norm(spec: BountySpec, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """|v|: the length of the update an owner holding the validation data would send from
    `params` (the spec's training, no noise, before clipping; what `post` calibrates the clip
    norm with). It shrinks as honest owners' updates do when the model trains fast, where the
    reference update, whose examples are clipped to the median gradient, shrinks faster
    (tests/test_along_bound.py)."""
    return make_update(spec, params, x, y).raw_norm


def round_along_bound(spec: BountySpec, params: np.ndarray, x: np.ndarray, y: np.ndarray,
                      reference: np.ndarray | None = None) -> float | None:
    """The round's `along_bound` from the validation data (x, y) and the round's model
    (`reference`: r_t when already computed)."""
    initial = model_from_spec(spec).get_params()
    if reference is None:
        reference = reference_update(spec, params, x, y)
    now = (float(np.linalg.norm(reference)), validation_step_norm(spec, params, x, y))
    first = (float(np.linalg.norm(reference_update(spec, initial, x, y))), validation_step_norm(spec, initial, x, y))
    return along_bound(spec.privacy.clip_norm, now, first)
