"""One validation example's influence on a round's pay, by brute force.

    python -m benchmarks.example_influence [--splits 10] [--datasets iris,wine] [--null-test]
        [--fixed-reference] [--z Z] [--json]

`benchmarks.fairness` measures `example_influence_max` from the Shapley coefficients: it
re-derives the players' per-example values for a relabelled example, with the same players.
Relabelling an example also changes the practitioner's reference update (trained on the
validation set), and with it which updates pass the alignment screen (and, with the
optional null test, the pay factors), which that measure cannot see. Here every relabelling
(every validation example, every other class) re-runs the whole valuation
(`practitioner.valuation.value_round` with a new scorer and a new reference) on the same
markets as `benchmarks.fairness` (first round: its base market; second round: from the
first round's next model). Reported per table: the largest and the median over rounds of
the round's largest moved share (total variation of the shares: between owners or to the
unassigned remainder). Digits (359 rows x 9 other classes of 650-parameter valuations) is
left out for time.

What drives it (docs/PROTOCOL.md): `--fixed-reference` keeps the reference update trained on
the original labels (the screen then sees no relabelling: what is left is the players'
per-example values and the lower bound), and `--z 0` removes the lower confidence bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from benchmarks import fairness
from practitioner.decode import ValidationScorer, reference_update
from practitioner.valuation import DecodedSubmission, Valuation, encoding_slack, value_round
from trainer.alignment import round_along_bound
from trainer.models import model_from_spec
from trainer.shapley import CONFIDENCE_Z

DATASETS = ("breast_cancer", "wine", "iris", "diabetes", "breast_cancer_4")
OWNERS = (*fairness.HONEST, *fairness.NOISY, "one_row", "zero", "random")


def shares(market: fairness.Market, params: np.ndarray, updates: dict[str, np.ndarray],
           labels: np.ndarray, null_test: bool, reference_labels: np.ndarray | None = None,
           z: float = CONFIDENCE_Z) -> tuple[np.ndarray, Valuation]:
    """Each owner's share of the round valued on the validation set with these labels (the
    reference update trained with `reference_labels`, by default the same)."""
    reference_labels = labels if reference_labels is None else reference_labels
    reference = reference_update(market.spec, params, market.x_val, reference_labels)
    addresses = {owner: fairness.address(owner, market.split) for owner in OWNERS}
    subs = [DecodedSubmission(addresses[o], "0x", updates[o], order=i) for i, o in enumerate(OWNERS)]
    valuation = value_round(
        params, subs, ValidationScorer(market.spec, market.x_val, labels), fairness.REWARD,
        clip_norm=market.spec.privacy.clip_norm,
        clip_slack=encoding_slack(params.size, market.spec.encoding.precision_bits),
        reference=reference, null_test=null_test, z=z,
        along_bound=round_along_bound(market.spec, params, market.x_val, reference_labels),
    )
    paid = {line.address: line.amount / fairness.REWARD for line in valuation.contributors}
    return np.array([paid.get(addresses[o], 0.0) for o in OWNERS]), valuation


def round_influence(market: fairness.Market, params: np.ndarray, updates: dict[str, np.ndarray],
                    null_test: bool, fixed_reference: bool = False,
                    z: float = CONFIDENCE_Z) -> tuple[float, Valuation]:
    base, valuation = shares(market, params, updates, market.y_val, null_test, z=z)
    reference_labels = market.y_val if fixed_reference else None
    worst = 0.0
    for labels in relabellings(market.y_val, market.n_classes):
        moved = shares(market, params, updates, labels, null_test, reference_labels, z)[0] - base
        worst = max(worst, float(moved[moved > 0].sum()), float(-moved[moved < 0].sum()))
    return worst, valuation


def relabellings(labels: np.ndarray, n_classes: int) -> Iterator[np.ndarray]:
    """Every copy of `labels` with exactly one example given another class."""
    for j in range(len(labels)):
        for k in range(n_classes):
            if k != labels[j]:
                changed = labels.copy()
                changed[j] = k
                yield changed


def run(datasets: list[str], splits: int, null_test: bool = False, rounds: int = 2,
        fixed_reference: bool = False, z: float = CONFIDENCE_Z) -> dict[str, Any]:
    start = time.perf_counter()
    table: dict[str, Any] = {}
    for name in datasets:
        worst: list[float] = []
        for split in range(splits):
            market = fairness.build_market(name, split)
            params = model_from_spec(market.spec).get_params()
            for _ in range(rounds):
                moved, valuation = round_influence(market, params, fairness.base_updates(market, params),
                                                   null_test, fixed_reference, z)
                worst.append(moved)
                params = valuation.next_params
        table[name] = {"validation_rows": len(market.y_val), "max": max(worst),
                       "median": float(np.median(worst))}
    return {"datasets": list(table), "splits": splits, "rounds": rounds, "null_test": null_test,
            "fixed_reference": fixed_reference, "z": z, "per_dataset": table,
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--null-test", action="store_true")
    parser.add_argument("--fixed-reference", action="store_true",
                        help="the reference update keeps the original labels (isolates the screen)")
    parser.add_argument("--z", type=float, default=CONFIDENCE_Z, help="the lower bound's z (0: none)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.datasets.split(","), args.splits, args.null_test,
                 fixed_reference=args.fixed_reference, z=args.z)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    for name, row in result["per_dataset"].items():
        print(f"{name:16s} {row['validation_rows']:4d} validation rows: one relabelled example "
              f"moves at most {100 * row['max']:.1f} % of a round (median round {100 * row['median']:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
