"""Local training on scikit-learn's bundled datasets, against sklearn's LogisticRegression.

    python -m benchmarks.training [--epochs 30] [--json]

For each dataset: our model's test accuracy and training time, and sklearn's
LogisticRegression (lbfgs, C=1) on the same standardised split as the reference.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from benchmarks._common import emit, machine, timed
from trainer.models import MLP, LogisticRegression, SoftmaxRegression
from trainer.spec import TrainingConfig
from trainer.train import train_local


def _datasets(names: list[str]):
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
    }
    for name in names:
        yield name, loaders[name](return_X_y=True)


def run(epochs: int = 30, names: list[str] | None = None) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression as SklearnLR
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    results: dict[str, Any] = {"epochs": epochs}
    for name, (X, y) in _datasets(names or ["breast_cancer", "wine", "digits"]):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        n_classes = len(np.unique(y))
        sk, sk_s = timed(lambda Xtr=Xtr, ytr=ytr: SklearnLR(max_iter=5000).fit(Xtr, ytr))
        linear = (
            LogisticRegression(X.shape[1])
            if n_classes == 2
            else SoftmaxRegression(X.shape[1], n_classes)
        )
        config = TrainingConfig("adam", 0.01, epochs, 32, 0, 1.0 / len(ytr))
        _, lin_s = timed(lambda m=linear, c=config, Xtr=Xtr, ytr=ytr: train_local(m, Xtr, ytr, c))
        mlp = MLP(X.shape[1], n_classes, [32], seed=1)
        mlp_config = TrainingConfig("adam", 0.01, epochs, 32, 0, 1e-4)
        _, mlp_s = timed(lambda m=mlp, c=mlp_config, Xtr=Xtr, ytr=ytr: train_local(m, Xtr, ytr, c))
        results[f"{name}_rows"] = int(len(ytr))
        results[f"{name}_sklearn_accuracy"] = float(sk.score(Xte, yte))
        results[f"{name}_linear_accuracy"] = linear.accuracy(Xte, yte)
        results[f"{name}_mlp_accuracy"] = mlp.accuracy(Xte, yte)
        results[f"{name}_sklearn_s"] = sk_s
        results[f"{name}_linear_s"] = lin_s
        results[f"{name}_mlp_s"] = mlp_s
    results.update({f"machine_{k}": v for k, v in machine().items()})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--datasets", default="breast_cancer,wine,digits", help="comma-separated names"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.epochs, args.datasets.split(","))
    emit("Local training", results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
