"""Valuing one round's decrypted updates: screening, the coalition game, Shapley, payouts.

Pure numpy: the caller gives the global parameters, the decrypted updates and a function
that scores a parameter vector on the held-out validation set. `practitioner.evaluate`
does the fetching, verifying and decrypting around it.

Fairness rules (docs/PROTOCOL.md and the issue):
- Submissions are sorted by address first, so the order of submission changes nothing.
- An update larger than the spec's clip norm is projected back onto the ball (an honest
  wallet already clipped it; a modified one gains nothing by skipping that).
- Zero updates, replays of the previous global change and updates not aligned with the
  practitioner's reference update (its own training on the validation data, when given) are
  rejected; near-identical updates (cosine > 0.99) form one player whose value is split.
- Coalition model = global + sum(player updates in S) / n_players (fixed denominator).
- The next global model is the coalition of players with a positive value (harmful updates
  are left out), with the same fixed denominator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from practitioner.report import ContributorLine, RejectedLine
from practitioner.shapley import (
    EXACT_MAX_PLAYERS,
    allocate_reward,
    screen_updates,
    shapley_values,
    split_group_values,
)

log = logging.getLogger(__name__)

Metric = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class DecodedSubmission:
    address: str
    blob_hash: str
    update: np.ndarray | None  # None when it could not be fetched, verified or decrypted
    error: str | None = None


@dataclass(frozen=True)
class Valuation:
    next_params: np.ndarray
    global_delta: np.ndarray  # next_params - global_params (for the next round's replay check)
    contributors: list[ContributorLine]
    rejected: list[RejectedLine]
    method: str
    seed: int | None
    evaluations: int
    players: int
    metric_before: float
    metric_after: float

    @property
    def payouts(self) -> list[tuple[str, int]]:
        return [(line.address, line.amount) for line in self.contributors if line.amount > 0]


def project_to_ball(update: np.ndarray, radius: float) -> np.ndarray:
    norm = float(np.linalg.norm(update))
    if norm > radius > 0:
        return update * (radius / norm)
    return update


def value_round(
    global_params: np.ndarray,
    submissions: Sequence[DecodedSubmission],
    metric: Metric,
    reward: int,
    *,
    clip_norm: float,
    previous_delta: np.ndarray | None = None,
    seed: int = 0,
    exact_max: int = EXACT_MAX_PLAYERS,
    reference: np.ndarray | None = None,
) -> Valuation:
    global_params = np.asarray(global_params, dtype=np.float64)
    ordered = sorted(submissions, key=lambda s: s.address.lower())
    rejected: list[RejectedLine] = []
    updates: list[np.ndarray | None] = []
    for sub in ordered:
        if sub.update is None:
            rejected.append(RejectedLine(sub.address, sub.blob_hash, sub.error or "unreadable"))
            updates.append(None)
        elif sub.update.shape != global_params.shape:
            rejected.append(RejectedLine(sub.address, sub.blob_hash, "wrong number of parameters"))
            updates.append(None)
        else:
            updates.append(project_to_ball(np.asarray(sub.update, dtype=np.float64), clip_norm))
    screening = screen_updates(updates, previous_delta, reference=reference)
    for index, reason in sorted(screening.rejected.items()):
        rejected.append(RejectedLine(ordered[index].address, ordered[index].blob_hash, reason))
    players = screening.player_updates(updates)  # type: ignore[arg-type]
    n_players = len(players)

    def params_of(coalition: frozenset[int]) -> np.ndarray:
        if not coalition:
            return global_params
        total = np.sum([players[i] for i in sorted(coalition)], axis=0)
        return global_params + total / n_players

    cache: dict[frozenset[int], float] = {}

    def utility(coalition: frozenset[int]) -> float:
        if coalition not in cache:
            cache[coalition] = float(metric(params_of(coalition)))
        return cache[coalition]

    metric_before = utility(frozenset())
    if n_players == 0:
        return Valuation(
            global_params, np.zeros_like(global_params), [], rejected, "none", None, 1, 0,
            metric_before, metric_before,
        )
    result = shapley_values(n_players, utility, seed=seed, exact_max=exact_max)
    log.info(
        "round valuation: %d players, method %s, seed %s, %d evaluations",
        n_players, result.method, result.seed, result.evaluations,
    )
    grand = frozenset(range(n_players))
    metric_with = utility(grand)
    positive = frozenset(i for i, v in enumerate(result.values) if v > 0)
    next_params = params_of(positive)
    metric_after = utility(positive)
    per_update_values = split_group_values(result.values, screening.groups, len(ordered))
    amounts = allocate_reward(per_update_values, reward)
    player_of = {member: k for k, group in enumerate(screening.groups) for member in group}
    lines: list[ContributorLine] = []
    for index, sub in enumerate(ordered):
        if index not in player_of:
            continue
        player = player_of[index]
        merged = tuple(
            ordered[m].address for m in screening.groups[player] if m != index
        )
        lines.append(
            ContributorLine(
                address=sub.address,
                blob_hash=sub.blob_hash,
                value=per_update_values[index],
                amount=amounts[index],
                metric_with=metric_with,
                metric_without=utility(grand - {player}),
                merged_with=merged,
            )
        )
    return Valuation(
        next_params=next_params,
        global_delta=next_params - global_params,
        contributors=lines,
        rejected=rejected,
        method=result.method,
        seed=result.seed,
        evaluations=len(cache),
        players=n_players,
        metric_before=metric_before,
        metric_after=metric_after,
    )
