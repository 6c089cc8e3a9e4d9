"""Shapley values of a round's contributors, the anti-gaming screening before them, and payouts.

The game: a coalition S is worth the validation metric of the model
`global + sum(updates of S) / n_players`. The denominator is fixed (the number of players of
the round), so a zero update is an exact null player instead of a step-size change.

- `exact_shapley`: memoised utility over all 2^n coalitions; used for n <= 12.
- `gtg_shapley`: guided permutation sampling with between- and within-permutation truncation
  (GTG-Shapley, Liu et al. 2022), seeded, capped at max(30, n) * n utility evaluations.
- `screen_updates`: rejects zero-norm updates, replays of the last global change and (given
  a reference direction) updates not aligned with it, and merges updates from the same data
  (cosine > 0.99, or residual cosine > 0.4 + 2.6/sqrt(d) once the round's common direction
  is taken out) into one player, because Shapley values reward copies: two copies of one update would
  otherwise earn more than the original.
- `allocate_reward`: integer token amounts proportional to positive values, sum <= reward.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

log = logging.getLogger(__name__)

EXACT_MAX_PLAYERS = 12
DUPLICATE_COSINE = 0.99
# Same data trained twice (another seed, 0.5-5x the epochs): the parts of two updates that
# the round's common direction does not explain still agree. Residual cosine threshold
# 0.4 + 2.6 / sqrt(parameters), fitted on the demo data (owners' parts halved, rounds of
# 3-6): breast cancer (31 parameters) honest <= 0.85 < 0.87 < 0.89 <= same data; wine (42)
# 0.67 < 0.80 < 0.88; digits (650) 0.44 < 0.50 < 0.51. Independent sampling residuals
# agree less as the model grows, hence the 1/sqrt(d) term.
SAME_DATA_RESIDUAL_BASE = 0.4
SAME_DATA_RESIDUAL_SCALE = 2.6
SAME_DATA_MIN_COSINE = 0.5
# An update within this relative distance of the previous global change is a replay.
REPLAY_TOLERANCE = 0.1

Coalition = frozenset[int]
Utility = Callable[[Coalition], float]


@dataclass(frozen=True)
class ShapleyResult:
    values: tuple[float, ...]
    method: str  # "exact" or "gtg"
    seed: int | None
    evaluations: int  # distinct coalitions whose utility was computed
    permutations: int = 0  # complete permutations sampled (gtg only)
    utilities: dict[Coalition, float] = field(default_factory=dict, repr=False, compare=False)


class _MemoUtility:
    """Caches utility(S) by coalition and counts distinct evaluations."""

    def __init__(self, utility: Utility) -> None:
        self._utility = utility
        self.cache: dict[Coalition, float] = {}

    def __call__(self, coalition: Coalition) -> float:
        if coalition not in self.cache:
            self.cache[coalition] = float(self._utility(coalition))
        return self.cache[coalition]

    def known(self, coalition: Coalition) -> bool:
        return coalition in self.cache

    @property
    def evaluations(self) -> int:
        return len(self.cache)


def exact_shapley(n_players: int, utility: Utility) -> ShapleyResult:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! * (v(S+i) - v(S))."""
    if n_players < 0:
        raise ValueError("negative number of players")
    if n_players > 20:
        raise ValueError("exact Shapley over more than 20 players is too expensive")
    memo = _MemoUtility(utility)
    n = n_players
    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    values = [0.0] * n
    players = range(n)
    for size in range(n):
        for subset in itertools.combinations(players, size):
            base = frozenset(subset)
            v_base = memo(base)
            for player in players:
                if player not in base:
                    values[player] += weights[size] * (memo(base | {player}) - v_base)
    if n == 0:
        memo(frozenset())
    return ShapleyResult(tuple(values), "exact", None, memo.evaluations, 0, dict(memo.cache))


def gtg_budget(n_players: int) -> int:
    return max(30, n_players) * n_players


def gtg_shapley(
    n_players: int,
    utility: Utility,
    *,
    seed: int,
    max_evaluations: int | None = None,
    truncation: float = 0.01,
    convergence: float = 0.01,
    min_permutations: int | None = None,
) -> ShapleyResult:
    """Guided, truncated Monte Carlo permutation sampling.

    - Between-round truncation: if v(N) and v(empty) are (relatively) equal, all values are 0.
    - Within-permutation truncation: once v(prefix) is within `truncation * |v(N) - v(empty)|`
      of v(N), the remaining players' marginals are taken as 0 without evaluating.
    - Guided sampling: permutation k starts with player k mod n, so every player is seen at
      the head (where marginals are largest) equally often.
    - Stops when the mean relative change of the estimates over the last full cycle of n
      permutations is below `convergence`, or before exceeding the evaluation budget
      (default max(30, n) * n). A permutation cut by the budget is discarded.
    """
    n = n_players
    budget = gtg_budget(n) if max_evaluations is None else max_evaluations
    memo = _MemoUtility(utility)
    rng = np.random.default_rng(seed)
    grand = frozenset(range(n))
    if n == 0:
        return ShapleyResult((), "gtg", seed, 0)
    v_empty = memo(frozenset())
    v_grand = memo(grand)
    span = abs(v_grand - v_empty)
    if span <= 1e-12:
        log.info("gtg-shapley: v(N) == v(empty); all values 0 (seed %d)", seed)
        return ShapleyResult(tuple([0.0] * n), "gtg", seed, memo.evaluations, 0, dict(memo.cache))
    tolerance = truncation * span
    total = np.zeros(n)
    permutations = 0
    previous_estimate: np.ndarray | None = None
    min_perms = 2 * n if min_permutations is None else min_permutations
    stop = False
    while not stop:
        head = permutations % n
        rest = [p for p in range(n) if p != head]
        rng.shuffle(rest)
        order = [head, *rest]
        marginals = np.zeros(n)
        prefix: frozenset[int] = frozenset()
        v_prev = v_empty
        for player in order:
            prefix = prefix | {player}
            if abs(v_grand - v_prev) < tolerance:
                v_cur = v_prev  # truncated: the rest adds (almost) nothing
            else:
                if not memo.known(prefix) and memo.evaluations >= budget:
                    stop = True
                    break
                v_cur = memo(prefix)
            marginals[player] = v_cur - v_prev
            v_prev = v_cur
        if stop:
            break
        total += marginals
        permutations += 1
        if permutations % n == 0:
            estimate = total / permutations
            if previous_estimate is not None and permutations >= min_perms:
                scale = np.maximum(np.abs(estimate), 1e-12)
                change = float(np.mean(np.abs(estimate - previous_estimate) / scale))
                if change < convergence:
                    break
            previous_estimate = estimate
        if memo.evaluations >= budget:
            break
    values = total / permutations if permutations else np.zeros(n)
    log.info(
        "gtg-shapley: n=%d seed=%d permutations=%d evaluations=%d (budget %d)",
        n, seed, permutations, memo.evaluations, budget,
    )
    return ShapleyResult(
        tuple(float(v) for v in values), "gtg", seed, memo.evaluations, permutations,
        dict(memo.cache),
    )


def shapley_values(
    n_players: int, utility: Utility, *, seed: int = 0, exact_max: int = EXACT_MAX_PLAYERS
) -> ShapleyResult:
    """Exact for up to `exact_max` players, GTG-Shapley beyond."""
    if n_players <= exact_max:
        return exact_shapley(n_players, utility)
    return gtg_shapley(n_players, utility, seed=seed)


# --- screening -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Screening:
    """Outcome of the anti-gaming screening of one round's decrypted updates.

    `groups[k]` lists the indexes (into the screened list) of the updates that form player k;
    a group of more than one is a set of near-identical updates that share one player's value.
    `rejected` maps an index to the reason it takes no part.
    """

    groups: tuple[tuple[int, ...], ...]
    rejected: dict[int, str]

    def player_updates(self, updates: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One update per player: the mean of its group (one copy of a duplicated update)."""
        return [np.mean([updates[i] for i in group], axis=0) for group in self.groups]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def alignment_threshold(dimension: int) -> float:
    """1.5 standard deviations of the cosine between a random direction and a fixed vector."""
    return 1.5 / math.sqrt(max(dimension, 1))


def same_data(
    a: np.ndarray,
    b: np.ndarray,
    reference: np.ndarray | None,
    others_mean: np.ndarray | None,
    duplicate_cosine: float = DUPLICATE_COSINE,
) -> bool:
    """Whether two updates look trained on the same data.

    Copies have cosine > `duplicate_cosine`. Retraining the same data with another seed or
    other epochs gives cosine 0.88-0.998, as high as two honest owners with disjoint data of
    one distribution (0.79-0.98 on the demo data), so cosine alone cannot tell them apart.
    What tells them apart is what the common direction does not explain: project out the
    practitioner's reference update and the mean of the round's *other* updates (so the
    pair's own mean is not removed, which would make any two residuals opposite); disjoint
    data leaves independent sampling residuals (cosine near 0), the same data the same
    residual. Needs at least one other update (with only two, merging changes no payout).
    """
    similarity = cosine(a, b)
    if similarity > duplicate_cosine:
        return True
    if others_mean is None or similarity <= SAME_DATA_MIN_COSINE:
        return False
    basis = [v for v in (reference, others_mean) if v is not None and np.linalg.norm(v) > 0]
    q, _ = np.linalg.qr(np.stack(basis, axis=1))
    residual_a = a - q @ (q.T @ a)
    residual_b = b - q @ (q.T @ b)
    return cosine(residual_a, residual_b) > same_data_residual_threshold(a.size)


def same_data_residual_threshold(dimension: int) -> float:
    return SAME_DATA_RESIDUAL_BASE + SAME_DATA_RESIDUAL_SCALE / math.sqrt(max(dimension, 1))


def screen_updates(
    updates: Sequence[np.ndarray | None],
    previous_global_delta: np.ndarray | None = None,
    *,
    duplicate_cosine: float = DUPLICATE_COSINE,
    replay_tolerance: float = REPLAY_TOLERANCE,
    zero_tolerance: float = 1e-12,
    reference: np.ndarray | None = None,
    min_alignment: float | None = None,
) -> Screening:
    """Reject zero-norm updates and replays; merge near-identical ones (single linkage).

    With `reference` (the practitioner's own update on its validation data, FLTrust-style),
    an update whose cosine with it is below `min_alignment` (default 1.5 / sqrt(dimension))
    is rejected. This is a one-sided z-test, z = cosine * sqrt(d) >= 1.5: a random
    direction has cosine ~ N(0, 1/d) with any fixed vector, so random noise passes with
    probability ~7 % whatever its norm, while an honest update points the same way.
    Accuracy-based Shapley values alone give random noise a positive value about half the
    time (accuracy moves in whole validation samples).

    Owners who add DP noise N(0, (sigma * C)^2) per parameter have z ~ N(|u| cos / (sigma C), 1),
    and differential privacy itself bounds any test: one that rejects pure noise with
    probability 1 - a accepts such an update with probability at most
    Phi(Phi^-1(a) + |u| / (sigma C)) (Gaussian DP). Knowing sigma (declared or estimated
    from the norm) does not change the null distribution, so it cannot raise that bound;
    a clip norm C near honest update norms does (`practitioner.post.calibrated_clip_norm`).

    `None` entries (updates that could not be fetched or decrypted) must already carry a
    rejection reason elsewhere; here they are simply skipped.
    """
    rejected: dict[int, str] = {}
    kept: list[int] = []
    delta_norm = (
        float(np.linalg.norm(previous_global_delta)) if previous_global_delta is not None else 0.0
    )
    for index, update in enumerate(updates):
        if update is None:
            continue
        if not np.all(np.isfinite(update)):
            rejected[index] = "update has non-finite values"
            continue
        norm = float(np.linalg.norm(update))
        if norm <= zero_tolerance:
            rejected[index] = "zero update (free rider)"
            continue
        if previous_global_delta is not None and delta_norm > 0.0:
            distance = float(np.linalg.norm(update - previous_global_delta))
            if distance <= replay_tolerance * delta_norm:
                rejected[index] = "replay of the previous round's global change"
                continue
        if reference is not None and float(np.linalg.norm(reference)) > 0.0:
            threshold = (
                min_alignment if min_alignment is not None else alignment_threshold(update.size)
            )
            alignment = cosine(update, reference)
            if alignment < threshold:
                rejected[index] = (
                    f"update not aligned with the validation data (cosine {alignment:.2f} "
                    f"< {threshold:.2f}); random noise or unrelated data"
                )
                continue
        kept.append(index)
    # Union-find over the kept updates: the same data means the same player.
    parent = {i: i for i in kept}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    kept_sum = np.sum([updates[i] for i in kept], axis=0) if kept else None
    for a, b in itertools.combinations(kept, 2):
        others = len(kept) - 2
        others_mean = (kept_sum - updates[a] - updates[b]) / others if others else None  # type: ignore[operator]
        if same_data(updates[a], updates[b], reference, others_mean, duplicate_cosine):  # type: ignore[arg-type]
            root_a, root_b = find(a), find(b)
            if root_a != root_b:
                parent[max(root_a, root_b)] = min(root_a, root_b)
    groups: dict[int, list[int]] = {}
    for i in kept:
        groups.setdefault(find(i), []).append(i)
    ordered = tuple(tuple(members) for _, members in sorted(groups.items()))
    return Screening(ordered, rejected)


# --- payouts -------------------------------------------------------------------------------


def allocate_reward(values: Sequence[float], reward: int) -> list[int]:
    """Token base units per player, proportional to positive values; sum <= reward.

    Zero and negative values get nothing. Exact rational arithmetic then floor, so rounding
    never overspends the round.
    """
    if reward < 0:
        raise ValueError("negative reward")
    positive = [Fraction(v) if (math.isfinite(v) and v > 0) else Fraction(0) for v in values]
    total = sum(positive, Fraction(0))
    if total == 0:
        return [0] * len(values)
    return [math.floor(reward * v / total) for v in positive]


def split_group_values(
    group_values: Sequence[float], groups: Sequence[Sequence[int]], n_updates: int
) -> list[float]:
    """Per-update value: each group's value split equally among its members; others 0."""
    per_update = [0.0] * n_updates
    for value, members in zip(group_values, groups, strict=True):
        for member in members:
            per_update[member] = value / len(members)
    return per_update
