"""The round report: a JSON blob whose keccak256 goes on chain as `reportHash` in `finalize`.

Canonical bytes (sorted keys, no spaces, UTF-8), so anyone holding the blob can check it
against the chain. Token amounts are decimal strings (they exceed JSON's safe integers).

Version 2 (written now):

    {"kind": "quarry-round-report", "version": 2,
     "bountyId": 3, "round": 0, "specHash": "0x..", "modelHash": "0x.." (the model the round
     trained from), "nextModelHash": "0x..", "metric": "log_loss" (lower is better),
     "metricBefore": 0.69, "metricAfter": 0.21 (validation log-loss of the round's model and
     of the next model), "accuracyBefore": 0.61, "accuracyAfter": 0.93,
     "players": 3, "denominator": 3 (next model = round model + sum(updates of the players
     in the next model) / denominator), "method": "exact" | "gtg" | "none",
     "seed": 0 | null, "evaluations": 8, "reward": "1000000000000000000",
     "paid": "999999999999999999",
     "contributors": [{"address", "blobHash", "value", "stdErr", "share", "amount",
                       "inModel", "metricWithout", "copyOf": address | null,
                       "payFactor" (optional; 1 when absent),
                       "scale" (optional; 1 when absent)}],
     "alongBound": 0.8 (optional),
     "rejected": [{"address", "blobHash", "reason"}]}

`value` is the contributor's Shapley value (mean over validation examples of its log-loss
reduction), `stdErr` its standard error across validation examples; `share` = amount /
reward; `inModel` whether its update is in the next model; `metricWithout` = the log-loss of
the next model minus this contributor's update / denominator (when inModel), else of the
next model; `copyOf` = the earliest submission this one copies (it gets 0); `payFactor` =
the alignment pay factor its lower bound was paid at (docs/PROTOCOL.md, Valuation step 4);
`alongBound` = how far one update may reach along the practitioner's reference update this
round (`trainer.alignment.along_bound`; absent in reports from before the bound: none; null
when the spec commits the bounty to it, `valuation_rules` >= 1, and the round has none), and
`scale` (< 1, written only then) = the factor the contributor's update was scaled down by to
stay within it, in the game and the next model (Valuation step 3).

Version 1 (still read): "metric": "accuracy", contributors {"address", "blobHash", "value",
"share", "amount", "metricWith", "metricWithout", "mergedWith": [addresses]}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainer.spec import canonical_json_bytes
from trainer.update_blob import blob_hash

# the one reader of round reports, shared with the wallet's checks (wallet/verify.py)
from wallet.round_report import (  # noqa: F401 - re-exported
    MAX_REPORT_BYTES,
    REPORT_KIND,
    parse_report,
)
from wallet.round_report import REPORT_VERSIONS as READABLE_VERSIONS  # noqa: F401

if TYPE_CHECKING:
    from practitioner.valuation import Valuation

REPORT_VERSION = 2


@dataclass(frozen=True)
class ContributorLine:
    address: str
    blob_hash: str
    value: float
    amount: int
    metric_without: float
    std_err: float = 0.0
    in_model: bool = False
    copy_of: str | None = None
    pay_factor: float = 1.0  # the alignment pay factor its lower bound was paid at
    scale: float = 1.0  # the factor its update was scaled by to stay within the along bound

    def to_json(self, reward: int) -> dict[str, Any]:
        line = {
            "address": self.address,
            "blobHash": self.blob_hash,
            "value": _finite(self.value),
            "stdErr": _finite(self.std_err),
            "share": (self.amount / reward) if reward else 0.0,
            "amount": str(self.amount),
            "inModel": bool(self.in_model),
            "metricWithout": _finite(self.metric_without),
            "copyOf": self.copy_of,
            "payFactor": _finite(self.pay_factor),
        }
        if self.scale < 1.0:
            line["scale"] = _finite(self.scale)
        return line


@dataclass(frozen=True)
class RejectedLine:
    address: str
    blob_hash: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "blobHash": self.blob_hash, "reason": self.reason}


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def build_report(
    *,
    bounty_id: int,
    round_index: int,
    spec_hash: str,
    model_hash: str,
    next_model_hash: str,
    metric: str,
    metric_before: float,
    metric_after: float,
    accuracy_before: float,
    accuracy_after: float,
    method: str,
    seed: int | None,
    evaluations: int,
    players: int,
    reward: int,
    contributors: list[ContributorLine],
    rejected: list[RejectedLine],
    along_bound: float | None = None,
    along_bound_committed: bool = False,
) -> dict[str, Any]:
    """The report's JSON. `along_bound_committed` (the spec's `valuation_rules` >= 1): `alongBound` is
    written even when the round has no bound (null), so that owners can tell a report that
    leaves it out."""
    paid = sum(line.amount for line in contributors)
    if paid > reward:
        raise ValueError("the report pays more than the round's reward")
    report = {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "bountyId": bounty_id,
        "round": round_index,
        "specHash": spec_hash,
        "modelHash": model_hash,
        "nextModelHash": next_model_hash,
        "metric": metric,
        "metricBefore": _finite(metric_before),
        "metricAfter": _finite(metric_after),
        "accuracyBefore": _finite(accuracy_before),
        "accuracyAfter": _finite(accuracy_after),
        "players": players,
        "denominator": players,
        "method": method,
        "seed": seed,
        "evaluations": evaluations,
        "reward": str(reward),
        "paid": str(paid),
        "contributors": [line.to_json(reward) for line in contributors],
        "rejected": [line.to_json() for line in rejected],
    }
    if along_bound is not None:
        report["alongBound"] = _finite(along_bound)
    elif along_bound_committed:
        report["alongBound"] = None
    return report


def report_of_valuation(
    valuation: Valuation, *, bounty_id: int, round_index: int, spec_hash: str, model_hash: str,
    next_model_hash: str, reward: int, metric: str = "log_loss", along_bound_committed: bool = False,
) -> dict[str, Any]:
    """`build_report` with everything the valuation measured taken from it."""
    return build_report(
        bounty_id=bounty_id, round_index=round_index, spec_hash=spec_hash, model_hash=model_hash,
        next_model_hash=next_model_hash, metric=metric,
        metric_before=valuation.metric_before, metric_after=valuation.metric_after,
        accuracy_before=valuation.accuracy_before, accuracy_after=valuation.accuracy_after,
        method=valuation.method, seed=valuation.seed, evaluations=valuation.evaluations,
        players=valuation.players, reward=reward, contributors=valuation.contributors,
        rejected=valuation.rejected, along_bound=valuation.along_bound,
        along_bound_committed=along_bound_committed,
    )


def report_bytes(report: dict[str, Any]) -> bytes:
    """The canonical bytes (the spec's rule: sorted keys, no spaces, UTF-8, finite floats)."""
    return canonical_json_bytes(report)


# a report is a blob: its reportHash is its content address
report_hash = blob_hash
