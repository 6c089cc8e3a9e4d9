"""The bounty spec: what a practitioner asks for, committed on chain as keccak256(spec bytes).

`BountySpec.from_json_bytes(data)` parses and validates a spec blob and raises SpecError naming
the offending field. `spec.to_json_bytes()` is the canonical form (sorted keys, no spaces,
UTF-8); the practitioner publishes exactly those bytes, so `spec_hash(spec.to_json_bytes())`
is the on-chain `specHash`. Parsing then re-serialising a canonical spec gives the same bytes.
The sections (schema, model, training, ...) and their parsers live in trainer.spec_sections,
the field readers in trainer.spec_fields; their public names are importable from here.

Field reference (all required unless marked optional):

    version                 1
    title                   non-empty string (<= 200 chars)
    description             string (may be empty, <= 10,000 chars)
    task                    "binary_classification" | "multiclass_classification"
    schema.columns          [{name, type: "float"|"int"}], the model's input features in order
    schema.label            name of the label column (not one of schema.columns)
    schema.classes          distinct ints or distinct strings; index i = class i
    schema.min_rows         int >= 1, fewest rows a data owner must train on
    schema.columns[i].aliases  optional, up to 20 other names owners' files may use
    schema.columns[i].missing  optional, "drop" (default) | "fill" | "mean" | "median": what
                            the wallet does with a missing or bad cell (mean/median of the
                            owner's own column, computed locally)
    schema.columns[i].fill  number, given exactly when missing is "fill"
    schema.label_aliases    optional, up to 20 other names for the label column
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
    privacy.max_epsilon     optional, > 0; the most epsilon (at privacy.delta) one
                            contribution may spend; the wallet refuses a setting above it
    encoding.precision_bits int 1..40, fixed-point scale = 2**precision_bits
    encoding.clip           > 0, each parameter of an update is clamped to [-clip, clip]
    encoding.max_contributors  int 1..1,000,000, how many updates may ever be summed
    paillier.n              decimal string, the Paillier modulus (public key g = n + 1)
    paillier.bits           int >= 512, == n.bit_length()
    paillier.proof          optional (required from valuation_rules 3): 8 decimal strings,
                            the n-th roots proving gcd(n, phi(n)) = 1 (trainer.key_proof)
    metric                  "log_loss" (the valuation's score) | "accuracy" (older specs;
                            valued on log-loss too, accuracy shown)
    validation_commitment   0x + 64 hex, the practitioner's commitment to its validation set
    initial_model.hash      0x + 64 hex, keccak256 of the round-0 model blob
    initial_model.uri       non-empty string
    inbox_url               http(s):// URL of the practitioner's inbox ("" = file:// network)
    max_blob_bytes          optional int >= 1, largest update blob the inbox accepts
    verifiable              optional bool, default true; false = the validation set stays
                            private (never revealed), so owners cannot check the scores
    validation_rows         optional int >= 1, how many rows the validation set holds (`post`
                            fills it; checked against the revealed set; shown to owners, who
                            are warned below RECOMMENDED_VALIDATION_ROWS)
    validation_class_rows   optional list of ints >= 0, one per schema.classes, summing to
                            validation_rows: how many validation rows each class has (`post`
                            fills it; checked against the revealed set; shown to owners, whose
                            rows of a class are valued by that class's validation rows)
    public_validation       optional bool, default false; true = the practitioner posted the
                            validation rows as public (revealed by an earlier bounty, or shipped
                            with a demo: `post --allow-revealed-validation`), so anyone can
                            train on them and be paid for them (shown to owners)
    valuation_rules         optional int >= 1 (VALUATION_RULES; omitted when absent): the
                            bounty's reports follow the rules an owner's wallet checks (every
                            report carries `alongBound`, amounts by the exact pay rule, pay
                            factors, copies and rejections as the protocol gives them; from
                            2, a copy proof for every copy claim; from 3, a proof that the
                            Paillier key is well formed, paillier.proof, so openings and copy
                            proofs bind); `post` sets it, and a report that breaks them is a
                            Mismatch
    invitation_signer       optional, 0x address (EIP-55): the bounty is by invitation; only
                            submissions from addresses holding an Invitation this key signed
                            are valued (wallet.invitations)
    open_updates            optional bool, default false; true = once the validation set is
                            revealed, the practitioner opens every counted update of each
                            finalised round to that round's contributors (trainer.openings), so
                            every owner's wallet recomputes every value of the round
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from eth_hash.auto import keccak
from eth_utils import is_checksum_address
from phe import paillier

from trainer import jsonsafe
from trainer.encoding import EncodingParams
from trainer.errors import EncodingError, SpecError
from trainer.spec_fields import (
    as_dict,
    no_unknown,
    read_choice,
    read_hash,
    read_int,
    read_list,
    read_str,
    require,
)
from trainer.spec_sections import (
    ACTIVATIONS,
    COLUMN_TYPES,
    DEFAULT_DELTA,
    MAX_KEY_BITS,
    MIN_KEY_BITS,
    MODEL_TYPES,
    OPTIMIZERS,
    Column,
    EncodingSpec,
    ModelRef,
    ModelSpec,
    PaillierSpec,
    PrivacySpec,
    Schema,
    Standardize,
    TrainingConfig,
    parse_encoding,
    parse_model,
    parse_paillier,
    parse_privacy,
    parse_schema,
    parse_standardize,
    parse_training,
)

# Names that lived here before the spec was split into modules stay importable from here.
__all__ = [
    "ACTIVATIONS", "COLUMN_TYPES", "DEFAULT_DELTA", "MAX_KEY_BITS", "MAX_SPEC_BYTES", "METRICS",
    "MIN_KEY_BITS", "MODEL_TYPES", "OPTIMIZERS", "SPEC_VERSION", "TASKS", "BountySpec", "Column",
    "EncodingSpec", "ModelRef", "ModelSpec", "PaillierSpec", "PrivacySpec", "Schema",
    "Standardize", "TrainingConfig", "canonical_json_bytes", "key_fingerprint", "spec_hash",
]

SPEC_VERSION = 1
# The valuation rules an owner's wallet checks (docs/PROTOCOL.md, "Verification"): 1 = every
# report carries `alongBound`, amounts follow `round_amounts` of its lines, pay factors follow
# the owner's direction, lines are exactly the round's submitters, copies name an earlier
# one, rejections give the protocol's reasons; 2 = also a copy proof for every copy claim,
# served to the owner it counts as a copy (trainer.copy_proof); 3 = also the key's proof of
# being well formed (paillier.proof, trainer.key_proof), without which an opening or a copy
# proof could open one ciphertext as two updates; 4 = on models of fewer than
# COPY_DIRECTION_MIN_PARAMS parameters only identical updates are copies (trainer.copy_proof).
# A wallet refuses a spec of a later version.
VALUATION_RULES = 4
COPY_PROOF_RULES = 2
KEY_PROOF_RULES = 3
SMALL_MODEL_COPY_RULES = 4
TASKS = ("binary_classification", "multiclass_classification")
METRICS = ("log_loss", "accuracy")
MAX_SPEC_BYTES = 1_000_000
# Below this many validation rows `post` warns and an owner's wallet shows the bounty's
# validation set as small. Measured by brute force (benchmarks.example_influence, 10 splits x
# 2 rounds, every relabelling of one example re-running the whole valuation; docs/PROTOCOL.md):
# one example moved up to 9 % of a round on 30 rows, 6 % on 35, 14 % on 42, 12 % on 88, 2-6 %
# on 113 (valuation v4; v3 27, 22, 12 and 9-12 %; 47, 32, 23 and 11-12 % under v2's hard cut).
RECOMMENDED_VALIDATION_ROWS = 100
# Fewer validation rows of a class than this: `post` warns and owners are told (measured with
# benchmarks.validation_classes, docs/PROTOCOL.md "A class the validation set barely holds").
MIN_CLASS_VALIDATION_ROWS = 10


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
    verifiable: bool = True  # False: the validation set is never revealed (shown to owners)
    invitation_signer: str | None = None  # set: by invitation (wallet.invitations)
    validation_rows: int | None = None  # the validation set's size (checked at the reveal)
    validation_class_rows: tuple[int, ...] | None = None  # its rows per class (checked at the reveal)
    valuation_rules: int = 0  # >= 1: the reports follow the rules wallets check (0: posted before)
    open_updates: bool = False  # True: counted updates are opened to the round's contributors at the reveal
    public_validation: bool = False  # True: posted with validation rows known to be public (shown to owners)
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
        if not self.verifiable:  # omitted when true: specs posted before the field keep their hash
            out["verifiable"] = False
        if self.invitation_signer is not None:
            out["invitation_signer"] = self.invitation_signer
        if self.validation_rows is not None:
            out["validation_rows"] = self.validation_rows
        if self.validation_class_rows is not None:  # omitted when absent: older specs keep their hash
            out["validation_class_rows"] = list(self.validation_class_rows)
        if self.valuation_rules:  # omitted when 0: specs posted before the field keep their hash
            out["valuation_rules"] = self.valuation_rules
        if self.open_updates:  # omitted when false: specs posted before the field keep their hash
            out["open_updates"] = True
        if self.public_validation:  # omitted when false: specs posted before the field keep their hash
            out["public_validation"] = True
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
            obj = jsonsafe.loads(text, parse_constant=_reject_constant)
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
    root = as_dict(obj, "(root)")
    no_unknown(root, _TOP_FIELDS, "")
    version = read_int(require(root, "version", ""), "version")
    if version != SPEC_VERSION:
        raise SpecError(
            f"Spec field 'version' is {version}; this wallet understands version {SPEC_VERSION}."
        )
    title = read_str(require(root, "title", ""), "title", max_len=200)
    description = read_str(
        require(root, "description", ""), "description", max_len=10_000, allow_empty=True
    )
    task = read_choice(require(root, "task", ""), TASKS, "task")
    schema = parse_schema(require(root, "schema", ""))
    standardize = parse_standardize(require(root, "standardize", ""), len(schema.columns))
    model = parse_model(require(root, "model", ""), schema, task)
    training = parse_training(require(root, "training", ""))
    privacy = parse_privacy(require(root, "privacy", ""))
    encoding = parse_encoding(require(root, "encoding", ""))
    paillier_spec = parse_paillier(require(root, "paillier", ""))
    metric = read_choice(require(root, "metric", ""), METRICS, "metric")
    validation_commitment = read_hash(
        require(root, "validation_commitment", ""), "validation_commitment"
    )
    initial = as_dict(require(root, "initial_model", ""), "initial_model")
    no_unknown(initial, {"hash", "uri"}, "initial_model")
    initial_model = ModelRef(
        hash=read_hash(require(initial, "hash", "initial_model."), "initial_model.hash"),
        uri=read_str(require(initial, "uri", "initial_model."), "initial_model.uri", max_len=2000),
    )
    inbox_url = read_str(require(root, "inbox_url", ""), "inbox_url", max_len=2000, allow_empty=True)
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
        max_blob_bytes = read_int(root["max_blob_bytes"], "max_blob_bytes", lo=1)
    verifiable = root.get("verifiable", True)
    if not isinstance(verifiable, bool):
        raise SpecError("Spec field 'verifiable' must be true or false.")
    invitation_signer = root.get("invitation_signer")
    if invitation_signer is not None and not (
            isinstance(invitation_signer, str) and is_checksum_address(invitation_signer)):
        raise SpecError("Spec field 'invitation_signer' must be a 0x address with its EIP-55 checksum.")
    valuation_rules = 0
    if root.get("valuation_rules") is not None:
        valuation_rules = read_int(root["valuation_rules"], "valuation_rules", lo=1, hi=VALUATION_RULES)
    if valuation_rules >= KEY_PROOF_RULES and not paillier_spec.proof:
        raise SpecError(f"Spec field 'paillier.proof' is missing: valuation_rules {valuation_rules} needs the "
                        "proof that the Paillier key is well formed (quarry-practitioner post adds it).")
    open_updates = root.get("open_updates", False)
    if not isinstance(open_updates, bool):
        raise SpecError("Spec field 'open_updates' must be true or false.")
    if open_updates and not verifiable:
        raise SpecError("Spec field 'open_updates' needs a verifiable bounty: updates are opened when the "
                        "validation set is revealed.")
    if open_updates and valuation_rules < COPY_PROOF_RULES:  # else no wallet would hold it to them
        raise SpecError(f"Spec field 'open_updates' needs valuation_rules {COPY_PROOF_RULES} or more: the "
                        "openings are checked by those rules.")
    public_validation = root.get("public_validation", False)
    if not isinstance(public_validation, bool):
        raise SpecError("Spec field 'public_validation' must be true or false.")
    validation_rows = None
    if root.get("validation_rows") is not None:
        validation_rows = read_int(root["validation_rows"], "validation_rows", lo=1)
    validation_class_rows = None
    if root.get("validation_class_rows") is not None:
        raw_counts = read_list(root["validation_class_rows"], "validation_class_rows")
        validation_class_rows = tuple(read_int(v, f"validation_class_rows[{i}]", lo=0)
                                      for i, v in enumerate(raw_counts))
        if len(validation_class_rows) != len(schema.classes):
            raise SpecError(f"Spec field 'validation_class_rows' has {len(validation_class_rows)} counts; "
                            f"schema.classes has {len(schema.classes)} classes.")
        if validation_rows is None or sum(validation_class_rows) != validation_rows:
            raise SpecError("Spec field 'validation_class_rows' must sum to 'validation_rows'.")
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
        verifiable=verifiable,
        invitation_signer=invitation_signer,
        validation_rows=validation_rows,
        validation_class_rows=validation_class_rows,
        valuation_rules=valuation_rules,
        open_updates=open_updates,
        public_validation=public_validation,
    )
