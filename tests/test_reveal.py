"""trainer.reveal: the validation reveal blob, its round trip, its commitment and hostile input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from eth_hash.auto import keccak

from trainer.errors import BlobError
from trainer.reveal import (
    RevealError,
    parse_reveal,
    parse_validation_reveal,
    validation_commitment,
    validation_reveal_bytes,
)

SALT = bytes(range(32))


@pytest.fixture
def dataset():
    rng = np.random.default_rng(1)
    return rng.normal(size=(40, 5)), rng.integers(0, 3, size=40).astype(np.int64)


def test_round_trip_matches_the_commitment_made_at_posting(dataset):
    x, y = dataset
    # the rule written out: keccak256(salt || x as float64 || y as int64)
    commitment = "0x" + keccak(SALT + x.astype(np.float64).tobytes() + y.astype(np.int64).tobytes()).hex()
    assert validation_commitment(x, y, SALT) == commitment
    data = validation_reveal_bytes(x, y, SALT)
    assert data == validation_reveal_bytes(x.copy(), y.copy(), SALT)  # deterministic bytes
    got_x, got_y, salt = parse_validation_reveal(data, commitment, n_features=5, n_classes=3)
    assert salt == SALT
    assert got_x.dtype == np.float64 and got_y.dtype == np.int64
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    revealed = parse_reveal(data)
    assert revealed.salt == SALT and revealed.x.shape == (40, 5)


def test_a_different_set_or_salt_does_not_match(dataset):
    x, y = dataset
    commitment = validation_commitment(x, y, SALT)
    other = x.copy()
    other[0, 0] += 1e-12  # one value off in the last bits
    for data in (validation_reveal_bytes(other, y, SALT), validation_reveal_bytes(x, y, b"other salt"),
                 validation_reveal_bytes(x[:-1], y[:-1], SALT)):
        with pytest.raises(RevealError, match="does not match the commitment"):
            parse_validation_reveal(data, commitment)


def test_spec_shape_checks(dataset):
    x, y = dataset
    data = validation_reveal_bytes(x, y, SALT)
    commitment = validation_commitment(x, y, SALT)
    with pytest.raises(RevealError, match="features"):
        parse_validation_reveal(data, commitment, n_features=4)
    with pytest.raises(RevealError, match="labels outside"):
        parse_validation_reveal(data, commitment, n_classes=2)


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [
    b"",
    b"not a zip",
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros((2, 2))),  # y missing
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros((2, 2)), y=np.zeros(2, np.int64), extra=np.zeros(1)),
    _npz(salt=np.zeros(2, np.int64), x=np.zeros((2, 2)), y=np.zeros(2, np.int64)),  # salt not bytes
    _npz(salt=np.zeros(0, np.uint8), x=np.zeros((2, 2)), y=np.zeros(2, np.int64)),  # empty salt
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros(4), y=np.zeros(4, np.int64)),  # x 1-D
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros((2, 2), np.float32), y=np.zeros(2, np.int64)),
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros((3, 2)), y=np.zeros(2, np.int64)),  # rows differ
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.full((2, 2), np.nan), y=np.zeros(2, np.int64)),
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.zeros((0, 2)), y=np.zeros(0, np.int64)),
    _npz(salt=np.frombuffer(SALT, np.uint8), x=np.array([[object()]], dtype=object), y=np.zeros(1, np.int64)),
])
def test_malformed_reveals_are_refused(data):
    with pytest.raises(RevealError):
        parse_reveal(data)


def test_size_limits_hold_before_decompression():
    with pytest.raises(RevealError, match="limit"):
        parse_reveal(b"x" * 101, max_bytes=100)
    buffer = io.BytesIO()  # a small deflated member that expands far beyond the limit
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", b"\0" * 10_000_000)
    with pytest.raises(RevealError, match="uncompresses"):
        parse_reveal(buffer.getvalue(), max_bytes=1_000_000)


def test_reveal_errors_are_blob_and_value_errors():
    """Callers that catch the trainer's BlobError or a plain ValueError both see them."""
    assert issubclass(RevealError, BlobError) and issubclass(RevealError, ValueError)
    with pytest.raises(RevealError):
        validation_reveal_bytes(np.zeros(3), np.zeros(3), SALT)
    with pytest.raises(RevealError):
        validation_reveal_bytes(np.zeros((3, 1)), np.zeros(3), b"")
