"""Small builders of valid specs and keys, for tests and demos (not used by the app itself).

`make_spec_dict(**overrides)` returns a valid spec as a plain dict (nested keys may be
overridden with dotted names, e.g. `**{"model.type": "mlp", "model.hidden": [8]}`);
`make_spec(...)` parses it into a BountySpec. Keys default to a fresh 512-bit Paillier key,
which is fast and fine for tests only.
"""

from __future__ import annotations

import copy
from typing import Any

from phe import paillier

from trainer.spec import BountySpec

_KEY_CACHE: dict[int, tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]] = {}


def test_keypair(
    bits: int = 512,
) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    """A Paillier key pair, generated once per size per process (tests only)."""
    if bits not in _KEY_CACHE:
        _KEY_CACHE[bits] = paillier.generate_paillier_keypair(n_length=bits)
    return _KEY_CACHE[bits]


test_keypair.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def make_spec_dict(
    n_features: int = 4,
    classes: list[int | str] | None = None,
    public_key: paillier.PaillierPublicKey | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid spec dict for `n_features` float columns f0.. and a label column 'label'."""
    classes = list(classes) if classes is not None else [0, 1]
    if public_key is None:
        public_key, _ = test_keypair(512)
    binary = len(classes) == 2
    spec: dict[str, Any] = {
        "version": 1,
        "title": "Test bounty",
        "description": "A bounty built by trainer.testing.",
        "task": "binary_classification" if binary else "multiclass_classification",
        "schema": {
            "columns": [{"name": f"f{i}", "type": "float"} for i in range(n_features)],
            "label": "label",
            "classes": classes,
            "min_rows": 10,
        },
        "standardize": {"mean": [0.0] * n_features, "std": [1.0] * n_features},
        "model": {
            "type": "logistic" if binary else "softmax",
            "hidden": [],
            "n_features": n_features,
            "n_classes": len(classes),
        },
        "training": {
            "optimizer": "sgd",
            "learning_rate": 0.1,
            "epochs": 5,
            "batch_size": 32,
            "seed": 7,
            "l2": 0.0,
        },
        "privacy": {"clip_norm": 5.0, "delta": 1e-5, "max_noise_multiplier": 2.0},
        "encoding": {"precision_bits": 16, "clip": 1.0, "max_contributors": 100},
        "paillier": {"n": str(public_key.n), "bits": public_key.n.bit_length()},
        "metric": "log_loss",
        "validation_commitment": "0x" + "11" * 32,
        "initial_model": {"hash": "0x" + "22" * 32, "uri": "file:///tmp/model.bin"},
        "inbox_url": "http://127.0.0.1:8545",
    }
    for dotted, value in overrides.items():
        target = spec
        *parents, last = dotted.replace("__", ".").split(".")
        for key in parents:
            target = target[key]
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = copy.deepcopy(value)
    return spec


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


_DELETE = _Delete()
DELETE: Any = _DELETE
"""Pass as an override value to remove a field: make_spec_dict(**{"title": DELETE})."""


def make_spec(
    n_features: int = 4,
    classes: list[int | str] | None = None,
    public_key: paillier.PaillierPublicKey | None = None,
    **overrides: Any,
) -> BountySpec:
    return BountySpec.from_json(make_spec_dict(n_features, classes, public_key, **overrides))
