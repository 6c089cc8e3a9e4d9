"""numpy models: gradients, flat parameters, determinism, safe model blobs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.errors import BlobError
from trainer.models import (
    MLP,
    Architecture,
    LogisticRegression,
    Model,
    SoftmaxRegression,
    model_from_bytes,
    model_from_spec,
    model_to_bytes,
)
from trainer.testing import make_spec

MODELS = [
    lambda: LogisticRegression(5, seed=1),
    lambda: SoftmaxRegression(5, 3, seed=1),
    lambda: MLP(5, 3, [7], "relu", seed=1),
    lambda: MLP(5, 2, [6, 4], "tanh", seed=1),
]


def _data(n_classes: int, n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.integers(0, n_classes, size=n)


@pytest.mark.parametrize("make", MODELS)
def test_gradient_matches_finite_differences(make):
    model = make()
    rng = np.random.default_rng(3)
    model.set_params(rng.normal(scale=0.5, size=model.n_params))
    X, y = _data(model.arch.n_classes)
    loss, grad = model.loss_and_grad(X, y, l2=0.1)
    params = model.get_params()
    eps = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        bump = params.copy()
        bump[i] += eps
        model.set_params(bump)
        up = model.loss(X, y, 0.1)
        bump[i] -= 2 * eps
        model.set_params(bump)
        down = model.loss(X, y, 0.1)
        numeric[i] = (up - down) / (2 * eps)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-6)
    assert np.isfinite(loss)


def test_parameter_counts_and_flat_round_trip():
    assert LogisticRegression(5).n_params == 6
    assert SoftmaxRegression(5, 3).n_params == 18
    assert MLP(5, 3, [7]).n_params == 5 * 7 + 7 + 7 * 3 + 3
    assert MLP(5, 2, [6, 4]).n_params == 30 + 6 + 24 + 4 + 8 + 2
    model = MLP(5, 3, [7], seed=2)
    vec = np.arange(model.n_params, dtype=np.float64)
    model.set_params(vec)
    assert np.array_equal(model.get_params(), vec)
    # Order: W1 row-major first.
    assert model.weights[0][0, 1] == 1.0 and model.biases[0][0] == 35.0
    with pytest.raises(ValueError):
        model.set_params(vec[:-1])


def test_seeded_init_is_deterministic():
    a, b, c = MLP(5, 3, [7], seed=4), MLP(5, 3, [7], seed=4), MLP(5, 3, [7], seed=5)
    assert np.array_equal(a.get_params(), b.get_params())
    assert not np.array_equal(a.get_params(), c.get_params())


@pytest.mark.parametrize("make", MODELS)
def test_predictions_are_consistent(make):
    model = make()
    model.set_params(np.random.default_rng(0).normal(size=model.n_params))
    X, y = _data(model.arch.n_classes)
    proba = model.predict_proba(X)
    assert proba.shape == (40, model.arch.n_classes)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(np.argmax(proba, axis=1), model.predict(X))
    assert model.accuracy(X, y) == np.mean(model.predict(X) == y)


def test_model_from_spec_uses_spec_architecture():
    spec = make_spec(classes=[0, 1, 2], **{"model.type": "mlp", "model.hidden": [8]})
    model = model_from_spec(spec)
    assert model.arch == Architecture("mlp", 4, 3, (8,), "relu")
    assert np.array_equal(model.get_params(), model_from_spec(spec).get_params())


@pytest.mark.parametrize("make", MODELS)
def test_model_bytes_round_trip(make):
    model = make()
    model.set_params(np.random.default_rng(1).normal(size=model.n_params))
    data = model_to_bytes(model)
    again = model_from_bytes(data)
    assert again.arch == model.arch
    assert np.array_equal(again.get_params(), model.get_params())
    assert model_to_bytes(again) == data  # deterministic bytes, so stable hashes


def test_model_bytes_never_need_pickle():
    data = model_to_bytes(SoftmaxRegression(5, 3))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert set(npz.files) == {"header", "params"}
        header = json.loads(npz["header"].tobytes())
    assert header["format"] == "quarry-model" and header["n_params"] == 18


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _header(**over) -> np.ndarray:
    h = {
        "format": "quarry-model",
        "version": 1,
        "architecture": {
            "type": "softmax",
            "n_features": 5,
            "n_classes": 3,
            "hidden": [],
            "activation": "relu",
        },
        "n_params": 18,
    }
    h.update(over)
    return np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "not a readable"),
        (b"", "not a readable"),
        (_npz(header=_header(), params=np.zeros(17)), "18 float64"),
        (_npz(header=_header(), params=np.zeros(18, dtype=np.float32)), "float64"),
        (_npz(header=_header(), params=np.zeros((2, 9))), "shape"),
        (_npz(header=_header(), params=np.full(18, np.nan)), "NaN"),
        (_npz(header=_header(format="other"), params=np.zeros(18)), "not a Quarry model"),
        (_npz(header=_header(version=9), params=np.zeros(18)), "version 9"),
        (_npz(header=np.frombuffer(b"{not json", dtype=np.uint8), params=np.zeros(18)), "header"),
        (
            _npz(
                header=_header(
                    architecture={
                        "type": "mlp",
                        "n_features": 5,
                        "n_classes": 3,
                        "hidden": [],
                        "activation": "relu",
                    }
                ),
                params=np.zeros(18),
            ),
            "1 or 2",
        ),
        (_npz(params=np.zeros(18)), "exactly"),
        (_npz(header=_header(), params=np.zeros(18), extra=np.zeros(1)), "exactly"),
        (_npz(header=np.array(["x"], dtype=object), params=np.zeros(18)), "not a readable"),
    ],
)
def test_malformed_model_blobs_rejected(data, message):
    with pytest.raises(BlobError, match=message):
        model_from_bytes(data)


def test_model_blob_must_match_spec():
    spec = make_spec()
    model_from_bytes(model_to_bytes(model_from_spec(spec)), expected=spec)
    with pytest.raises(BlobError, match="architecture"):
        model_from_bytes(model_to_bytes(SoftmaxRegression(4, 2)), expected=spec)


def test_oversized_model_blob_rejected():
    data = model_to_bytes(Model(Architecture("softmax", 50, 10)))
    with pytest.raises(BlobError, match="limit"):
        model_from_bytes(data, max_bytes=100)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=5),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_fuzz_mutated_model_blob_only_blob_errors(edits, cut):
    data = bytearray(model_to_bytes(MLP(5, 3, [4], seed=0)))
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        model = model_from_bytes(bytes(data))
    except BlobError:
        return
    assert np.all(np.isfinite(model.get_params()))


def test_model_bytes_do_not_depend_on_the_clock(monkeypatch):
    import time

    model = SoftmaxRegression(5, 3)
    first = model_to_bytes(model)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    assert model_to_bytes(model) == first
