"""Valuing rounds of hundreds or thousands of players in bounded time and memory.

`practitioner.valuation.value_round` switches to these beyond `STREAM_MIN_PLAYERS` players
(below it nothing changes: exact Shapley up to 12 players, `shapley.gtg_shapley` beyond):

- `streaming_gtg`: the same guided, truncated permutation sampling as `shapley.gtg_shapley`
  (permutation k starts with player k mod n; a prefix within `truncation` of v(N) ends the
  permutation with zero marginals), under a FIXED evaluation budget (`GTG_MAX_EVALUATIONS`,
  not max(30, n) * n: a million model evaluations at n = 1,000) and without keeping every
  coalition: gtg_shapley memoises each sampled coalition's per-example utility and its
  frozenset (~20 kB for 500 members), ~1 GB at n = 1,000. Random prefixes past two members
  essentially never repeat there, so nothing is lost by not memoising them. A permutation
  starts only when the whole of it fits in the remaining budget (none is cut and discarded).
- `CoalitionSums`: the sum of a coalition's updates from one already computed that differs
  by one member (a permutation's next prefix, the next model without one player), O(d)
  instead of O(|S| d).

(`shapley.copy_groups` takes its cosines from one Gram matrix and visits only the candidate
pairs at any size: the n^2 / 2 Python-level cosines it used to compute took ~30 s at
n = 1,000.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from trainer.shapley import GTG_MAX_PLAYERS, Coalition, ShapleyResult, Utility, gtg_permutation

log = logging.getLogger(__name__)

# Beyond this many players the round is valued with the functions of this module.
STREAM_MIN_PLAYERS = GTG_MAX_PLAYERS
# Model evaluations of one large round's sampling, whatever its size: the valuation's cost
# stays flat in n while decryption grows linearly. At n = 1,000 it is 30 permutations (each
# player's marginal sampled 30 times at a random position); measured with benchmarks.round.
GTG_MAX_EVALUATIONS = 30_000
# A permutation ends once its prefix is within this share of |v(N) - v(empty)| of v(N).
GTG_TRUNCATION = 0.01


def streaming_gtg(
    n_players: int,
    utility: Utility,
    *,
    seed: int,
    max_evaluations: int = GTG_MAX_EVALUATIONS,
    truncation: float = GTG_TRUNCATION,
) -> ShapleyResult:
    """Per-example GTG-Shapley estimates for many players under a fixed budget (module doc).
    `evaluations` counts every utility call (none is memoised but the empty and grand
    coalitions)."""
    n = n_players
    if n == 0:
        return ShapleyResult((), "gtg", seed, 0)
    empty: Coalition = frozenset()
    u_empty = np.atleast_1d(np.asarray(utility(empty), dtype=np.float64))
    u_grand = np.atleast_1d(np.asarray(utility(frozenset(range(n))), dtype=np.float64))
    evaluations = 2
    v_empty, v_grand = float(u_empty.mean()), float(u_grand.mean())
    span = abs(v_grand - v_empty)
    summed = np.zeros((n, u_empty.size))
    if span <= 1e-12:
        log.info("streaming gtg: v(N) == v(empty); all values 0 (seed %d)", seed)
        return ShapleyResult(tuple(0.0 for _ in range(n)), "gtg", seed, evaluations, 0,
                             per_example=summed)
    tolerance = truncation * span
    permutations = 0
    orders = permutation_orders(n, seed)
    # the grand coalition is already known: a permutation needs at most n - 1 evaluations
    while evaluations + (n - 1) <= max_evaluations:
        marginals, used = walk_permutation(next(orders), utility, u_empty, u_grand, tolerance)
        for player, marginal in marginals:
            summed[player] += marginal
        evaluations += used
        permutations += 1
    log.info("streaming gtg: n=%d seed=%d permutations=%d evaluations=%d (budget %d)",
             n, seed, permutations, evaluations, max_evaluations)
    per_example = summed / permutations if permutations else summed
    values = tuple(float(v) for v in per_example.mean(axis=1))
    return ShapleyResult(values, "gtg", seed, evaluations, permutations, per_example=per_example)


def permutation_orders(n_players: int, seed: int) -> Iterator[list[int]]:
    """The permutations `streaming_gtg` walks, in order: permutation k starts with player
    k mod n, the rest in the keccak-drawn order of the round's k-th GTG permutation
    (`trainer.shapley.keccak_shuffled`: a cluster's workers, `practitioner.cluster`, and a
    rerun on another machine or numpy walk the same ones)."""
    k = 0
    while True:
        yield gtg_permutation(n_players, seed, k)
        k += 1


def walk_permutation(
    order: Sequence[int],
    utility: Utility,
    u_empty: np.ndarray,
    u_grand: np.ndarray,
    tolerance: float,
) -> tuple[list[tuple[int, np.ndarray]], int]:
    """One permutation of `streaming_gtg`: each reached player's marginal (per example), in
    order, and the utility calls made. A prefix within `tolerance` of v(N) ends the walk (the
    remaining players' marginals are 0); the full coalition's utility is `u_grand`."""
    v_grand = float(u_grand.mean())
    n = len(order)
    prefix: Coalition = frozenset()
    u_prev, v_prev = u_empty, float(u_empty.mean())
    marginals: list[tuple[int, np.ndarray]] = []
    evaluations = 0
    for position, player in enumerate(order):
        if abs(v_grand - v_prev) < tolerance:
            break
        prefix = prefix | {player}
        if position == n - 1:
            u_cur = u_grand
        else:
            u_cur = np.atleast_1d(np.asarray(utility(prefix), dtype=np.float64))
            evaluations += 1
        marginals.append((player, u_cur - u_prev))
        u_prev, v_prev = u_cur, float(u_cur.mean())
    return marginals, evaluations


class CoalitionSums:
    """Sums of coalitions of `players`' updates, each derived from a remembered one that
    differs by one member when there is one (module doc)."""

    RECENT = 2

    def __init__(self, players: Sequence[np.ndarray]) -> None:
        self.players = players
        self.pinned: dict[Coalition, np.ndarray] = {}
        self.recent: list[tuple[Coalition, np.ndarray]] = []

    def pin(self, coalition: Coalition) -> None:
        """Remember this coalition's sum for good (the next model: every `without` derives from it)."""
        self.pinned[coalition] = self(coalition)

    def __call__(self, coalition: Coalition) -> np.ndarray:
        size = len(coalition)
        total: np.ndarray | None = None
        for known, known_total in [*self.pinned.items(), *reversed(self.recent)]:
            if size == len(known) and coalition == known:
                return known_total
            if size == len(known) + 1 and known < coalition:
                (extra,) = coalition - known
                total = known_total + self.players[extra]
                break
            if size == len(known) - 1 and coalition < known:
                (gone,) = known - coalition
                total = known_total - self.players[gone]
                break
        if total is None:
            total = (np.sum([self.players[i] for i in sorted(coalition)], axis=0) if coalition
                     else np.zeros_like(self.players[0]))
        self.recent.append((coalition, total))
        del self.recent[:-self.RECENT]
        return total
