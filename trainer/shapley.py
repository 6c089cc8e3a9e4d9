"""Shapley values per validation example, the screening before them, copies, and payouts.

The game (docs/PROTOCOL.md, "Valuation"): a coalition S is worth, on each validation example
j, the clipped reduction of that example's log-loss,
`u_j(S) = clip(loss_j(round model) - loss_j(global + sum(updates of S) / n), -c, c)`, with
a fixed denominator n (the number of players of the round), so a zero update is an exact
null player. Shapley values are linear in the utility, so every player gets one value per
validation example (`ShapleyResult.per_example`, players x examples) whose mean is its
Shapley value for the mean utility; the spread across examples gives its standard error.

- `exact_shapley`: all 2^n coalitions; used for n <= 12.
- `gtg_shapley`: guided permutation sampling with between- and within-permutation truncation
  (GTG-Shapley, Liu et al. 2022), seeded, capped at max(30, n) * n utility evaluations;
  decisions (truncation, convergence) use the mean utility, and the per-example values are
  the same linear combination of the sampled coalitions' per-example utilities.
- `screen_updates`: rejects non-finite and zero updates, replays of the last global change
  and (given a reference direction) updates not aligned with it, the round's updates tested
  together (Holm), so a flood of junk submissions cannot carry random directions in.
- `copy_groups`: updates that are copies of each other up to a positive scale and small
  noise; the group is credited to its earliest on-chain submission only.
- `value_estimates` / `payout_weights` / `allocate_reward`: value (the trimmed mean of the
  per-example values), standard error and lower confidence bound per player; amounts
  proportional to the positive lower bounds, each times its `alignment_pay_factors` factor: how clearly its direction beats a random
  one (`null_pay_factors` with a family-wise test: measured, not used by the protocol).

Why Shapley and not a semivalue such as Data Banzhaf (Wang & Jia, AISTATS 2023): Banzhaf is
the semivalue most robust to noise *in the utility of each coalition* (retraining with a new
seed). Here no coalition is retrained: its model is the fixed sum of fixed updates, so each
v(S) is exact given the validation set, and the only noise is which examples the validation
set holds, which the per-example standard error measures directly. Shapley keeps efficiency
on every example (the players' values on it add up to what the round's model gained on it);
Banzhaf does not. Each player's value is then the trimmed mean over the examples
(`TRIM_COUNT`), so one example cannot carry it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from trainer.alignment import (
    ALIGNMENT_FLOOD_LEVEL,
    ALIGNMENT_FREE_TESTS,
    ALIGNMENT_FULL_Z,  # noqa: F401 - re-exported (the pay factor's constants)
    ALIGNMENT_KEEP_Z,  # noqa: F401 - re-exported
    REPLAY_REASON,
    REPLAY_TOLERANCE,
    alignment_pay_factor,
    alignment_threshold,
    cosine,
    random_direction_quantile,
    random_direction_tail,
    regularized_incomplete_beta,  # noqa: F401 - here since before trainer.alignment
    tail_pay_factor,
)
from trainer.copy_proof import (  # noqa: F401 - re-exported
    COPY_COSINE,
    COPY_EXACT_COSINE,
    COPY_NOISE_MIN_PARAMS,
    COPY_RESIDUAL_COSINE,
    exact_direction,
)
from trainer.estimates import TRIM_COUNT, trimmed_count, trimmed_mean_and_stderr  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

EXACT_MAX_PLAYERS = 12
# Up to this many players a round is valued here (exact, then the round's seeded GTG), which any
# wallet holding the round's opening replays (trainer.openings); beyond it by the practitioner's
# bounded sampler (practitioner.scale), which none does.
GTG_MAX_PLAYERS = 128
DENSE_COEFFICIENTS_MAX = 4_000_000  # players x coalitions kept as a dense matrix (GTG)
# REPLAY_TOLERANCE and REPLAY_REASON (the replay rule) live in trainer.alignment.
# Copies (docs/PROTOCOL.md, measured with `python -m benchmarks.fairness`):
# - The same update up to a positive scale and noise at the encoding's precision (exact,
#   re-randomised and scaled ciphertexts, a few fixed-point steps of noise): cosine above
#   1 - 1e-6, for any model. Owners with disjoint rows came no closer than 1 - 1.6e-4 (a
#   5-parameter logistic model, 200-row owners of a strongly predictive table).
# - Plus up to ~7 % noise, on models of at least COPY_NOISE_MIN_PARAMS parameters: cosine
#   > 0.995 AND the parts the round's common direction does not explain point the same way
#   (residual cosine > 0.8). Over the benchmark's tables disjoint owners reached cosine 0.990
#   (iris, 15 parameters) and residual cosine 0.966 (then cosine 0.91), never both; on 5-10
#   parameter models they reach 0.9998 with residuals as aligned (residual space of 3-8
#   dimensions) and this rule merged 0.2-5 % of honest pairs, so it stays off there; at 650
#   parameters (digits) honest owners stayed below 0.91 / 0.49.
# The same rows retrained with another seed and row order reach only cosine 0.90 / residual
# 0.82, inside the honest range: that sybil is not caught (PROTOCOL.md).
# (the thresholds live in trainer.copy_proof: an owner's wallet checks a copy claim by them)
# The lower confidence bound: value - Z * standard error (one-sided ~98 %).
CONFIDENCE_Z = 2.0
# TRIM_COUNT (2: values are trimmed means) lives in trainer.estimates with the estimate itself.
# Payouts = reward * lcb+ / max(sum of lcb+, PAYOUT_FLOOR * sum of mean+). With 1.0 each
# player gets its share of the round's demonstrated value less its uncertainty; the rest
# stays unassigned (the board carries it to the bounty's contributors) instead of a
# borderline player taking the whole round when nobody else is distinguishable from zero,
# so shares move continuously with the data (measured: benchmarks.fairness).
PAYOUT_FLOOR = 1.0
# The null test of the pay (`null_pay_factors`; optional, off in the protocol): an update's
# cosine with the practitioner's reference update is compared with that of a uniformly
# random direction in the model's d dimensions (exact tail probability p), Bonferroni-
# adjusted over the round's n players (p_adj = min(1, n p)), as a normal score
# z = Phi^-1(1 - p_adj). The pay factor rises linearly from 0 at z = NULL_Z_START to 1 at
# NULL_Z_FULL. A start above 1.0 fails the DP owners' floors of tests/test_gaming.py (with
# 3 players, z > 1.25 already needs a raw one-sided p < 3.5 %, and Gaussian DP caps what an
# owner at sigma 2 can then show); 2.5 was the best end on the five selection tables
# (benchmarks.fairness; docs/PROTOCOL.md has the measured trade-off and why it is off).
NULL_Z_START = 1.0
NULL_Z_FULL = 2.5
# The alignment screen (`screen_updates`) and the alignment pay factor (`alignment_pay_factors`):
# each update's cosine with the reference against a uniformly random direction (exact tail p,
# normal score z = Phi^-1(1 - p), about cosine * sqrt(d)).
# - Kept: z >= ALIGNMENT_KEEP_Z = 1, i.e. the update points downhill of the reference at least
#   as clearly as the luckiest random direction in six (one in six passes). The round's m
#   groups of copies are tested together by Holm's step-down with ALIGNMENT_FREE_TESTS tests
#   let off: sorted by p, the k-th passes while p_(k) <= ALIGNMENT_FLOOD_LEVEL / max(1, m - k + 1 - 14) (and z >= 1).
#   So a round of up to 15 updates is screened by the single test alone, and with m0 random
#   directions among the updates the chance that any of them passes the flood test is at most
#   m0 * 6.7 % / max(1, m0 - 14): about 6.7 % for the whole round as a flood grows (7.4 % at
#   160), under any dependence (near-copies of one lucky junk direction gain nothing).
#   Measured (tests/test_junk_valuation.py, docs/PROTOCOL.md): 200 junk updates before 3
#   honest owners let in none on breast cancer, wine and digits. Plain Holm at 6.7 % (no free
#   tests) rejects weak honest owners in ordinary rounds (rank correlation 0.79 on diabetes);
#   Benjamini-Hochberg let fabricated-row junk in on wine.
# - Paid: max(0, lcb) times the factor clip((z - 1) / (ALIGNMENT_FULL_Z - 1), 0, 1): an update
#   whose direction is no better evidenced than a lucky random one's is paid in proportion to
#   that evidence, continuously. The hard cut at z >= 1.5 it replaces (v2) let one relabelled
#   validation example move up to 47 % of a round on 30 validation rows (a borderline player
#   flipping in or out with the reference) and paid a lucky random direction in full (up to
#   11.5 % of a round); measured over six tables x 20 splits (benchmarks.fairness,
#   benchmarks.example_influence, benchmarks.privacy; docs/PROTOCOL.md, "Alignment").
# ALIGNMENT_KEEP_Z, ALIGNMENT_FULL_Z (= 4), ALIGNMENT_FLOOD_LEVEL and ALIGNMENT_FREE_TESTS
# live in trainer.alignment with the tail they are tested on (an owner's wallet checks its own
# rejection and its own pay factor with them).

Coalition = frozenset[int]
Utility = Callable[[Coalition], "float | np.ndarray"]


@dataclass(frozen=True)
class ShapleyResult:
    values: tuple[float, ...]  # mean over validation examples (the Shapley value of the mean)
    method: str  # "exact" or "gtg"
    seed: int | None
    evaluations: int  # distinct coalitions whose utility was computed
    permutations: int = 0  # complete permutations sampled (gtg only)
    utilities: dict[Coalition, float] = field(default_factory=dict, repr=False, compare=False)
    # players x examples: each player's value on each validation example (one column for a
    # scalar utility); values == per_example.mean(axis=1)
    per_example: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)), repr=False, compare=False)
    # per_example == coefficients @ stack(utility(c) for c in coalitions): the estimate is
    # linear in the coalitions' utilities, so a changed validation example can be re-valued
    # without re-running the sampler (benchmarks.fairness measures one example's influence;
    # empty for a GTG run too large to hold densely)
    coalitions: tuple[Coalition, ...] = field(default=(), repr=False, compare=False)
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)


class _MemoUtility:
    """Caches utility(S) (a vector over validation examples) by coalition."""

    def __init__(self, utility: Utility) -> None:
        self._utility = utility
        self.cache: dict[Coalition, np.ndarray] = {}
        self.index: dict[Coalition, int] = {}

    def __call__(self, coalition: Coalition) -> np.ndarray:
        if coalition not in self.cache:
            value = np.atleast_1d(np.asarray(self._utility(coalition), dtype=np.float64))
            if value.ndim != 1:
                raise ValueError("a utility is a number or a vector over validation examples")
            self.index[coalition] = len(self.cache)
            self.cache[coalition] = value
        return self.cache[coalition]

    def mean(self, coalition: Coalition) -> float:
        return float(np.mean(self(coalition)))

    def known(self, coalition: Coalition) -> bool:
        return coalition in self.cache

    @property
    def evaluations(self) -> int:
        return len(self.cache)

    def result(
        self,
        coefficients: np.ndarray,
        method: str,
        seed: int | None,
        permutations: int = 0,
        per_example: np.ndarray | None = None,
    ) -> ShapleyResult:
        """`per_example` (summed from marginal differences, so a null player is exactly 0)
        or else coefficients @ utilities."""
        coalitions = tuple(self.cache)
        if per_example is None:
            matrix = np.stack([self.cache[c] for c in coalitions]) if coalitions else np.zeros((0, 1))
            per_example = coefficients[:, : len(coalitions)] @ matrix
        values = tuple(float(v) for v in per_example.mean(axis=1))
        means = {c: float(np.mean(v)) for c, v in self.cache.items()}
        return ShapleyResult(
            values, method, seed, len(coalitions), permutations, means, per_example,
            coalitions, coefficients[:, : len(coalitions)],
        )


def round_seed(bounty_id: int, round_index: int) -> int:
    """The sampling seed of a round (GTG-Shapley), derived so anyone can reproduce it."""
    from eth_hash.auto import keccak

    return int.from_bytes(keccak(f"quarry-shapley:{bounty_id}:{round_index}".encode())[:4], "big")


def keccak_shuffled(items: Sequence[int], seed: int, index: int) -> list[int]:
    """`items` in the order of a Fisher-Yates shuffle whose draws are keccak256 of
    ("quarry-gtg", seed, index, block): the round's k-th sampled permutation is the same for
    every party on every machine. numpy's Generator promises its stream only within one build
    (its compatibility policy), and an owner's wallet replaying an opened round
    (trainer.openings) must sample the permutations the practitioner did."""
    from eth_hash.auto import keccak

    shuffled = list(items)
    words: list[int] = []
    block = 0
    for top in range(len(shuffled) - 1, 0, -1):
        bound = top + 1
        limit = (1 << 64) - (1 << 64) % bound  # rejection keeps every index equally likely
        while True:
            if not words:
                digest = keccak(b"quarry-gtg" + seed.to_bytes(8, "big") + index.to_bytes(8, "big")
                                + block.to_bytes(8, "big"))
                words = [int.from_bytes(digest[k:k + 8], "big") for k in range(24, -8, -8)]
                block += 1
            draw = words.pop()
            if draw < limit:
                break
        chosen = draw % bound
        shuffled[top], shuffled[chosen] = shuffled[chosen], shuffled[top]
    return shuffled


# how GTG-Shapley draws its permutations: "keccak" (the protocol, `gtg_permutation`) or
# "numpy" (before it; replayed for rounds of bounties posted before valuation_rules 3)
GTG_DRAWS = ("keccak", "numpy")


def gtg_permutation(n_players: int, seed: int, k: int) -> list[int]:
    """The round's k-th sampled permutation: player k mod n first (guided sampling), the others
    in `keccak_shuffled` order (docs/PROTOCOL.md, Valuation step 3)."""
    head = k % n_players
    return [head, *keccak_shuffled([p for p in range(n_players) if p != head], seed, k)]


def exact_shapley(n_players: int, utility: Utility) -> ShapleyResult:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! * (v(S+i) - v(S))."""
    n = n_players
    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(max(n, 0))]
    return _exact_semivalue(n_players, utility, weights, "exact", "Shapley")


def exact_banzhaf(n_players: int, utility: Utility) -> ShapleyResult:
    """beta_i = 2^-(n-1) * sum over S not containing i of (v(S+i) - v(S)): every coalition of
    the others weighs the same, where Shapley weighs every coalition size the same. Replication
    robust in submodular games (Han, Wooldridge, Rogers, Ohrimenko, Tschiatschek 2022): a
    replica that adds nothing to a coalition holding its original halves the original's
    value and takes the other half, so the pair earns what the original alone did. Not
    efficient (the values need not add up to v(N) - v(empty))."""
    weights = [2.0 ** -(n_players - 1)] * max(n_players, 0)
    return _exact_semivalue(n_players, utility, weights, "banzhaf", "Banzhaf")


def _exact_semivalue(
    n_players: int, utility: Utility, weights: Sequence[float], method: str, name: str
) -> ShapleyResult:
    """sum over S not containing i of weights[|S|] * (v(S+i) - v(S)), from every coalition."""
    if n_players < 0:
        raise ValueError("negative number of players")
    if n_players > 20:
        raise ValueError(f"exact {name} over more than 20 players is too expensive")
    memo = _MemoUtility(utility)
    n = n_players
    players = range(n)
    # every coalition, smallest first, so coefficients index them in evaluation order
    for size in range(n + 1):
        for subset in itertools.combinations(players, size):
            memo(frozenset(subset))
    coefficients = np.zeros((n, memo.evaluations))
    width = memo(frozenset()).size
    per_example = np.zeros((n, width))
    for coalition, column in memo.index.items():
        size = len(coalition)
        for player in players:
            if player in coalition:
                coefficients[player, column] += weights[size - 1]  # as v(S + i), |S| = size - 1
            elif size < n:
                coefficients[player, column] -= weights[size]  # as v(S)
                per_example[player] += weights[size] * (memo(coalition | {player}) - memo(coalition))
    return memo.result(coefficients, method, None, per_example=per_example)


def sampled_banzhaf(
    n_players: int, utility: Utility, *, seed: int, max_evaluations: int | None = None
) -> ShapleyResult:
    """Banzhaf values estimated per player: the mean of v(S+i) - v(S) over coalitions S of
    the others, each other player in S with probability 1/2, within `gtg_budget(n)`
    evaluations (a null player is exactly 0)."""
    memo = _MemoUtility(utility)
    n = n_players
    budget = max_evaluations or gtg_budget(n)
    samples = max(1, budget // (2 * max(n, 1)))
    rng = np.random.default_rng(seed)
    width = memo(frozenset()).size
    per_example = np.zeros((n, width))
    counts: dict[tuple[int, int], int] = {}
    for player in range(n):
        for _ in range(samples):
            mask = rng.random(n) < 0.5
            mask[player] = False
            coalition = frozenset(int(k) for k in np.flatnonzero(mask))
            per_example[player] += memo(coalition | {player}) - memo(coalition)
            for c, sign in ((coalition | {player}, 1), (coalition, -1)):
                key = (player, memo.index[c])
                counts[key] = counts.get(key, 0) + sign
        per_example[player] /= samples
    coefficients = np.zeros((n, memo.evaluations))
    for (player, column), count in counts.items():
        coefficients[player, column] = count / samples
    return memo.result(coefficients, "banzhaf-sampled", seed, per_example=per_example)


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
    draw: str = "keccak",
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

    Decisions use the mean utility; the marginals are recorded as coefficients on the
    coalitions so the per-example values are the same estimator applied to each example.
    `draw` = "numpy" samples the rest of each permutation as Quarry did before `gtg_permutation`
    (numpy's default_rng(seed), one shuffle per permutation): only to replay a round an older
    practitioner valued so (trainer.openings), on a numpy whose stream has not changed.
    """
    if draw not in GTG_DRAWS:
        raise ValueError(f"unknown permutation draw {draw!r}")
    rng = np.random.default_rng(seed) if draw == "numpy" else None
    n = n_players
    budget = gtg_budget(n) if max_evaluations is None else max_evaluations
    memo = _MemoUtility(utility)
    grand = frozenset(range(n))
    if n == 0:
        return ShapleyResult((), "gtg", seed, 0)
    empty: Coalition = frozenset()
    v_empty = memo.mean(empty)
    v_grand = memo.mean(grand)
    span = abs(v_grand - v_empty)
    if span <= 1e-12:
        log.info("gtg-shapley: v(N) == v(empty); all values 0 (seed %d)", seed)
        return memo.result(np.zeros((n, memo.evaluations)), "gtg", seed)
    tolerance = truncation * span
    width = memo(empty).size
    summed = np.zeros((n, width))
    # (player, coalition index) -> +-count: sparse, since n x (budget + 2) dense would not fit
    # in memory for hundreds of players
    counts: dict[tuple[int, int], float] = {}
    permutations = 0
    previous_estimate: np.ndarray | None = None
    min_perms = 2 * n if min_permutations is None else min_permutations
    stop = False
    while not stop:
        if rng is None:
            order = gtg_permutation(n, seed, permutations)
        else:
            rest = [p for p in range(n) if p != permutations % n]
            rng.shuffle(rest)
            order = [permutations % n, *rest]
        steps: list[tuple[int, Coalition, Coalition]] = []
        prefix: Coalition = empty
        standing = empty  # the evaluated coalition whose utility stands for v(prefix)
        v_prev = v_empty
        for player in order:
            prefix = prefix | {player}
            if abs(v_grand - v_prev) < tolerance:
                continue  # truncated: the rest adds (almost) nothing; marginal 0
            if not memo.known(prefix) and memo.evaluations >= budget:
                stop = True
                break
            v_cur = memo.mean(prefix)
            steps.append((player, prefix, standing))
            standing, v_prev = prefix, v_cur
        if stop:
            break  # a permutation cut by the budget is discarded
        for player, now, before in steps:
            summed[player] += memo(now) - memo(before)
            for coalition, sign in ((now, 1.0), (before, -1.0)):
                key = (player, memo.index[coalition])
                counts[key] = counts.get(key, 0.0) + sign
        permutations += 1
        if permutations % n == 0:
            estimate = summed.mean(axis=1) / permutations
            if previous_estimate is not None and permutations >= min_perms:
                scale = np.maximum(np.abs(estimate), 1e-12)
                change = float(np.mean(np.abs(estimate - previous_estimate) / scale))
                if change < convergence:
                    break
            previous_estimate = estimate
        if memo.evaluations >= budget:
            break
    log.info(
        "gtg-shapley: n=%d seed=%d permutations=%d evaluations=%d (budget %d)",
        n, seed, permutations, memo.evaluations, budget,
    )
    per_example = summed / permutations if permutations else np.zeros_like(summed)
    # the dense coefficients only while they stay small (they serve measurement only)
    if n * memo.evaluations <= DENSE_COEFFICIENTS_MAX:
        coefficients = np.zeros((n, memo.evaluations))
        for (player, column), count in counts.items():
            coefficients[player, column] = count / max(permutations, 1)
    else:
        coefficients = np.zeros((n, 0))
    return memo.result(coefficients, "gtg", seed, permutations, per_example=per_example)


SEMIVALUES = ("shapley", "banzhaf")


def shapley_values(
    n_players: int, utility: Utility, *, seed: int = 0, exact_max: int = EXACT_MAX_PLAYERS,
    semivalue: str = "shapley", draw: str = "keccak",
) -> ShapleyResult:
    """Exact for up to `exact_max` players, GTG-Shapley beyond (its permutations by `draw`,
    `gtg_shapley`). `semivalue="banzhaf"` (not the protocol; measured in docs/PROTOCOL.md,
    "Tried: the coalition game and the semivalue"): exact Banzhaf values, or paired sampling
    beyond `exact_max`."""
    if semivalue not in SEMIVALUES:
        raise ValueError(f"unknown semivalue {semivalue!r}")
    if semivalue == "banzhaf":
        if n_players <= exact_max:
            return exact_banzhaf(n_players, utility)
        return sampled_banzhaf(n_players, utility, seed=seed)
    if n_players <= exact_max:
        return exact_shapley(n_players, utility)
    return gtg_shapley(n_players, utility, seed=seed, draw=draw)


# --- uncertainty and payouts ---------------------------------------------------------------


@dataclass(frozen=True)
class ValueEstimate:
    """Per player: its value over the validation examples (their trimmed mean), its
    standard error, and lcb = mean - z * stderr (the value distinguishable from zero)."""

    mean: np.ndarray
    stderr: np.ndarray
    lcb: np.ndarray


def value_estimates(per_example: np.ndarray, z: float = CONFIDENCE_Z, trim: int = TRIM_COUNT) -> ValueEstimate:
    """Per player, the trimmed mean of its per-example values (`trimmed_count` each side
    left out) and Tukey & McLaughlin's standard error: the winsorised standard deviation /
    ((1 - 2k/m) sqrt(m)) (`trainer.estimates.trimmed_mean_and_stderr`, which an owner's wallet
    uses too). The examples are an i.i.d. sample of the task's distribution; with trim=0
    these are the plain mean and standard error. A zero row stays exactly 0."""
    mean, stderr = trimmed_mean_and_stderr(per_example, trim)
    return ValueEstimate(mean, stderr, mean - z * stderr)


def null_pay_factors(
    cosines: Sequence[float],
    dimension: int,
    *,
    z_start: float = NULL_Z_START,
    z_full: float = NULL_Z_FULL,
    family_wise: bool = True,
) -> np.ndarray:
    """Per player, the share of its lower bound that is paid: how far its direction beats a
    random one. p = `random_direction_tail(cosine with the reference, d)`, with `family_wise`
    adjusted for the n = len(cosines) players tested at once (Bonferroni: min(1, n p));
    z = Phi^-1(1 - p); factor = clip((z - z_start) / (z_full - z_start), 0, 1). Continuous
    in each cosine."""
    n = len(cosines)
    factors = np.zeros(n)
    for i, value in enumerate(cosines):
        p = random_direction_tail(value, dimension)
        factors[i] = tail_pay_factor(min(1.0, n * p) if family_wise else p, z_start, z_full)
    return factors


def alignment_pay_factors(cosines: Sequence[float], dimension: int) -> np.ndarray:
    """The protocol's pay factor per player (`trainer.alignment.alignment_pay_factor`):
    clip((z - 1) / (ALIGNMENT_FULL_Z - 1), 0, 1) with z the normal score of its direction
    against a random one, each tested on its own."""
    return np.array([alignment_pay_factor(value, dimension) for value in cosines], dtype=np.float64)


def payout_weights(
    estimate: ValueEstimate, floor: float = PAYOUT_FLOOR, factors: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """(weights, denominator): player i is paid reward * weights[i] / denominator, with
    weights = max(0, lcb) * factors (the null test's, `null_pay_factors`; 1 when not given)
    and denominator = max(sum of weights, floor * sum of max(0, mean)): what a factor
    withholds stays unassigned. Sum of payouts <= reward."""
    weights = np.maximum(estimate.lcb, 0.0)
    if factors is not None:
        weights = weights * np.clip(np.asarray(factors, dtype=np.float64), 0.0, 1.0)
    weights[~np.isfinite(weights)] = 0.0
    positive_means = np.maximum(estimate.mean, 0.0)
    positive_means[~np.isfinite(positive_means)] = 0.0
    denominator = max(float(weights.sum()), floor * float(positive_means.sum()))
    return weights, denominator


def one_example_bound(
    n_players: int, n_examples: int, utility_clip: float, denominator: float, z: float = CONFIDENCE_Z,
    trim: int = TRIM_COUNT,
) -> float:
    """Worst-case share of the reward that changing one validation example can move
    (total variation of the payouts / reward), for utilities clipped to [-c, c].

    One example's values are Shapley values of a game with range [-c, c], so they lie in
    [-2c, 2c] and change by at most 4c. With k values trimmed each side of m, that moves each
    trimmed mean by <= 4c / (m - 2k) (one value in the middle changes, or the middle shifts
    by one place) and changes at most 2k + 1 winsorised values, each by <= 4c, so each
    standard error by <= 4c sqrt(2k + 1) / ((1 - 2k/m) sqrt(m (m - 1))); each lcb by beta,
    the first plus z times the second; normalised payouts then move by at most
    2 n beta / denominator. A loose bound (every player at its worst at once, the clip's
    range rather than the middle's spread); `benchmarks.example_influence` measures the real
    movement.
    """
    m = n_examples
    if m < 2 or denominator <= 0:
        return 1.0
    k = trimmed_count(m, trim)
    c4 = 4.0 * utility_clip
    beta = c4 / (m - 2 * k) + z * c4 * math.sqrt(2 * k + 1) / ((1.0 - 2.0 * k / m) * math.sqrt(m * (m - 1)))
    return min(1.0, 2.0 * n_players * beta / denominator)


def allocate_reward(values: Sequence[float], reward: int, denominator: float | None = None) -> list[int]:
    """Token base units per player, proportional to positive values; sum <= reward.

    Zero and negative values get nothing. Exact rational arithmetic then floor, so rounding
    never overspends the round. With `denominator` (>= the sum of positive values) each
    player gets reward * value / denominator and the rest stays unassigned.
    """
    if reward < 0:
        raise ValueError("negative reward")
    positive = [Fraction(v) if (math.isfinite(v) and v > 0) else Fraction(0) for v in values]
    total = sum(positive, Fraction(0))
    if denominator is not None and math.isfinite(denominator):
        total = max(total, Fraction(denominator))
    if total == 0:
        return [0] * len(values)
    return [math.floor(reward * v / total) for v in positive]


# --- screening -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Screening:
    """Outcome of the screening of one round's decrypted updates: `kept` indexes (into the
    screened list) take part; `rejected` maps an index to the reason it takes no part."""

    kept: tuple[int, ...]
    rejected: dict[int, str]


def aligned_step_down(
    cosines: Sequence[float], dimension: int, *, level: float = ALIGNMENT_FLOOD_LEVEL,
    free_tests: int = ALIGNMENT_FREE_TESTS,
) -> list[bool]:
    """Holm's step-down on the cosines with the reference, `free_tests` tests let off: sorted
    descending (p ascending), the k-th of m passes while its cosine reaches the single test's
    `alignment_threshold` and, when r = m - k + 1 - free_tests > 1, the cosine a random
    direction exceeds with probability level / r; the first that fails stops it."""
    m = len(cosines)
    base = alignment_threshold(dimension)
    accepted = [False] * m
    for rank, i in enumerate(sorted(range(m), key=lambda i: (-cosines[i], i))):
        remaining = m - rank - free_tests
        threshold = base
        if remaining > 1 and dimension >= 2:
            threshold = max(base, random_direction_quantile(level / remaining, dimension))
        if cosines[i] < threshold:
            break
        accepted[i] = True
    return accepted


class Linkage:
    """Single-linkage classes of 0..count-1 (union-find with path halving); each class is
    rooted at its lowest index, so classes come out in the order of their first member."""

    def __init__(self, count: int) -> None:
        self.parent = list(range(count))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def classes(self) -> list[list[int]]:
        """Every class (singletons included), members ascending."""
        classes: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            classes.setdefault(self.find(i), []).append(i)
        return list(classes.values())

    def ordered_groups(self, order: Sequence[tuple[int | float, str]]) -> list[list[int]]:
        """`classes`, each sorted by `order` and the groups by their earliest member."""
        ordered = [sorted(members, key=lambda i: order[i]) for members in self.classes()]
        return sorted(ordered, key=lambda members: order[members[0]])


def unit_rows(updates: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matrix, norms, unit): the updates stacked as float64 rows, their L2 norms, and the
    rows scaled to norm 1 (zero rows stay zero), for cosines from one Gram matrix."""
    matrix = np.stack([np.asarray(u, dtype=np.float64) for u in updates])
    norms = np.linalg.norm(matrix, axis=1)
    return matrix, norms, matrix / np.where(norms > 0, norms, 1.0)[:, None]


def exact_multiple_linkage(updates: Sequence[np.ndarray], links: list[tuple[int, int]] | None = None) -> Linkage:
    """The updates joined by `exact_multiple_pairs`; each pair also goes to `links` when given."""
    linkage = Linkage(len(updates))
    for a, b in exact_multiple_pairs(updates):
        linkage.join(a, b)
        if links is not None:
            links.append((a, b))
    return linkage


def exact_multiple_pairs(updates: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Pairs (first index of a direction, later one) of updates that are exact positive
    multiples of each other (`copy_proof.exact_direction`): the copy rule on models too small
    to tell copies by approximate direction (`copy_proof.copies_by_direction`)."""
    first: dict[tuple[int, ...], int] = {}
    pairs = []
    for index, update in enumerate(updates):
        key = exact_direction(update)
        if key is None:
            continue
        if key in first:
            pairs.append((first[key], index))
        else:
            first[key] = index
    return pairs


def exact_copy_classes(updates: Sequence[np.ndarray], exact_cosine: float = COPY_EXACT_COSINE,
                       *, by_direction: bool = True) -> list[list[int]]:
    """Classes (single linkage) of updates whose cosine exceeds `exact_cosine`: the same
    update up to a positive scale and precision-level noise (`copy_groups`' exact rule), from
    one Gram matrix, so thousands of updates take milliseconds. Without `by_direction`,
    exact positive multiples only."""
    if len(updates) == 0:
        return []
    if not by_direction:
        return exact_multiple_linkage(updates).classes()
    linkage = Linkage(len(updates))
    _, _, unit = unit_rows(updates)
    for a, b in np.argwhere(np.triu(unit @ unit.T > exact_cosine, k=1)):
        linkage.join(int(a), int(b))
    return linkage.classes()


def screen_updates(
    updates: Sequence[np.ndarray | None],
    previous_global_delta: np.ndarray | None = None,
    *,
    replay_tolerance: float = REPLAY_TOLERANCE,
    zero_tolerance: float = 1e-12,
    reference: np.ndarray | None = None,
    min_alignment: float | None = None,
    free_tests: int = ALIGNMENT_FREE_TESTS,
    copies_by_direction: bool = True,
    group_by: Sequence[np.ndarray | None] | None = None,
) -> Screening:
    """Reject non-finite and zero-norm updates, replays, and updates not aligned with the
    reference.

    With `reference` (the practitioner's own update on its validation data, FLTrust-style),
    each update's cosine with it is tested against a uniformly random direction: p = the
    exact share of random directions at least as aligned (`random_direction_tail`; ~ the
    one-sided z-test z = cosine * sqrt(d), cosine ~ N(0, 1/d)), whatever the update's norm.
    The round's m updates (one test per group of copies) are tested together
    (`aligned_step_down`): up to 15 of them by the single test z >= 1 (the update points
    downhill of the reference as a random direction does one time in six; how much it is
    paid then rises with z, `alignment_pay_factors`), and beyond, by Holm's step-down at 6.7 % with 14 tests let
    off, so a flood of junk updates lets a random direction in with probability about
    6.7 % for the whole round, while an honest update's p is far smaller (z ~ 5 on 31-42
    parameters). On models of ~15 parameters or fewer an honest direction can be no rarer
    than the luckiest of a few hundred random ones, so there a flood can push honest updates
    out too (docs/PROTOCOL.md). `min_alignment` replaces the test by a fixed cosine.
    `group_by` (default: `updates`) are the updates copies are grouped by: without
    `copies_by_direction` the ones as decrypted, since a copy raised to a power and cut back
    onto the clip ball is no longer an exact multiple of its original.

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
    tested: list[int] = []
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
                rejected[index] = REPLAY_REASON
                continue
        tested.append(index)
    if reference is None or float(np.linalg.norm(reference)) == 0.0:
        return Screening(tuple(tested), rejected)
    dimension = reference.size
    cosines = {index: cosine(updates[index], reference) for index in tested}  # type: ignore[arg-type]
    if min_alignment is not None:  # a fixed threshold (tests, measurements)
        accepted = {index: cosines[index] >= min_alignment for index in tested}
    else:  # all of the round's updates at once: a flood of junk raises the bar
        # one test per group of exact copies (up to scale and precision noise), decided by
        # its most aligned member for all of them: copies of one update must not make the
        # test stricter for the others (credit goes to one member of the group later anyway)
        source = updates if group_by is None else group_by
        groups = exact_copy_classes([source[index] for index in tested],  # type: ignore[misc]
                                    by_direction=copies_by_direction)
        decisions = aligned_step_down(
            [max(cosines[tested[k]] for k in group) for group in groups], dimension,
            free_tests=free_tests,
        )
        accepted = {tested[k]: decisions[g] for g, group in enumerate(groups) for k in group}
    kept: list[int] = []
    for index in tested:
        if not accepted[index]:
            rejected[index] = (
                f"update not aligned with the validation data (cosine {cosines[index]:.2f}, "
                f"{random_direction_tail(cosines[index], dimension):.2g} of random directions "
                f"reach it; {len(tested)} updates tested): privacy noise drowning little data, "
                "random noise or unrelated data"
            )
            continue
        kept.append(index)
    return Screening(tuple(kept), rejected)


# --- copies --------------------------------------------------------------------------------


def residual_cosine(
    a: np.ndarray, b: np.ndarray, reference: np.ndarray | None, others_mean: np.ndarray | None
) -> float:
    """Cosine of a and b after projecting out span{reference, mean of the round's other
    updates}: what the round's common direction does not explain (1.0 for exact copies)."""
    basis = [v for v in (reference, others_mean) if v is not None and float(np.linalg.norm(v)) > 0]
    if not basis:
        return cosine(a, b)
    q, _ = np.linalg.qr(np.stack(basis, axis=1))
    return cosine(a - q @ (q.T @ a), b - q @ (q.T @ b))


def copy_groups(
    updates: Sequence[np.ndarray],
    order: Sequence[tuple[int | float, str]],
    reference: np.ndarray | None = None,
    *,
    min_cosine: float = COPY_COSINE,
    min_residual_cosine: float = COPY_RESIDUAL_COSINE,
    exact_cosine: float = COPY_EXACT_COSINE,
    noise_min_params: int = COPY_NOISE_MIN_PARAMS,
    links: list[tuple[int, int]] | None = None,
    by_direction: bool = True,
) -> list[list[int]]:
    """Groups of indexes into `updates` that copy each other (single linkage), each group
    sorted by `order` (on-chain submission index, then address) so its first member is the
    earliest submission, which alone is credited. Singletons included; groups are sorted
    by their earliest member. A pair is a copy when its cosine is above `exact_cosine`, or,
    for models of at least `noise_min_params` parameters, above `min_cosine` with residual
    cosine above `min_residual_cosine`. The cosines come from one Gram matrix and only pairs
    above the lower threshold are visited, so thousands of updates take seconds. `links`, when
    given, receives every pair found to be copies (the edges a copy proof walks). Without
    `by_direction` (models under `copy_proof.COPY_DIRECTION_MIN_PARAMS` parameters, from
    valuation_rules 4) only exact positive multiples are copies: pass the updates as decoded,
    before any projection onto the clip ball."""
    count = len(updates)
    if count == 0:
        return []
    if not by_direction:
        return exact_multiple_linkage(updates, links).ordered_groups(order)
    matrix, norms, unit = unit_rows(updates)
    cosines = unit @ unit.T
    cosines[norms == 0, :] = 0.0
    cosines[:, norms == 0] = 0.0
    linkage = Linkage(count)
    noisy_copies = matrix.shape[1] >= noise_min_params
    similar = cosines > min_cosine
    lower = min(min_cosine, exact_cosine) if noisy_copies else exact_cosine
    rows, cols = np.nonzero(np.triu(cosines > lower, k=1))
    for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
        if cosines[a, b] > exact_cosine:
            linkage.join(a, b)
            if links is not None:
                links.append((a, b))
            continue
        if not (noisy_copies and similar[a, b]):
            continue
        # the round's other updates, without any candidate copy of a or b: with k copies in
        # the round their mean would be the copied direction itself, and removing it would
        # leave the copies only their noise
        keep = ~(similar[a] | similar[b])
        others_mean = matrix[keep].mean(axis=0) if keep.any() else None
        if residual_cosine(matrix[a], matrix[b], reference, others_mean) > min_residual_cosine:
            linkage.join(a, b)
            if links is not None:
                links.append((a, b))
    return linkage.ordered_groups(order)


def copy_path(start: int, goal: int, links: Sequence[tuple[int, int]]) -> list[int]:
    """The shortest chain of copy links from `start` to `goal` (both included; breadth-first,
    ties by the lower index): what a copy proof opens, since single linkage can join two
    updates that are copies only through others."""
    neighbours: dict[int, list[int]] = {}
    for a, b in links:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    came_from = {start: start}
    frontier = [start]
    while frontier and goal not in came_from:
        following = []
        for node in frontier:
            for other in sorted(neighbours.get(node, ())):
                if other not in came_from:
                    came_from[other] = node
                    following.append(other)
        frontier = following
    if goal not in came_from:
        raise ValueError(f"{start} and {goal} are not linked as copies")
    path = [goal]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]
