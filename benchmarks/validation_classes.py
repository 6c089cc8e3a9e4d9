"""What an owner holding one class's rows is paid when the validation set has few rows of that
class: python -m benchmarks.validation_classes [--splits N] [--datasets a,b] [--json].

Updates are valued on the practitioner's validation set. Each split of a table (as
`benchmarks.fairness` cuts it) gives three owners of 30 mixed rows and one owner of 20 rows of
the table's class 0 only; the same round is valued with the validation set's class-0 rows cut
down to k (the other classes' rows kept). Printed per k: the class-only owner's mean share of
the round, and in how many splits it was paid nothing. `post` refuses k = 0 and warns below
`practitioner.post.MIN_CLASS_VALIDATION_ROWS` (docs/PROTOCOL.md, "Bounty spec").
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from benchmarks._common import emit
from benchmarks._markets import quantise, split_market
from benchmarks.fairness import wallet_update
from practitioner.decode import ValidationScorer, reference_update
from practitioner.valuation import DecodedSubmission, value_round
from trainer.encoding import encoding_slack
from trainer.models import model_from_spec

DATASETS = ("wine", "iris", "penguins", "breast_cancer")
CLASS_ROWS = (0, 1, 3, 5, 10, None)  # None: every validation row of the class
ALL = "all"
MIXED_OWNERS, MIXED_ROWS, CLASS_OWNER_ROWS = 3, 30, 20


def _shares(name: str, split: int) -> dict[str, float]:
    """The class-only owner's share of the round for each k of CLASS_ROWS."""
    cut = split_market(name, np.random.default_rng(1000 + split))
    spec = cut.spec
    params = model_from_spec(spec).get_params()
    of_class = np.flatnonzero(cut.pool_y == 0)[:CLASS_OWNER_ROWS]
    mixed = np.setdiff1d(np.arange(len(cut.pool_y)), of_class)
    owners = [mixed[k * MIXED_ROWS:(k + 1) * MIXED_ROWS] for k in range(MIXED_OWNERS)] + [of_class]
    updates = [quantise(wallet_update(spec, params, cut.pool_x[rows], cut.pool_y[rows], f"{name}:{split}:{i}"))
               for i, rows in enumerate(owners)]
    addresses = [f"0x{i + 1:040x}" for i in range(len(owners))]
    subs = [DecodedSubmission(a, "0x" + f"{i:064x}", u, order=i)
            for i, (a, u) in enumerate(zip(addresses, updates, strict=True))]
    out = {}
    for k in CLASS_ROWS:
        keep = cut.y_val != 0
        keep[np.flatnonzero(cut.y_val == 0)[:k]] = True
        x_val, y_val = cut.x_val[keep], cut.y_val[keep]
        valuation = value_round(
            params, subs, ValidationScorer(spec, x_val, y_val), 10**18, clip_norm=spec.privacy.clip_norm,
            clip_slack=encoding_slack(params.size, spec.encoding.precision_bits),
            reference=reference_update(spec, params, x_val, y_val))
        paid = {line.address: line.amount / 10**18 for line in valuation.contributors}
        out[ALL if k is None else str(k)] = paid.get(addresses[-1], 0.0)
    return out


def run(datasets: list[str], splits: int) -> dict[str, Any]:
    result: dict[str, Any] = {"datasets": list(datasets), "splits": splits, "per_dataset": {}}
    for name in datasets:
        rows = [_shares(name, split) for split in range(splits)]
        row: dict[str, Any] = {}
        for key in rows[0]:
            values = np.array([r[key] for r in rows])
            row[f"class_owner_share_mean_k_{key}"] = float(values.mean())
            row[f"class_owner_unpaid_k_{key}"] = int((values == 0).sum())
        result["per_dataset"][name] = row
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=12)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run([n for n in args.datasets.split(",") if n], args.splits)
    if args.json:
        emit("", result, True)
        return 0
    for name, row in result["per_dataset"].items():
        emit(f"{name} ({args.splits} splits): the class-only owner with k validation rows of its class", row, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
