"""Valuing one round's decrypted updates: screening, copies, the coalition game, Shapley, payouts.

Pure numpy: the caller gives the global parameters, the decrypted updates and a scorer of
parameter vectors on the held-out validation set (`practitioner.decode.ValidationScorer`).
`practitioner.evaluate` does the fetching, verifying and decrypting around it.

Fairness rules (docs/PROTOCOL.md, "Valuation"):
- Submissions are sorted by address, so the order of submission changes nothing, except
  which member of a group of copies is credited (the earliest on chain).
- An update larger than the spec's clip norm (plus the fixed-point round trip's slack) is
  projected back onto the ball (an honest wallet already clipped it; a modified one gains
  nothing by skipping that); every other update is used exactly as decrypted.
- In the game and the next model, an update that reaches further along the reference than
  the round's bound (`trainer.alignment.along_bound`: the clip norm x how far honest steps on
  the validation data have shrunk since the first model) is scaled down to it, direction
  kept (its line's `scale`).
- Zero updates, replays of the previous global change and updates pointing away from the
  practitioner's reference update (its own training on the validation data, when given;
  in a flood of submissions, those not clearly aligned with it) are rejected.
- Copies (up to a positive scale and small noise) are grouped; only the earliest on-chain
  submission of a group takes part in the game, the others get 0 ("copy of <address>"), so
  the original's value is what it would be without them.
- Coalition model = global + sum(player updates in S) / n_players (fixed denominator);
  utility per validation example = its log-loss reduction, clipped to [-c, c].
- Each player's Shapley value on each validation example; its value is their trimmed mean
  (5 % each side) with a standard error (`trainer.shapley.value_estimates`); payouts
  are proportional to max(0, value - z * stderr) times the update's alignment pay
  factor: how clearly its direction beats a random one (`trainer.shapley.payout_weights`,
  `alignment_pay_factors`). `null_test=True` (measured in benchmarks.fairness, not the
  protocol) makes that test family-wise over the round's players (`null_pay_factors`).
- The next global model is the coalition of players with a positive (mean) value (harmful
  updates are left out), with the same fixed denominator.
- What the rounds leave unassigned (the leftover) is shared by `bounty_credits`: each
  account's values pooled over the bounty's reports, the part they demonstrate by lower
  bounds, the rest by estimates.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from practitioner.report import ContributorLine, RejectedLine
from practitioner.scale import STREAM_MIN_PLAYERS, CoalitionSums, streaming_gtg
from trainer.alignment import along_scale
from trainer.copy_proof import copies_by_direction
from trainer.encoding import encoding_slack, project_to_ball  # noqa: F401 - re-exported
from trainer.estimates import UTILITY_CLIP_SHARE, utility_clip  # noqa: F401 - re-exported
from trainer.shapley import (
    CONFIDENCE_Z,
    EXACT_MAX_PLAYERS,
    PAYOUT_FLOOR,
    SEMIVALUES,
    ShapleyResult,
    alignment_pay_factors,
    copy_groups,
    copy_path,
    cosine,
    null_pay_factors,
    one_example_bound,
    payout_weights,
    screen_updates,
    shapley_values,
    value_estimates,
)
from trainer.spec import VALUATION_RULES
from wallet.round_report import leftover_credits, round_amounts

log = logging.getLogger(__name__)



class Scorer(Protocol):
    """Scores parameter vectors on the validation set."""

    def losses(self, params: np.ndarray) -> np.ndarray:
        """Per-example log-loss of the model with these parameters."""
        ...

    def accuracy(self, params: np.ndarray) -> float: ...


@dataclass(frozen=True)
class DecodedSubmission:
    address: str
    blob_hash: str
    update: np.ndarray | None  # None when it could not be fetched, verified or decrypted
    error: str | None = None
    order: int | None = None  # index in the board's getSubmitters (on-chain order)


@dataclass(frozen=True)
class Valuation:
    next_params: np.ndarray
    global_delta: np.ndarray  # next_params - global_params (for the next round's replay check)
    contributors: list[ContributorLine]
    rejected: list[RejectedLine]
    method: str
    seed: int | None
    evaluations: int
    players: int  # = the denominator of the coalition model
    metric_before: float  # validation log-loss of the round's model
    metric_after: float  # validation log-loss of the next model
    accuracy_before: float = 0.0
    accuracy_after: float = 0.0
    # worst-case share of the reward one validation example could move (shapley.one_example_bound)
    example_bound: float = 1.0
    # for measurement (benchmarks.fairness): the players' submissions in valuation order,
    # the Shapley result (per-example values, coefficients), the utility clip
    player_addresses: tuple[str, ...] = field(default=(), repr=False)
    shapley: ShapleyResult | None = field(default=None, repr=False)
    utility_clip: float = 1.0
    # the pay factor per player (valuation order; empty without a reference): `pay_factors`
    pay_factors: tuple[float, ...] = field(default=(), repr=False)
    # the round's bound along the reference (None: no bound; each line says its scale)
    along_bound: float | None = None
    # each copy's chain of copy links to its credited original (the addresses after it, the
    # original last): the blobs its copy proof opens (trainer.copy_proof)
    copy_paths: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @property
    def payouts(self) -> list[tuple[str, int]]:
        return [(line.address, line.amount) for line in self.contributors if line.amount > 0]


def credit_weights(valuation: Valuation) -> list[tuple[str, float]]:
    """(address, max(0, value) x payFactor) per counted update that is not a copy: what each
    update was worth by the valuation's estimate, before any lower bound."""
    return [(line.address, max(0.0, line.value) * line.pay_factor) for line in valuation.contributors
            if line.copy_of is None and math.isfinite(line.value) and math.isfinite(line.pay_factor)]


def bounty_credits(reports: Sequence[Mapping[str, Any]], total: int) -> list[tuple[str, int]]:
    """The leftover's credits over the bounty's reports (`wallet.round_report.leftover_credits`,
    which an owner's wallet recomputes), at the pay's own lower bound (CONFIDENCE_Z)."""
    return leftover_credits(reports, total, CONFIDENCE_Z)


def pay_factors(
    players: Sequence[np.ndarray], reference: np.ndarray | None, *, null_test: bool = False
) -> np.ndarray | None:
    """Each player's pay factor from its direction against the reference update: the
    protocol's `alignment_pay_factors`, or with `null_test` the family-wise variant measured
    in docs/PROTOCOL.md ("Tried"); None without a reference (every factor 1)."""
    if reference is None or float(np.linalg.norm(reference)) == 0.0:
        return None
    cosines = [cosine(p, reference) for p in players]
    if null_test:
        return null_pay_factors(cosines, reference.size)
    return alignment_pay_factors(cosines, reference.size)


# The coalition model's game: "fixed" (the protocol: global + sum(S) / n, a zero update is a
# null player); "mean" (global + sum(S) / |S|, the coalition's own average, as FedAvg would
# train it) and "norm" (global + mean norm * sum(S) / sum of S's norms: an update weighs by
# its length) were measured and not adopted (docs/PROTOCOL.md, "Tried: the coalition game
# and the semivalue").
COALITION_GAMES = ("fixed", "mean", "norm")


def coalition_params(
    game: str, base: np.ndarray, total: np.ndarray, coalition: frozenset[int], norms: Sequence[float],
    n_players: int,
) -> np.ndarray:
    """The model of a non-empty `coalition` whose updates sum to `total`, from `base` (the
    round's model); `norms` = every player's update norm (used by "norm" only)."""
    if game == "fixed":  # divided, not multiplied by 1/n: the wallet recomputes it so
        return base + total / n_players
    if game == "mean":
        return base + total / len(coalition)
    if game == "norm":
        length = sum(norms[i] for i in coalition)
        return base + total * (sum(norms) / n_players / length) if length > 0 else base
    raise ValueError(f"unknown coalition game {game!r}")


def value_round(
    global_params: np.ndarray,
    submissions: Sequence[DecodedSubmission],
    scorer: Scorer,
    reward: int,
    *,
    clip_norm: float,
    clip_slack: float = 0.0,
    previous_delta: np.ndarray | None = None,
    seed: int = 0,
    exact_max: int = EXACT_MAX_PLAYERS,
    reference: np.ndarray | None = None,
    z: float = CONFIDENCE_Z,
    payout_floor: float = PAYOUT_FLOOR,
    model_rule: str = "value",
    null_test: bool = False,
    timings: dict[str, float] | None = None,
    game_scorer: Callable[[np.ndarray, Sequence[np.ndarray]], Scorer] | None = None,
    game: str = "fixed",
    semivalue: str = "shapley",
    along_bound: float | None = None,
    rules: int = VALUATION_RULES,
) -> Valuation:
    """Value one round. `model_rule` picks the players of the next model: "value" (mean
    value > 0, the protocol's rule) or "lcb" (lower bound > 0; measured in benchmarks.fairness).
    With `reference`, each payout weight is scaled by the player's alignment pay factor
    (`pay_factors`); `null_test` makes that test family-wise (not the protocol: measured, it
    trades random free riders' pay for honest owners' on small models and for stability;
    docs/PROTOCOL.md). `timings`, when given, receives the seconds spent
    screening and grouping copies ("dedupe") and in the coalition game ("value").
    Beyond `scale.STREAM_MIN_PLAYERS` players the game runs in bounded time and memory
    (`practitioner.scale`: fixed evaluation budget, incremental coalition sums).
    `game_scorer(global_params, players)`, when given, returns the scorer the game uses once
    its players are known (`practitioner.cluster`: coalition losses computed on a cluster).
    `game` (`COALITION_GAMES`) and `semivalue` (`shapley.SEMIVALUES`) other than the
    protocol's "fixed" and "shapley" are for measurement (benchmarks.fairness); the next
    model is then the game's model of the kept players, which a report's `denominator` does
    not describe. `along_bound` (with `reference`; `trainer.alignment.along_bound`) scales
    each player's update down, direction kept, until its component along the reference is at
    most the bound, in the game and in the next model. `rules` (the spec's `valuation_rules`)
    picks the copy rule: from 4, only exact positive multiples are copies on models under
    `copy_proof.COPY_DIRECTION_MIN_PARAMS` parameters."""
    started = time.perf_counter()
    if model_rule not in ("value", "lcb"):
        raise ValueError(f"unknown model rule {model_rule!r}")
    if game not in COALITION_GAMES or semivalue not in SEMIVALUES:
        raise ValueError(f"unknown coalition game {game!r} or semivalue {semivalue!r}")
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
            updates.append(project_to_ball(np.asarray(sub.update, dtype=np.float64), clip_norm, clip_slack))
    by_direction = copies_by_direction(global_params.size, rules)
    # by exact multiples (small models): copies grouped as decrypted, before any projection
    decrypted = [None if u is None else np.asarray(sub.update, dtype=np.float64)
                 for sub, u in zip(ordered, updates, strict=True)]
    screening = screen_updates(updates, previous_delta, reference=reference,
                               copies_by_direction=by_direction,
                               group_by=None if by_direction else decrypted)
    for index, reason in sorted(screening.rejected.items()):
        rejected.append(RejectedLine(ordered[index].address, ordered[index].blob_hash, reason))
    kept = list(screening.kept)
    # copies: credited to the earliest on-chain submission; the others leave the game
    on_chain = [
        (ordered[i].order if ordered[i].order is not None else math.inf, ordered[i].address.lower())
        for i in kept
    ]
    links: list[tuple[int, int]] = []
    grouped = [updates[i] if by_direction else decrypted[i] for i in kept]
    groups = copy_groups(grouped, on_chain, reference, links=links, by_direction=by_direction)  # type: ignore[arg-type]
    copy_of: dict[int, int] = {}  # index in ordered -> index of the credited original
    copy_paths: dict[str, tuple[str, ...]] = {}  # a copy's address -> the links to its original
    originals: list[int] = []
    for group in groups:
        first = kept[group[0]]
        originals.append(first)
        for member in group[1:]:
            copy_of[kept[member]] = first
            steps = copy_path(member, group[0], links)[1:]
            copy_paths[ordered[kept[member]].address] = tuple(ordered[kept[k]].address for k in steps)
    # the game's player order: by the update's bytes (then address), so which member of a
    # group of identical copies is credited changes no sum's order, not even its rounding
    originals.sort(key=lambda i: (updates[i].tobytes(), ordered[i].address.lower()))  # type: ignore[union-attr]
    players = [updates[i] for i in originals]
    # after the copies are grouped (a scaled copy stays a copy) and only for the game and
    # the next model: what the update reaches along the validation data's own direction
    scales = [along_scale(p, reference, along_bound) if reference is not None else 1.0  # type: ignore[arg-type]
              for p in players]
    players = [p * s if s < 1.0 else p for p, s in zip(players, scales, strict=True)]  # type: ignore[operator]
    n_players = len(players)
    large = n_players > STREAM_MIN_PLAYERS
    sums = CoalitionSums(players) if large else None  # type: ignore[arg-type]
    if timings is not None:
        timings["dedupe"] = time.perf_counter() - started
        started = time.perf_counter()
    if game_scorer is not None:
        scorer = game_scorer(global_params, players)

    norms = [float(np.linalg.norm(p)) for p in players] if game == "norm" else []

    def params_of(coalition: frozenset[int]) -> np.ndarray:
        if not coalition:
            return global_params
        if sums is not None:
            total = sums(coalition)
        else:
            total = np.sum([players[i] for i in sorted(coalition)], axis=0)
        return coalition_params(game, global_params, total, coalition, norms, n_players)

    # a large round keeps only small coalitions (its random prefixes do not repeat)
    losses_cache: dict[frozenset[int], np.ndarray] = {}
    evaluated = [0]

    def losses(coalition: frozenset[int]) -> np.ndarray:
        cached = losses_cache.get(coalition)
        if cached is None:
            cached = np.asarray(scorer.losses(params_of(coalition)), dtype=np.float64)
            evaluated[0] += 1
            if not large or len(coalition) <= 1:
                losses_cache[coalition] = cached
        return cached

    base = losses(frozenset())
    clip = utility_clip(float(base.mean()))

    def utility(coalition: frozenset[int]) -> np.ndarray:
        return np.clip(base - losses(coalition), -clip, clip)

    metric_before = float(base.mean())
    accuracy_before = float(scorer.accuracy(global_params))
    if n_players == 0:
        return Valuation(
            global_params, np.zeros_like(global_params), [], rejected, "none", None, 1, 0,
            metric_before, metric_before, accuracy_before, accuracy_before,
        )
    if large and semivalue != "shapley":
        raise ValueError(f"the {semivalue} semivalue is measured up to {STREAM_MIN_PLAYERS} players only")
    if large:
        result = streaming_gtg(n_players, utility, seed=seed)
    else:
        result = shapley_values(n_players, utility, seed=seed, exact_max=exact_max, semivalue=semivalue)
    estimate = value_estimates(result.per_example, z)
    factors = pay_factors(players, reference, null_test=null_test)  # type: ignore[arg-type]
    _weights, denominator = payout_weights(estimate, payout_floor, factors)
    # from the float64 numbers the report carries, exactly as every owner's wallet recomputes them
    amounts = round_amounts([float(v) for v in estimate.mean], [float(e) for e in estimate.stderr],
                            [1.0] * n_players if factors is None else [float(f) for f in factors],
                            reward, z, payout_floor)
    bound = one_example_bound(n_players, base.size, clip, denominator, z)
    log.info(
        "round valuation: %d players, method %s, seed %s, %d evaluations, one example moves "
        "at most %.1f %% of the reward", n_players, result.method, result.seed,
        result.evaluations, 100 * bound,
    )
    chosen = estimate.mean if model_rule == "value" else estimate.lcb
    in_model = frozenset(i for i, v in enumerate(chosen) if v > 0)
    if sums is not None:
        sums.pin(in_model)  # each player's `without` below is one subtraction from it
        losses_cache[in_model] = losses(in_model)
    next_params = params_of(in_model)
    metric_after = float(losses(in_model).mean())
    player_of = {index: k for k, index in enumerate(originals)}
    lines: list[ContributorLine] = []
    for index, sub in enumerate(ordered):
        if index in player_of:
            k = player_of[index]
            without = in_model - {k} if k in in_model else in_model
            lines.append(ContributorLine(
                address=sub.address, blob_hash=sub.blob_hash, value=float(estimate.mean[k]),
                std_err=float(estimate.stderr[k]), amount=amounts[k], in_model=k in in_model,
                metric_without=float(losses(without).mean()),
                pay_factor=1.0 if factors is None else float(factors[k]), scale=scales[k],
            ))
        elif index in copy_of:
            lines.append(ContributorLine(
                address=sub.address, blob_hash=sub.blob_hash, value=0.0, std_err=0.0, amount=0,
                in_model=False, metric_without=metric_after,
                copy_of=ordered[copy_of[index]].address,
            ))
    if timings is not None:
        timings["value"] = time.perf_counter() - started
    return Valuation(
        next_params=next_params,
        global_delta=next_params - global_params,
        contributors=lines,
        rejected=rejected,
        method=result.method,
        seed=result.seed,
        evaluations=evaluated[0],
        players=n_players,
        metric_before=metric_before,
        metric_after=metric_after,
        accuracy_before=accuracy_before,
        accuracy_after=float(scorer.accuracy(next_params)),
        example_bound=bound,
        player_addresses=tuple(ordered[i].address for i in originals),
        shapley=result,
        utility_clip=clip,
        pay_factors=() if factors is None else tuple(float(f) for f in factors),
        along_bound=along_bound if reference is not None else None,
        copy_paths=copy_paths,
    )
