"""The bounty spec: what a practitioner asks for, committed on chain as keccak256(spec bytes).

`BountySpec.from_json_bytes(data)` parses and validates a spec blob and raises SpecError naming
the offending field. `spec.to_json_bytes()` is the canonical form (sorted keys, no spaces,
UTF-8); the practitioner publishes exactly those bytes, so `spec_hash(spec.to_json_bytes())`
is the on-chain `specHash`. Parsing then re-serialising a canonical spec gives the same bytes.

Field reference (all required unless marked optional):

    version                 1
    title                   non-empty string (<= 200 chars)
    description             string (may be empty, <= 10,000 chars)
    task                    "binary_classification" | "multiclass_classification"
    schema.columns          [{name, type: "float"|"int"}], the model's input features in order
    schema.label            name of the label column (not one of schema.columns)
    schema.classes          distinct ints or distinct strings; index i = class i
    schema.min_rows         int >= 1, fewest rows a data owner must train on
    standardize.mean/std    one float per feature; x' = (x - mean) / std, std > 0
    model.type              "logistic" (binary only) | "softmax" | "mlp"
    model.hidden            [] for logistic/softmax; 1 or 2 layer widths for mlp
    model.activation        optional, "relu" (default) | "tanh"; mlp only
    model.n_features        == len(schema.columns)
    model.n_classes         == len(schema.classes)
    training.optimizer      "sgd" | "adam"
    training.learning_rate  > 0
    training.epochs         int >= 1 (local epochs per round)
    training.batch_size     int >= 1
    training.seed           int >= 0
    training.l2             >= 0
    privacy.clip_norm       > 0, L2 bound of one owner's update (new - global weights)
    privacy.delta           optional, in (0, 1), default 1e-5; the delta of (epsilon, delta)
    privacy.max_noise_multiplier  optional, >= 0; the wallet offers noise up to this
    encoding.precision_bits int 1..40, fixed-point scale = 2**precision_bits
    encoding.clip           > 0, each parameter of an update is clamped to [-clip, clip]
    encoding.max_contributors  int 1..1,000,000, how many updates may ever be summed
    paillier.n              decimal string, the Paillier modulus (public key g = n + 1)
    paillier.bits           int >= 512, == n.bit_length()
    metric                  "accuracy"
    validation_commitment   0x + 64 hex, the practitioner's commitment to its validation set
    initial_model.hash      0x + 64 hex, keccak256 of the round-0 model blob
    initial_model.uri       non-empty string
    inbox_url               http(s):// URL of the practitioner's inbox ("" = file:// network)
    max_blob_bytes          optional int >= 1, largest update blob the inbox accepts
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from eth_hash.auto import keccak
from phe import paillier

from trainer.encoding import EncodingParams
from trainer.errors import EncodingError, SpecError

SPEC_VERSION = 1
TASKS = ("binary_classification", "multiclass_classification")
COLUMN_TYPES = ("float", "int")
MODEL_TYPES = ("logistic", "softmax", "mlp")
ACTIVATIONS = ("relu", "tanh")
OPTIMIZERS = ("sgd", "adam")
METRICS = ("accuracy",)
MIN_KEY_BITS = 512
MAX_KEY_BITS = 8192
DEFAULT_DELTA = 1e-5
MAX_SPEC_BYTES = 1_000_000
_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_NAME_RE = re.compile(r"^[^\x00-\x1f]{1,100}$")


# ---------------------------------------------------------------------------------------------
# Small validating readers. Each raises SpecError naming the full field path.


def _require(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise SpecError(f"Spec field '{path}{key}' is missing.")
    return obj[key]


def _as_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"Spec field '{path}' must be an object.")
    return value


def _no_unknown(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        where = f"'{path}'" if path else "the spec"
        raise SpecError(f"Unknown field(s) in {where}: {', '.join(unknown)}.")


def _str(value: Any, path: str, *, max_len: int = 200, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(f"Spec field '{path}' must be a string.")
    if not allow_empty and not value.strip():
        raise SpecError(f"Spec field '{path}' must not be empty.")
    if len(value) > max_len:
        raise SpecError(f"Spec field '{path}' is longer than {max_len} characters.")
    return value


def _choice(value: Any, choices: tuple[str, ...], path: str) -> str:
    if value not in choices or not isinstance(value, str):
        raise SpecError(f"Spec field '{path}' must be one of {', '.join(choices)}; got {value!r}.")
    return value


def _int(value: Any, path: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"Spec field '{path}' must be an integer; got {value!r}.")
    if lo is not None and value < lo:
        raise SpecError(f"Spec field '{path}' must be at least {lo}; got {value}.")
    if hi is not None and value > hi:
        raise SpecError(f"Spec field '{path}' must be at most {hi}; got {value}.")
    return value


def _float(
    value: Any,
    path: str,
    *,
    positive: bool = False,
    non_negative: bool = False,
    below: float | None = None,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"Spec field '{path}' must be a number; got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"Spec field '{path}' must be a finite number.")
    if positive and number <= 0:
        raise SpecError(f"Spec field '{path}' must be greater than 0; got {number}.")
    if non_negative and number < 0:
        raise SpecError(f"Spec field '{path}' must not be negative; got {number}.")
    if below is not None and number >= below:
        raise SpecError(f"Spec field '{path}' must be less than {below}; got {number}.")
    return number


def _hash(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise SpecError(f"Spec field '{path}' must be 0x followed by 64 hex digits.")
    return value.lower()


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(f"Spec field '{path}' must be a list.")
    return value


# ---------------------------------------------------------------------------------------------
# The spec, as frozen dataclasses. Lists are stored as tuples so the spec is hashable.


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]
    label: str
    classes: tuple[int | str, ...]
    min_rows: int

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [column.to_json() for column in self.columns],
            "label": self.label,
            "classes": list(self.classes),
            "min_rows": self.min_rows,
        }


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
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "l2": self.l2,
        }


@dataclass(frozen=True)
class PrivacySpec:
    clip_norm: float
    delta: float = DEFAULT_DELTA
    max_noise_multiplier: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clip_norm": self.clip_norm, "delta": self.delta}
        if self.max_noise_multiplier is not None:
            out["max_noise_multiplier"] = self.max_noise_multiplier
        return out


@dataclass(frozen=True)
class EncodingSpec:
    precision_bits: int
    clip: float
    max_contributors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "precision_bits": self.precision_bits,
            "clip": self.clip,
            "max_contributors": self.max_contributors,
        }


@dataclass(frozen=True)
class PaillierSpec:
    n: int
    bits: int

    def to_json(self) -> dict[str, Any]:
        return {"n": str(self.n), "bits": self.bits}


@dataclass(frozen=True)
class ModelRef:
    hash: str
    uri: str

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "uri": self.uri}


@dataclass(frozen=True)
class BountySpec:
    title: str
    description: str
    task: str
    schema: Schema
    standardize: Standardize
    model: ModelSpec
    training: TrainingConfig
    privacy: PrivacySpec
    encoding: EncodingSpec
    paillier: PaillierSpec
    metric: str
    validation_commitment: str
    initial_model: ModelRef
    inbox_url: str
    max_blob_bytes: int | None = None
    version: int = SPEC_VERSION
    _public_key: Any = field(default=None, init=False, repr=False, compare=False, hash=False)

    # -- serialisation -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "task": self.task,
            "schema": self.schema.to_json(),
            "standardize": self.standardize.to_json(),
            "model": self.model.to_json(),
            "training": self.training.to_json(),
            "privacy": self.privacy.to_json(),
            "encoding": self.encoding.to_json(),
            "paillier": self.paillier.to_json(),
            "metric": self.metric,
            "validation_commitment": self.validation_commitment,
            "initial_model": self.initial_model.to_json(),
            "inbox_url": self.inbox_url,
        }
        if self.max_blob_bytes is not None:
            out["max_blob_bytes"] = self.max_blob_bytes
        return out

    def to_json_bytes(self) -> bytes:
        """The canonical bytes: sorted keys, no spaces, UTF-8 (non-ASCII kept as is)."""
        return canonical_json_bytes(self.to_json())

    @property
    def spec_hash(self) -> str:
        """keccak256 of the canonical bytes, as 0x-hex (the on-chain specHash)."""
        return spec_hash(self.to_json_bytes())

    @classmethod
    def from_json_bytes(cls, data: bytes) -> BountySpec:
        """Parse and validate a spec blob; SpecError names the first bad field."""
        if not isinstance(data, (bytes, bytearray)):
            raise SpecError("The spec must be given as bytes.")
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"The spec is larger than {MAX_SPEC_BYTES} bytes.")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError("The spec is not valid UTF-8 text.") from exc
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise SpecError(f"The spec is not valid JSON: {exc}.") from exc
        return cls.from_json(obj)

    @classmethod
    def from_json(cls, obj: Any) -> BountySpec:
        return _parse_spec(obj)

    # -- helpers ---------------------------------------------------------------------------

    def public_key(self) -> paillier.PaillierPublicKey:
        """The bounty's Paillier public key (phe object, cached)."""
        if self._public_key is None:
            object.__setattr__(self, "_public_key", paillier.PaillierPublicKey(self.paillier.n))
        return self._public_key

    @property
    def key_fingerprint(self) -> bytes:
        """32-byte keccak256 of the modulus n (big-endian, minimal length)."""
        return key_fingerprint(self.paillier.n)

    @property
    def key_fingerprint_short(self) -> str:
        """First 8 bytes of the fingerprint as hex, for people to compare."""
        return self.key_fingerprint[:8].hex()

    def encoding_params(self) -> EncodingParams:
        """The fixed-point/packing layout for this bounty's updates."""
        return EncodingParams.from_spec(self)

    @property
    def n_features(self) -> int:
        return self.model.n_features

    @property
    def n_classes(self) -> int:
        return self.model.n_classes


def canonical_json_bytes(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def spec_hash(spec_bytes: bytes) -> str:
    return "0x" + keccak(bytes(spec_bytes)).hex()


def key_fingerprint(n: int | paillier.PaillierPublicKey) -> bytes:
    """keccak256 of the Paillier modulus n as minimal big-endian bytes (32 bytes)."""
    if isinstance(n, paillier.PaillierPublicKey):
        n = n.n
    n = int(n)
    return keccak(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# ---------------------------------------------------------------------------------------------
# Parsing


_TOP_FIELDS = {f.name for f in fields(BountySpec) if not f.name.startswith("_")}


def _parse_spec(obj: Any) -> BountySpec:
    root = _as_dict(obj, "(root)")
    _no_unknown(root, _TOP_FIELDS, "")
    version = _int(_require(root, "version", ""), "version")
    if version != SPEC_VERSION:
        raise SpecError(
            f"Spec field 'version' is {version}; this wallet understands version {SPEC_VERSION}."
        )
    title = _str(_require(root, "title", ""), "title", max_len=200)
    description = _str(
        _require(root, "description", ""), "description", max_len=10_000, allow_empty=True
    )
    task = _choice(_require(root, "task", ""), TASKS, "task")
    schema = _parse_schema(_require(root, "schema", ""))
    standardize = _parse_standardize(_require(root, "standardize", ""), len(schema.columns))
    model = _parse_model(_require(root, "model", ""), schema, task)
    training = _parse_training(_require(root, "training", ""))
    privacy = _parse_privacy(_require(root, "privacy", ""))
    encoding = _parse_encoding(_require(root, "encoding", ""))
    paillier_spec = _parse_paillier(_require(root, "paillier", ""))
    metric = _choice(_require(root, "metric", ""), METRICS, "metric")
    validation_commitment = _hash(
        _require(root, "validation_commitment", ""), "validation_commitment"
    )
    initial = _as_dict(_require(root, "initial_model", ""), "initial_model")
    _no_unknown(initial, {"hash", "uri"}, "initial_model")
    initial_model = ModelRef(
        hash=_hash(_require(initial, "hash", "initial_model."), "initial_model.hash"),
        uri=_str(_require(initial, "uri", "initial_model."), "initial_model.uri", max_len=2000),
    )
    inbox_url = _str(_require(root, "inbox_url", ""), "inbox_url", max_len=2000, allow_empty=True)
    if inbox_url and not inbox_url.startswith(("http://", "https://")):
        raise SpecError("Spec field 'inbox_url' must start with http:// or https:// (or be empty).")
    try:  # the encoding must fit the key: checked here so a bad spec is refused up front
        EncodingParams(
            encoding.precision_bits, encoding.clip, encoding.max_contributors, paillier_spec.bits
        )
    except EncodingError as exc:
        raise SpecError(f"Spec field 'encoding' cannot be used with this key: {exc}") from exc
    max_blob_bytes = None
    if root.get("max_blob_bytes") is not None:
        max_blob_bytes = _int(root["max_blob_bytes"], "max_blob_bytes", lo=1)
    return BountySpec(
        version=version,
        title=title,
        description=description,
        task=task,
        schema=schema,
        standardize=standardize,
        model=model,
        training=training,
        privacy=privacy,
        encoding=encoding,
        paillier=paillier_spec,
        metric=metric,
        validation_commitment=validation_commitment,
        initial_model=initial_model,
        inbox_url=inbox_url,
        max_blob_bytes=max_blob_bytes,
    )


def _parse_schema(value: Any) -> Schema:
    obj = _as_dict(value, "schema")
    _no_unknown(obj, {"columns", "label", "classes", "min_rows"}, "schema")
    raw_columns = _list(_require(obj, "columns", "schema."), "schema.columns")
    if not raw_columns:
        raise SpecError("Spec field 'schema.columns' must list at least one column.")
    if len(raw_columns) > 100_000:
        raise SpecError("Spec field 'schema.columns' lists more than 100,000 columns.")
    columns = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_columns):
        path = f"schema.columns[{i}]"
        col = _as_dict(raw, path)
        _no_unknown(col, {"name", "type"}, path)
        name = _str(_require(col, "name", path + "."), path + ".name", max_len=100)
        if not _NAME_RE.match(name) or name != name.strip():
            raise SpecError(f"Spec field '{path}.name' has control characters or padding.")
        if name in seen:
            raise SpecError(f"Spec field '{path}.name': column '{name}' is listed twice.")
        seen.add(name)
        columns.append(
            Column(name, _choice(_require(col, "type", path + "."), COLUMN_TYPES, path + ".type"))
        )
    label = _str(_require(obj, "label", "schema."), "schema.label", max_len=100)
    if label in seen:
        raise SpecError(f"Spec field 'schema.label': '{label}' is also a feature column.")
    raw_classes = _list(_require(obj, "classes", "schema."), "schema.classes")
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
    min_rows = _int(_require(obj, "min_rows", "schema."), "schema.min_rows", lo=1)
    return Schema(tuple(columns), label, tuple(raw_classes), min_rows)


def _parse_standardize(value: Any, n_features: int) -> Standardize:
    obj = _as_dict(value, "standardize")
    _no_unknown(obj, {"mean", "std"}, "standardize")
    out = {}
    for key in ("mean", "std"):
        items = _list(_require(obj, key, "standardize."), f"standardize.{key}")
        if len(items) != n_features:
            raise SpecError(
                f"Spec field 'standardize.{key}' has {len(items)} values; "
                f"the schema has {n_features} feature columns."
            )
        out[key] = tuple(
            _float(v, f"standardize.{key}[{i}]", positive=(key == "std"))
            for i, v in enumerate(items)
        )
    return Standardize(out["mean"], out["std"])


def _parse_model(value: Any, schema: Schema, task: str) -> ModelSpec:
    obj = _as_dict(value, "model")
    _no_unknown(obj, {"type", "hidden", "activation", "n_features", "n_classes"}, "model")
    model_type = _choice(_require(obj, "type", "model."), MODEL_TYPES, "model.type")
    hidden_raw = _list(obj.get("hidden", []), "model.hidden")
    hidden = tuple(_int(h, f"model.hidden[{i}]", lo=1, hi=4096) for i, h in enumerate(hidden_raw))
    if model_type == "mlp" and len(hidden) not in (1, 2):
        raise SpecError("Spec field 'model.hidden' must list 1 or 2 layer widths for an mlp.")
    if model_type != "mlp" and hidden:
        raise SpecError(f"Spec field 'model.hidden' must be empty for a {model_type} model.")
    activation = "relu"
    if "activation" in obj:
        if model_type != "mlp":
            raise SpecError("Spec field 'model.activation' applies to mlp models only.")
        activation = _choice(obj["activation"], ACTIVATIONS, "model.activation")
    n_features = _int(_require(obj, "n_features", "model."), "model.n_features", lo=1)
    n_classes = _int(_require(obj, "n_classes", "model."), "model.n_classes", lo=2)
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


def _parse_training(value: Any) -> TrainingConfig:
    obj = _as_dict(value, "training")
    _no_unknown(
        obj, {"optimizer", "learning_rate", "epochs", "batch_size", "seed", "l2"}, "training"
    )
    return TrainingConfig(
        optimizer=_choice(
            _require(obj, "optimizer", "training."), OPTIMIZERS, "training.optimizer"
        ),
        learning_rate=_float(
            _require(obj, "learning_rate", "training."), "training.learning_rate", positive=True
        ),
        epochs=_int(_require(obj, "epochs", "training."), "training.epochs", lo=1, hi=10_000),
        batch_size=_int(
            _require(obj, "batch_size", "training."), "training.batch_size", lo=1, hi=1_000_000
        ),
        seed=_int(_require(obj, "seed", "training."), "training.seed", lo=0, hi=2**63 - 1),
        l2=_float(obj.get("l2", 0.0), "training.l2", non_negative=True),
    )


def _parse_privacy(value: Any) -> PrivacySpec:
    obj = _as_dict(value, "privacy")
    _no_unknown(obj, {"clip_norm", "delta", "max_noise_multiplier"}, "privacy")
    clip_norm = _float(_require(obj, "clip_norm", "privacy."), "privacy.clip_norm", positive=True)
    delta = _float(obj.get("delta", DEFAULT_DELTA), "privacy.delta", positive=True, below=1.0)
    max_noise = None
    if obj.get("max_noise_multiplier") is not None:
        max_noise = _float(
            obj["max_noise_multiplier"], "privacy.max_noise_multiplier", non_negative=True
        )
    return PrivacySpec(clip_norm, delta, max_noise)


def _parse_encoding(value: Any) -> EncodingSpec:
    obj = _as_dict(value, "encoding")
    _no_unknown(obj, {"precision_bits", "clip", "max_contributors"}, "encoding")
    return EncodingSpec(
        precision_bits=_int(
            _require(obj, "precision_bits", "encoding."), "encoding.precision_bits", lo=1, hi=40
        ),
        clip=_float(_require(obj, "clip", "encoding."), "encoding.clip", positive=True),
        max_contributors=_int(
            _require(obj, "max_contributors", "encoding."),
            "encoding.max_contributors",
            lo=1,
            hi=1_000_000,
        ),
    )


def _parse_paillier(value: Any) -> PaillierSpec:
    obj = _as_dict(value, "paillier")
    _no_unknown(obj, {"n", "bits"}, "paillier")
    raw_n = _require(obj, "n", "paillier.")
    if not isinstance(raw_n, str) or not raw_n.isdigit() or raw_n.startswith("0"):
        raise SpecError("Spec field 'paillier.n' must be a decimal string without leading zeros.")
    if len(raw_n) > 3000:
        raise SpecError("Spec field 'paillier.n' is too long.")
    n = int(raw_n)
    bits = _int(
        _require(obj, "bits", "paillier."), "paillier.bits", lo=MIN_KEY_BITS, hi=MAX_KEY_BITS
    )
    if n.bit_length() != bits:
        raise SpecError(
            f"Spec field 'paillier.n' has {n.bit_length()} bits but 'paillier.bits' says {bits}."
        )
    if n % 2 == 0:
        raise SpecError("Spec field 'paillier.n' is even, so it is not a Paillier modulus.")
    return PaillierSpec(n, bits)
