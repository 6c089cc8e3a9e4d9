"""Bounty spec parsing, validation and canonical bytes."""

from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.errors import SpecError, TrainerError
from trainer.spec import BountySpec, key_fingerprint, spec_hash
from trainer.testing import DELETE, make_spec, make_spec_dict, test_keypair


def _parse(d: dict) -> BountySpec:
    return BountySpec.from_json_bytes(json.dumps(d).encode())


def test_valid_spec_round_trips_to_identical_canonical_bytes():
    spec = make_spec()
    data = spec.to_json_bytes()
    again = BountySpec.from_json_bytes(data)
    assert again == spec
    assert again.to_json_bytes() == data
    # Canonical: sorted keys, no spaces.
    assert b": " not in data and b", " not in data
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


def test_spec_hash_is_keccak_of_canonical_bytes():
    spec = make_spec()
    data = spec.to_json_bytes()
    assert spec.spec_hash == "0x" + keccak(data).hex()
    assert spec_hash(data) == spec.spec_hash
    # Known keccak256 vector (empty input) so the hash function is the Ethereum one.
    assert spec_hash(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_public_key_and_fingerprint():
    pub, _ = test_keypair(512)
    spec = make_spec(public_key=pub)
    assert spec.public_key().n == pub.n
    assert spec.public_key() == pub
    fp = spec.key_fingerprint
    assert len(fp) == 32 and fp == key_fingerprint(pub)
    assert fp == keccak(pub.n.to_bytes(64, "big"))
    assert spec.key_fingerprint_short == fp[:8].hex()


def test_non_ascii_title_kept_as_utf8():
    spec = make_spec(title="Données médicales ✓")
    data = spec.to_json_bytes()
    assert "Données médicales ✓".encode() in data
    assert BountySpec.from_json_bytes(data).title == "Données médicales ✓"


def test_mlp_spec_with_activation():
    spec = make_spec(**{"model.type": "mlp", "model.hidden": [8, 4], "model.activation": "tanh"})
    assert spec.model.hidden == (8, 4) and spec.model.activation == "tanh"
    assert BountySpec.from_json_bytes(spec.to_json_bytes()) == spec


def test_multiclass_string_classes():
    spec = make_spec(classes=["a", "b", "c"])
    assert spec.task == "multiclass_classification"
    assert spec.model.type == "softmax" and spec.n_classes == 3


@pytest.mark.parametrize(
    ("overrides", "field_named"),
    [
        ({"version": 2}, "version"),
        ({"title": ""}, "title"),
        ({"title": DELETE}, "title"),
        ({"task": "regression"}, "task"),
        ({"schema.columns": []}, "schema.columns"),
        (
            {"schema.columns": [{"name": "a", "type": "float"}, {"name": "a", "type": "int"}]},
            "schema.columns[1].name",
        ),
        ({"schema.columns.0": None}, None),
        ({"schema.label": "f0"}, "schema.label"),
        ({"schema.classes": [0]}, "schema.classes"),
        ({"schema.classes": [0, "a"]}, "schema.classes"),
        ({"schema.classes": [1, 1]}, "schema.classes"),
        ({"schema.classes": [True, False]}, "schema.classes"),
        ({"schema.classes": ["a ", "b"]}, "schema.classes"),
        ({"schema.min_rows": 0}, "schema.min_rows"),
        ({"standardize.std": [1.0, 0.0, 1.0, 1.0]}, "standardize.std[1]"),
        ({"standardize.mean": [0.0]}, "standardize.mean"),
        ({"model.n_features": 5}, "model.n_features"),
        ({"model.n_classes": 3}, "model.n_classes"),
        ({"model.type": "mlp"}, "model.hidden"),
        ({"model.hidden": [3]}, "model.hidden"),
        ({"model.type": "mlp", "model.hidden": [1, 2, 3]}, "model.hidden"),
        ({"training.optimizer": "rmsprop"}, "training.optimizer"),
        ({"training.learning_rate": 0}, "training.learning_rate"),
        ({"training.learning_rate": "0.1"}, "training.learning_rate"),
        ({"training.epochs": 1.5}, "training.epochs"),
        ({"training.batch_size": 0}, "training.batch_size"),
        ({"training.l2": -1}, "training.l2"),
        ({"privacy.clip_norm": -1}, "privacy.clip_norm"),
        ({"privacy.delta": 1.0}, "privacy.delta"),
        ({"encoding.precision_bits": 0}, "encoding.precision_bits"),
        ({"encoding.clip": 0}, "encoding.clip"),
        ({"encoding.max_contributors": 0}, "encoding.max_contributors"),
        ({"paillier.n": "12a"}, "paillier.n"),
        ({"paillier.n": 12345}, "paillier.n"),
        ({"paillier.bits": 1024}, "paillier.n"),
        ({"paillier.bits": 256}, "paillier.bits"),
        ({"metric": "f1"}, "metric"),
        ({"validation_commitment": "0x1234"}, "validation_commitment"),
        ({"initial_model.hash": "abc"}, "initial_model.hash"),
        ({"initial_model.uri": ""}, "initial_model.uri"),
        ({"inbox_url": "ftp://x"}, "inbox_url"),
        ({"max_blob_bytes": 0}, "max_blob_bytes"),
        ({"surprise": 1}, "surprise"),
        (
            {
                "encoding.precision_bits": 40,
                "encoding.clip": 100.0,
                "encoding.max_contributors": 10**6,
            },
            "encoding",
        ),
        ({"training.momentum": 0.9}, "momentum"),
    ],
)
def test_invalid_field_gives_spec_error_naming_it(overrides, field_named):
    if field_named is None:  # a column that is not an object
        d = make_spec_dict()
        d["schema"]["columns"][0] = None
        field_named = "schema.columns[0]"
    else:
        d = make_spec_dict(**overrides)
    with pytest.raises(SpecError) as info:
        _parse(d)
    assert field_named in str(info.value)
    assert isinstance(info.value, TrainerError)


def test_binary_task_with_three_classes_rejected():
    d = make_spec_dict(classes=[0, 1, 2], task="binary_classification")
    with pytest.raises(SpecError, match="task"):
        _parse(d)


def test_logistic_with_three_classes_rejected():
    d = make_spec_dict(classes=[0, 1, 2], **{"model.type": "logistic"})
    with pytest.raises(SpecError, match="logistic"):
        _parse(d)


def test_even_modulus_rejected():
    n = 2**511 + 2
    d = make_spec_dict(**{"paillier.n": str(n), "paillier.bits": 512})
    with pytest.raises(SpecError, match="even"):
        _parse(d)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe", b"not json", b"[1,2]", b'{"version": NaN}', b"null", b"x" * 1_000_001],
)
def test_garbage_bytes_rejected_with_spec_error(data):
    with pytest.raises(SpecError):
        BountySpec.from_json_bytes(data)


def test_nan_in_standardize_rejected():
    d = make_spec_dict()
    text = json.dumps(d).replace('"mean": [0.0,', '"mean": [NaN,')
    with pytest.raises(SpecError):
        BountySpec.from_json_bytes(text.encode())


def test_optional_fields_default_and_are_omitted_when_absent():
    d = make_spec_dict(**{"privacy.delta": DELETE, "privacy.max_noise_multiplier": DELETE})
    spec = _parse(d)
    assert spec.privacy.delta == 1e-5 and spec.privacy.max_noise_multiplier is None
    assert spec.max_blob_bytes is None
    assert b"max_noise_multiplier" not in spec.to_json_bytes()
    assert b"max_blob_bytes" not in spec.to_json_bytes()
    spec2 = make_spec(max_blob_bytes=2_000_000)
    assert spec2.max_blob_bytes == 2_000_000
    assert b'"max_blob_bytes":2000000' in spec2.to_json_bytes()


def test_spec_is_frozen():
    spec = make_spec()
    with pytest.raises(AttributeError):
        spec.title = "changed"  # type: ignore[misc]


def test_encoding_params_from_spec():
    spec = make_spec()
    params = spec.encoding_params()
    assert params.key_bits == 512 and params.precision_bits == 16
    assert params.slots_per_plaintext == (512 - 2) // params.slot_bits


def test_trainer_is_headless():
    """trainer/ imports neither Qt nor web3 nor the wallet/practitioner layers."""
    import subprocess
    import sys

    code = (
        "import sys, trainer.spec, trainer.data, trainer.models, trainer.train, trainer.privacy,"
        " trainer.encoding, trainer.paillier, trainer.update_blob, trainer.aggregate, trainer.update;"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('PySide6', 'web3', 'eth_account', 'eth_tester', 'wallet', 'practitioner', 'ui')];"
        "print(','.join(bad))"
    )
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == ""


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=8,
)
_FIELDS = [
    "version",
    "title",
    "description",
    "task",
    "schema",
    "schema.columns",
    "schema.label",
    "schema.classes",
    "schema.min_rows",
    "standardize",
    "standardize.mean",
    "standardize.std",
    "model",
    "model.type",
    "model.hidden",
    "model.n_features",
    "model.n_classes",
    "training",
    "training.optimizer",
    "training.learning_rate",
    "training.epochs",
    "training.batch_size",
    "training.seed",
    "training.l2",
    "privacy",
    "privacy.clip_norm",
    "privacy.delta",
    "encoding",
    "encoding.precision_bits",
    "encoding.clip",
    "encoding.max_contributors",
    "paillier",
    "paillier.n",
    "paillier.bits",
    "metric",
    "validation_commitment",
    "initial_model",
    "initial_model.hash",
    "inbox_url",
    "max_blob_bytes",
]


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(_FIELDS), value=_JSON_VALUES)
def test_fuzz_any_field_value_gives_spec_error_or_valid_spec(field, value):
    d = make_spec_dict(**{field: value})
    try:
        spec = _parse(d)
    except SpecError:
        return
    assert BountySpec.from_json_bytes(spec.to_json_bytes()) == spec


def test_deeply_nested_spec_is_a_clear_error_not_a_crash():
    # web3 (imported here through the wallet) raises the recursion limit, so an unguarded
    # json.loads of deep nesting would kill the process instead of raising.
    import web3  # noqa: F401

    from trainer.errors import SpecError
    from trainer.spec import BountySpec

    hostile = b'{"title": ' + b"[" * 300_000 + b"]" * 300_000 + b"}"
    with pytest.raises(SpecError, match="nested deeper"):
        BountySpec.from_json_bytes(hostile)
