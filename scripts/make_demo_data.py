"""Generate the demo CSV files under resources/demo ONCE from scikit-learn's bundled datasets.

Run: .venv/bin/python scripts/make_demo_data.py
The CSVs are committed; the app reads them and never needs scikit-learn at run time.

Each dataset is shuffled with a fixed seed and split into a held-out validation part (the
demo practitioner keeps it to itself) and three data owners' parts (owner_a, owner_b,
owner_c) that a new user can train on. Column names are the dataset's feature names with
spaces replaced by underscores; the label column is `label` with integer classes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from sklearn import datasets

OUT = Path(__file__).resolve().parent.parent / "resources" / "demo"
SEED = 20261125
VALIDATION_FRACTION = 0.25
OWNERS = ("a", "b", "c")


def _column_name(raw: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", raw.strip()).strip("_")


def _write_csv(path: Path, header: list[str], x: np.ndarray, y: np.ndarray) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "label"])
        for row, label in zip(x, y, strict=True):
            # %.6g keeps the datasets' published precision and stays short
            writer.writerow([f"{value:.6g}" for value in row] + [int(label)])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
    }
    rng = np.random.default_rng(SEED)
    for name, loader in loaders.items():
        bunch = loader()
        x, y = np.asarray(bunch.data, dtype=float), np.asarray(bunch.target, dtype=int)
        names = getattr(bunch, "feature_names", None)
        header = [_column_name(str(n)) for n in names]
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
        n_validation = int(round(VALIDATION_FRACTION * len(y)))
        _write_csv(OUT / f"{name}_validation.csv", header, x[:n_validation], y[:n_validation])
        for owner, part in zip(OWNERS, np.array_split(np.arange(n_validation, len(y)), len(OWNERS)), strict=True):
            _write_csv(OUT / f"{name}_owner_{owner}.csv", header, x[part], y[part])
        print(f"{name}: {len(y)} rows, {len(header)} features, {n_validation} held out")


if __name__ == "__main__":
    main()
