"""The sections of a bounty spec (schema, model, training, ...) and their parsers.

Frozen dataclasses (lists stored as tuples, so a spec is hashable), each with `to_json()`
for the canonical form (`asdict` where every field is a plain JSON value), and one `parse_<section>(value)` per section that validates it and
raises SpecError naming the field. trainer.spec assembles them into a BountySpec.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from trainer.errors import SpecError
from trainer.key_proof import ROUNDS as KEY_PROOF_ROUNDS
from trainer.key_proof import modulus_proof_problem
from trainer.spec_fields import (
    as_dict,
    no_unknown,
    read_choice,
    read_float,
    read_int,
    read_list,
    read_str,
    require,
)

COLUMN_TYPES = ("float", "int")
MODEL_TYPES = ("logistic", "softmax", "mlp")
ACTIVATIONS = ("relu", "tanh")
OPTIMIZERS = ("sgd", "adam")
MIN_KEY_BITS = 512
MAX_KEY_BITS = 8192
DEFAULT_DELTA = 1e-5
_NAME_RE = re.compile(r"^[^\x00-\x1f]{1,100}$")


MISSING_POLICIES = ("drop", "fill", "mean", "median")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    aliases: tuple[str, ...] = ()  # other names the owners' files may use for this column
    # what the wallet does with a missing or bad cell: None = the wallet's default (drop the
    # row), "drop", "fill" (with `fill`), "mean"/"median" (of the owner's own column, locally)
    missing: str | None = None
    fill: float | None = None

    def to_json(self) -> dict[str, Any]:
        # optional fields only when set, so specs written before them keep their hash
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.missing is not None:
            out["missing"] = self.missing
        if self.fill is not None:
            out["fill"] = self.fill
        return out


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]
    label: str
    classes: tuple[int | str, ...]
    min_rows: int
    label_aliases: tuple[str, ...] = ()

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "columns": [column.to_json() for column in self.columns],
            "label": self.label,
            "classes": list(self.classes),
            "min_rows": self.min_rows,
        }
        if self.label_aliases:
            out["label_aliases"] = list(self.label_aliases)
        return out


@dataclass(frozen=True)
class Standardize:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class ModelSpec:
    type: str
    hidden: tuple[int, ...]
    n_features: int
    n_classes: int
    activation: str = "relu"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "hidden": list(self.hidden),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
        }
        if self.type == "mlp":
            out["activation"] = self.activation
        return out


@dataclass(frozen=True)
class TrainingConfig:
    optimizer: str
    learning_rate: float
    epochs: int
    batch_size: int
    seed: int
    l2: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PrivacySpec:
    clip_norm: float
    delta: float = DEFAULT_DELTA
    max_noise_multiplier: float | None = None
    # the largest epsilon (at `delta`) one contribution may spend; None = no limit. Omitted
    # from the JSON when None, so specs posted before the field keep their hash.
    max_epsilon: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clip_norm": self.clip_norm, "delta": self.delta}
        if self.max_noise_multiplier is not None:
            out["max_noise_multiplier"] = self.max_noise_multiplier
        if self.max_epsilon is not None:
            out["max_epsilon"] = self.max_epsilon
        return out


@dataclass(frozen=True)
class EncodingSpec:
    precision_bits: int
    clip: float
    max_contributors: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PaillierSpec:
    n: int
    bits: int
    # n-th roots proving gcd(n, phi(n)) = 1 (trainer.key_proof); () in specs posted before them
    proof: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": str(self.n), "bits": self.bits}
        if self.proof:
            out["proof"] = [str(root) for root in self.proof]
        return out


@dataclass(frozen=True)
class ModelRef:
    hash: str
    uri: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_schema(value: Any) -> Schema:
    obj = as_dict(value, "schema")
    no_unknown(obj, {"columns", "label", "classes", "min_rows", "label_aliases"}, "schema")
    raw_columns = read_list(require(obj, "columns", "schema."), "schema.columns")
    if not raw_columns:
        raise SpecError("Spec field 'schema.columns' must list at least one column.")
    if len(raw_columns) > 100_000:
        raise SpecError("Spec field 'schema.columns' lists more than 100,000 columns.")
    columns = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_columns):
        path = f"schema.columns[{i}]"
        col = as_dict(raw, path)
        no_unknown(col, {"name", "type", "aliases", "missing", "fill"}, path)
        name = read_str(require(col, "name", path + "."), path + ".name", max_len=100)
        if not _NAME_RE.match(name) or name != name.strip():
            raise SpecError(f"Spec field '{path}.name' has control characters or padding.")
        if name in seen:
            raise SpecError(f"Spec field '{path}.name': column '{name}' is listed twice.")
        seen.add(name)
        col_type = read_choice(require(col, "type", path + "."), COLUMN_TYPES, path + ".type")
        missing = None
        if col.get("missing") is not None:
            missing = read_choice(col["missing"], MISSING_POLICIES, path + ".missing")
        fill = None
        if col.get("fill") is not None:
            fill = read_float(col["fill"], path + ".fill")
        if (missing == "fill") != (fill is not None):
            raise SpecError(f"Spec field '{path}.fill' is given exactly when "
                            f"'{path}.missing' is \"fill\".")
        columns.append(Column(name, col_type, _read_aliases(col.get("aliases"), path + ".aliases"),
                              missing, fill))
    label = read_str(require(obj, "label", "schema."), "schema.label", max_len=100)
    if label in seen:
        raise SpecError(f"Spec field 'schema.label': '{label}' is also a feature column.")
    raw_classes = read_list(require(obj, "classes", "schema."), "schema.classes")
    if len(raw_classes) < 2:
        raise SpecError("Spec field 'schema.classes' must list at least two classes.")
    if len(raw_classes) > 10_000:
        raise SpecError("Spec field 'schema.classes' lists more than 10,000 classes.")
    all_int = all(isinstance(c, int) and not isinstance(c, bool) for c in raw_classes)
    all_str = all(
        isinstance(c, str) and c.strip() and c == c.strip() and len(c) <= 100 for c in raw_classes
    )
    if not (all_int or all_str):
        raise SpecError(
            "Spec field 'schema.classes' must be all integers or all non-empty strings "
            "(no surrounding spaces, at most 100 characters)."
        )
    if len(set(raw_classes)) != len(raw_classes):
        raise SpecError("Spec field 'schema.classes' lists a class twice.")
    min_rows = read_int(require(obj, "min_rows", "schema."), "schema.min_rows", lo=1)
    label_aliases = _read_aliases(obj.get("label_aliases"), "schema.label_aliases")
    return Schema(tuple(columns), label, tuple(raw_classes), min_rows, label_aliases)


def _read_aliases(value: Any, path: str) -> tuple[str, ...]:
    """Optional list of other column names (at most 20, each like a column name)."""
    if value is None:
        return ()
    items = read_list(value, path)
    if len(items) > 20:
        raise SpecError(f"Spec field '{path}' lists more than 20 names.")
    names = tuple(read_str(a, f"{path}[{i}]", max_len=100) for i, a in enumerate(items))
    if any(not _NAME_RE.match(a) or a != a.strip() for a in names):
        raise SpecError(f"Spec field '{path}' has a name with control characters or padding.")
    return names


def parse_standardize(value: Any, n_features: int) -> Standardize:
    obj = as_dict(value, "standardize")
    no_unknown(obj, {"mean", "std"}, "standardize")
    out = {}
    for key in ("mean", "std"):
        items = read_list(require(obj, key, "standardize."), f"standardize.{key}")
        if len(items) != n_features:
            raise SpecError(
                f"Spec field 'standardize.{key}' has {len(items)} values; "
                f"the schema has {n_features} feature columns."
            )
        out[key] = tuple(
            read_float(v, f"standardize.{key}[{i}]", positive=(key == "std"))
            for i, v in enumerate(items)
        )
    return Standardize(out["mean"], out["std"])


def parse_model(value: Any, schema: Schema, task: str) -> ModelSpec:
    obj = as_dict(value, "model")
    no_unknown(obj, {"type", "hidden", "activation", "n_features", "n_classes"}, "model")
    model_type = read_choice(require(obj, "type", "model."), MODEL_TYPES, "model.type")
    hidden_raw = read_list(obj.get("hidden", []), "model.hidden")
    hidden = tuple(read_int(h, f"model.hidden[{i}]", lo=1, hi=4096) for i, h in enumerate(hidden_raw))
    if model_type == "mlp" and len(hidden) not in (1, 2):
        raise SpecError("Spec field 'model.hidden' must list 1 or 2 layer widths for an mlp.")
    if model_type != "mlp" and hidden:
        raise SpecError(f"Spec field 'model.hidden' must be empty for a {model_type} model.")
    activation = "relu"
    if "activation" in obj:
        if model_type != "mlp":
            raise SpecError("Spec field 'model.activation' applies to mlp models only.")
        activation = read_choice(obj["activation"], ACTIVATIONS, "model.activation")
    n_features = read_int(require(obj, "n_features", "model."), "model.n_features", lo=1)
    n_classes = read_int(require(obj, "n_classes", "model."), "model.n_classes", lo=2)
    if n_features != len(schema.columns):
        raise SpecError(
            f"Spec field 'model.n_features' is {n_features}; "
            f"the schema has {len(schema.columns)} feature columns."
        )
    if n_classes != len(schema.classes):
        raise SpecError(
            f"Spec field 'model.n_classes' is {n_classes}; "
            f"the schema lists {len(schema.classes)} classes."
        )
    if task == "binary_classification" and n_classes != 2:
        raise SpecError("Spec field 'task' is binary_classification but there are not 2 classes.")
    if task == "multiclass_classification" and n_classes < 3:
        raise SpecError(
            "Spec field 'task' is multiclass_classification but there are fewer than 3 classes."
        )
    if model_type == "logistic" and n_classes != 2:
        raise SpecError("Spec field 'model.type': logistic regression needs exactly 2 classes.")
    return ModelSpec(model_type, hidden, n_features, n_classes, activation)


def parse_training(value: Any) -> TrainingConfig:
    obj = as_dict(value, "training")
    no_unknown(
        obj, {"optimizer", "learning_rate", "epochs", "batch_size", "seed", "l2"}, "training"
    )
    return TrainingConfig(
        optimizer=read_choice(
            require(obj, "optimizer", "training."), OPTIMIZERS, "training.optimizer"
        ),
        learning_rate=read_float(
            require(obj, "learning_rate", "training."), "training.learning_rate", positive=True
        ),
        epochs=read_int(require(obj, "epochs", "training."), "training.epochs", lo=1, hi=10_000),
        batch_size=read_int(
            require(obj, "batch_size", "training."), "training.batch_size", lo=1, hi=1_000_000
        ),
        seed=read_int(require(obj, "seed", "training."), "training.seed", lo=0, hi=2**63 - 1),
        l2=read_float(obj.get("l2", 0.0), "training.l2", non_negative=True),
    )


def parse_privacy(value: Any) -> PrivacySpec:
    obj = as_dict(value, "privacy")
    no_unknown(obj, {"clip_norm", "delta", "max_noise_multiplier", "max_epsilon"}, "privacy")
    clip_norm = read_float(require(obj, "clip_norm", "privacy."), "privacy.clip_norm", positive=True)
    delta = read_float(obj.get("delta", DEFAULT_DELTA), "privacy.delta", positive=True, below=1.0)
    max_noise = None
    if obj.get("max_noise_multiplier") is not None:
        max_noise = read_float(
            obj["max_noise_multiplier"], "privacy.max_noise_multiplier", non_negative=True
        )
    max_epsilon = None
    if obj.get("max_epsilon") is not None:
        max_epsilon = read_float(obj["max_epsilon"], "privacy.max_epsilon", positive=True)
    return PrivacySpec(clip_norm, delta, max_noise, max_epsilon)


def parse_encoding(value: Any) -> EncodingSpec:
    obj = as_dict(value, "encoding")
    no_unknown(obj, {"precision_bits", "clip", "max_contributors"}, "encoding")
    return EncodingSpec(
        precision_bits=read_int(
            require(obj, "precision_bits", "encoding."), "encoding.precision_bits", lo=1, hi=40
        ),
        clip=read_float(require(obj, "clip", "encoding."), "encoding.clip", positive=True),
        max_contributors=read_int(
            require(obj, "max_contributors", "encoding."),
            "encoding.max_contributors",
            lo=1,
            hi=1_000_000,
        ),
    )


def parse_paillier(value: Any) -> PaillierSpec:
    obj = as_dict(value, "paillier")
    no_unknown(obj, {"n", "bits", "proof"}, "paillier")
    raw_n = require(obj, "n", "paillier.")
    if not isinstance(raw_n, str) or not raw_n.isdigit() or raw_n.startswith("0"):
        raise SpecError("Spec field 'paillier.n' must be a decimal string without leading zeros.")
    if len(raw_n) > 3000:
        raise SpecError("Spec field 'paillier.n' is too long.")
    n = int(raw_n)
    bits = read_int(
        require(obj, "bits", "paillier."), "paillier.bits", lo=MIN_KEY_BITS, hi=MAX_KEY_BITS
    )
    if n.bit_length() != bits:
        raise SpecError(
            f"Spec field 'paillier.n' has {n.bit_length()} bits but 'paillier.bits' says {bits}."
        )
    if n % 2 == 0:
        raise SpecError("Spec field 'paillier.n' is even, so it is not a Paillier modulus.")
    if obj.get("proof") is None:
        return PaillierSpec(n, bits)
    raw_proof = read_list(obj["proof"], "paillier.proof")
    if len(raw_proof) != KEY_PROOF_ROUNDS or not all(
            isinstance(root, str) and root.isdigit() and len(root) <= len(raw_n) for root in raw_proof):
        raise SpecError(f"Spec field 'paillier.proof' must list {KEY_PROOF_ROUNDS} decimal strings.")
    proof = tuple(int(root) for root in raw_proof)
    problem = modulus_proof_problem(n, proof)
    if problem is not None:
        raise SpecError(f"Spec field 'paillier.proof' does not prove the key well formed: {problem}. "
                        "Openings and copy proofs under such a key would prove nothing.")
    return PaillierSpec(n, bits, proof)
