"""Opened rounds (docs/PROTOCOL.md, "Verification"; bounties whose spec says `open_updates`).

In a round of three or more counted updates an owner's Shapley value depends on every other
update, which no owner sees, so without more the values and standard errors a report gives
are the practitioner's word: it could raise its own addresses' values, or another owner's
standard error, and pay by them. A bounty posted with `open_updates` commits its practitioner
to open, once the validation set is revealed, every counted update of each finalised round to
that round's contributors: each counted submission's blob with every ciphertext's plaintext
and Paillier nonce (as a copy proof opens them, `trainer.copy_proof`), so the wallet checks
without any key that each update is what the blob committed on chain decrypts to, and then
recomputes the whole game (`recompute_round`): every counted update's value, standard error,
pay factor and scale, and the next model.

Who may read an opening: a contributor of the round, by the token its wallet kept when it
submitted (`copy_proof.copy_proof_token`, from its blob's bytes). Opening an update shows it
to the round's other contributors: under the wallet's default privacy (row-level DP-SGD) that
is what the practitioner already saw, protected by the same guarantee; without noise it shows
the update itself, which is why the wallet asks before it sends one to such a bounty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from phe import paillier

from trainer.alignment import alignment_pay_factor, along_scale, cosine
from trainer.copy_proof import (
    MAX_PROOF_LINKS,
    OpenedBlob,
    check_opened_step,
    doc_field,
    max_proof_bytes,
    opened_step,
    read_round_doc,
)
from trainer.encoding import EncodingParams
from trainer.estimates import utility_clip
from trainer.shapley import GTG_MAX_PLAYERS, shapley_values, value_estimates

OPENING_KIND = "quarry-round-opening"
OPENING_VERSION = 1
# Rounds past this many players are valued by the practitioner's bounded sampler
# (practitioner.scale), which no wallet reruns: their values stay the practitioner's word.
RECOMPUTE_MAX_PLAYERS = GTG_MAX_PLAYERS


def opening_bytes(bounty_id: int, round_index: int, updates: Sequence[OpenedBlob]) -> bytes:
    """A round's opening, canonical JSON: every counted submission's blob, opened."""
    doc = {"kind": OPENING_KIND, "version": OPENING_VERSION, "bountyId": int(bounty_id),
           "round": int(round_index), "updates": [opened_step(step) for step in updates]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def max_opening_bytes(n_params: int, encoding: EncodingParams, players: int) -> int:
    """The largest opening of `players` counted updates an honest practitioner writes: as many
    opened blobs of this model as proofs of MAX_PROOF_LINKS links hold, rounded up."""
    return max_proof_bytes(n_params, encoding) * max(1, -(-players // MAX_PROOF_LINKS))


def read_opening(
    data: bytes,
    *,
    bounty_id: int,
    round_index: int,
    n_params: int,
    counted: Sequence[str],
    public_key: paillier.PaillierPublicKey,
    encoding: EncodingParams,
    submitted_hash: Callable[[str], str | None],
) -> tuple[str, dict[str, np.ndarray]]:
    """(what does not hold, or ""; each counted address's update, by lower-case address).
    Every address in `counted` (the report's counted lines) must be opened exactly once, its
    blob the one it submitted to this round on chain, its plaintexts that blob's decryption.
    CopyProofError when the opening cannot be read at all."""
    limit = max_opening_bytes(n_params, encoding, len(counted))
    if len(data) > limit:
        return f"the opening is {len(data)} bytes, more than {len(counted)} opened updates can be ({limit})", {}
    doc = read_round_doc(data, OPENING_KIND, OPENING_VERSION, "round opening")
    if (doc_field(doc, "bountyId", int), doc_field(doc, "round", int)) != (bounty_id, round_index):
        return f"the opening is for bounty {doc['bountyId']} round {doc['round'] + 1}", {}
    steps = doc_field(doc, "updates", list)
    wanted = {who.lower() for who in counted}
    seen: set[str] = set()
    updates: dict[str, np.ndarray] = {}
    for step in steps:
        problem, who, update = check_opened_step(
            step, bounty_id=bounty_id, round_index=round_index, n_params=n_params, public_key=public_key,
            encoding=encoding, submitted_hash=submitted_hash, seen=seen, counted=wanted, what="opening")
        if problem:
            return problem, {}
        updates[who.lower()] = update
    missing = sorted(wanted - set(updates))
    if missing:
        return f"the opening leaves out {len(missing)} counted update(s), {missing[0]} first", {}
    return "", updates


@dataclass(frozen=True)
class RecomputedLine:
    """One counted update's numbers as the replayed round gives them (a report line's)."""

    value: float
    std_err: float
    pay_factor: float
    scale: float
    in_model: bool


@dataclass(frozen=True)
class RecomputedRound:
    """The replayed round: each counted update's line, the next model, the utility clip c and
    how the values were computed ("exact" or "gtg")."""

    lines: dict[str, RecomputedLine]  # by lower-case address
    next_params: np.ndarray
    utility_clip: float
    method: str


def recompute_round(
    round_params: np.ndarray,
    counted: dict[str, np.ndarray],
    losses: Callable[[np.ndarray], np.ndarray],
    *,
    reference: np.ndarray,
    along_bound: float | None,
    seed: int,
    draw: str = "keccak",
) -> RecomputedRound:
    """The round's game as `practitioner.valuation.value_round` plays it, from the counted
    updates as the valuation counts them (projected onto the clip ball: `counted_update`):
    players in the order of their float64 bytes (then address), each held to the bound along
    the reference, the fixed-denominator game on each validation example's clipped log-loss
    reduction (`losses(params)`: per-example log-loss), exact Shapley up to 12 players and the
    round's seeded GTG-Shapley beyond, trimmed means with their standard errors, pay factors
    from each update's direction, and the next model from the players of positive value.
    `draw`: GTG-Shapley's permutation draw (`trainer.shapley.GTG_DRAWS`)."""
    if len(counted) > RECOMPUTE_MAX_PLAYERS:
        raise ValueError(f"a round of more than {RECOMPUTE_MAX_PLAYERS} players is sampled in bounded time; "
                         "it is not recomputed")
    order = sorted(counted, key=lambda who: (counted[who].tobytes(), who))
    raw = [counted[who] for who in order]
    scales = [along_scale(p, reference, along_bound) for p in raw]
    players = [p * s if s < 1.0 else p for p, s in zip(raw, scales, strict=True)]
    n = len(players)
    base = np.asarray(losses(round_params), dtype=np.float64)
    clip = utility_clip(float(base.mean()))

    def params_of(coalition: Collection[int]) -> np.ndarray:
        if not coalition:
            return round_params
        return round_params + np.sum([players[i] for i in sorted(coalition)], axis=0) / n

    def utility(coalition: frozenset[int]) -> np.ndarray:
        return np.clip(base - np.asarray(losses(params_of(coalition)), dtype=np.float64), -clip, clip)

    result = shapley_values(n, utility, seed=seed, draw=draw)
    estimate = value_estimates(result.per_example)
    in_model = [i for i in range(n) if estimate.mean[i] > 0]
    zero = not np.any(reference)
    lines = {
        who: RecomputedLine(
            value=float(estimate.mean[i]), std_err=float(estimate.stderr[i]),
            pay_factor=1.0 if zero else alignment_pay_factor(cosine(raw[i], reference), raw[i].size),
            scale=scales[i], in_model=i in in_model)
        for i, who in enumerate(order)
    }
    return RecomputedRound(lines, params_of(in_model), clip, result.method)


def opening_differences(report: dict[str, Any], recomputed: RecomputedRound, *, relative: float,
                        factor_tolerance: float) -> list[str]:
    """Where the report's counted lines differ from the recomputed round, in words."""
    differences = []
    clip = recomputed.utility_clip
    for line in report.get("contributors", []):
        if line.get("copyOf") is not None:
            continue
        who = str(line["address"])
        mine = recomputed.lines.get(who.lower())
        if mine is None:
            differences.append(f"{who}: the report counts it, and the round's opening does not open it")
            continue
        for name, ours, tolerance in (("value", mine.value, relative * max(abs(mine.value), clip)),
                                      ("stdErr", mine.std_err, relative * max(abs(mine.std_err), clip)),
                                      ("payFactor", mine.pay_factor, factor_tolerance),
                                      ("scale", mine.scale, relative)):
            theirs = float(line.get(name, 1.0 if name in ("payFactor", "scale") else 0.0))
            if abs(ours - theirs) > tolerance:
                differences.append(f"{who}'s {name}: the report says {theirs!r}, recomputed {ours!r} from the "
                                   "round's opened updates")
        if bool(line.get("inModel")) != mine.in_model:
            differences.append(f"{who}: the report says it is {'' if line.get('inModel') else 'not '}in the next "
                               "model, the recomputed values say otherwise")
    return differences
