"""What an address earns by training on the validation rows, once another bounty revealed them.

    python -m benchmarks.validation_reuse [--quick] [--splits 10] [--datasets a,b] [--json]

At a bounty's end its validation set is revealed so that owners can check their pay. A
practitioner who posts those rows again as a new bounty's validation set hands that bounty's
pay to whoever reads the reveal: an update trained on them is scored on the very rows it was
trained on. The markets of `benchmarks.fairness` (the same tables, splits, owners, rounds and
valuation), each round with one more owner, the "thief", that trains as a wallet does on the
practitioner's validation rows (and, apart, one holding half of them). Per table:

- thief_mean_share / thief_max_share: the share of a round paid to it;
- thief_half_mean_share: the same for an owner holding half the validation rows;
- thief_true_mean_share: its share of the round's positive true value (its Shapley value on the
  held-out test set, as `benchmarks.fairness` measures true value): what its rows are really
  worth to the model, as any rows of the same distribution would be;
- h_big_mean_share: the honest big owner's (up to 200 fresh rows) in the same rounds, and
  thief_to_h_big_median_ratio, thief's pay over that owner's, round by round.

`post` refuses validation rows another bounty of the home revealed, and a reveal waits while a
bounty sharing its rows runs (practitioner.validation_reuse; docs/PROTOCOL.md, "Validation rows
used twice").
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from benchmarks import fairness
from benchmarks._common import emit, machine
from trainer.models import model_from_spec

QUICK_DATASETS = ("breast_cancer", "wine")
QUICK_SPLITS = 2


def run_table(name: str, splits: int, rounds: int = 2) -> dict[str, Any]:
    paid: list[float] = []
    half: list[float] = []
    truth: list[float] = []
    big: list[float] = []
    ratios: list[float] = []
    rows = 0
    for split in range(splits):
        market = fairness.build_market(name, split)
        rows = len(market.y_val)
        params = model_from_spec(market.spec).get_params()
        for _ in range(rounds):
            updates = fairness.base_updates(market, params)
            honest = dict(updates)
            updates["thief"] = fairness.wallet_update(market.spec, params, market.x_val, market.y_val,
                                                      f"{name}:{split}:thief")
            chain = list(market.rng.permutation(list(updates)))
            valuation, shares, _ = fairness.value(market, params, updates, chain)
            k = len(market.y_val) // 2
            with_half = {**honest, "half": fairness.wallet_update(market.spec, params, market.x_val[:k],
                                                                  market.y_val[:k], f"{name}:{split}:half")}
            _, shares_half, _ = fairness.value(market, params, with_half, [o for o in chain if o != "thief"] + ["half"])
            true = fairness.true_values(market, params, updates, list(updates))
            true_share = dict(zip(true, fairness.true_shares(list(true.values())), strict=True))
            paid.append(shares["thief"])
            half.append(shares_half["half"])
            truth.append(true_share["thief"])
            big.append(shares["h_big"])
            if shares["h_big"] > 0:
                ratios.append(shares["thief"] / shares["h_big"])
            # the next round starts from the model of the market without the thief
            params = fairness.value(market, params, honest, [o for o in chain if o != "thief"])[0].next_params
    return {
        "validation_rows": rows,
        "thief_mean_share": float(np.mean(paid)),
        "thief_max_share": float(np.max(paid)),
        "thief_half_mean_share": float(np.mean(half)),
        "thief_true_mean_share": float(np.mean(truth)),
        "h_big_mean_share": float(np.mean(big)),
        "thief_to_h_big_median_ratio": float(np.median(ratios)) if ratios else float("nan"),
        "rounds_measured": len(paid),
    }


def run(datasets: list[str], splits: int) -> dict[str, Any]:
    started = time.perf_counter()
    per_dataset = {name: run_table(name, splits) for name in datasets}
    return {
        "datasets": datasets,
        "splits": splits,
        "per_dataset": per_dataset,
        "thief_mean_share_min": min(d["thief_mean_share"] for d in per_dataset.values()),
        "seconds": time.perf_counter() - started,
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SPLITS} splits of {', '.join(QUICK_DATASETS)}")
    parser.add_argument("--splits", type=int, default=None)
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",") if args.datasets else list(QUICK_DATASETS if args.quick else fairness.DATASETS)
    splits = args.splits or (QUICK_SPLITS if args.quick else 10)
    results = run(datasets, splits)
    if args.json:
        emit("", results, True)
        return 0
    for name, table in results["per_dataset"].items():
        emit(f"validation rows revealed and reused: {name}", table, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
