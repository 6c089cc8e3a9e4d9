"""The validation reveal blob: the practitioner's held-out set and the salt of its commitment.

At posting, a bounty's spec commits to its validation set with
``validation_commitment(x, y, salt) = keccak256(salt || x as float64 || y as int64)``; at the
bounty's end the practitioner publishes this blob and calls ``revealValidation`` with its
keccak256, so every owner can recompute its own scores. The blob is an ``.npz`` read with
``allow_pickle=False`` holding exactly ``salt`` (1-D uint8), ``x`` (2-D float64, rows x
features) and ``y`` (1-D int64, one label index per row). It is a stranger's input to the
wallet: size and shapes are bounded and the commitment is checked before anything is used.
Lives in trainer/ (the lowest layer) because both the practitioner and the wallet use it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from eth_hash.auto import keccak

from trainer.errors import BlobError
from trainer.npz_blob import read_npz_members

if TYPE_CHECKING:  # trainer.spec imports nothing from here, but the reveal's readers need no spec
    from trainer.spec import BountySpec

MAX_REVEAL_BYTES = 64 * 1024 * 1024
MAX_SALT_BYTES = 64
_MEMBERS = {"salt", "x", "y"}


class RevealError(BlobError, ValueError):
    """A malformed reveal blob, or one that does not match its commitment."""


@dataclass(frozen=True)
class RevealedValidation:
    salt: bytes
    x: np.ndarray  # rows x features, float64
    y: np.ndarray  # label index per row, int64


def validation_commitment(x: np.ndarray, y: np.ndarray, salt: bytes) -> str:
    """keccak256(salt || x as float64 || y as int64): binds the set without revealing it.

    The one rule: the practitioner commits with it at posting, every wallet checks with it."""
    body = np.ascontiguousarray(x, dtype=np.float64).tobytes() + np.ascontiguousarray(y, dtype=np.int64).tobytes()
    return "0x" + keccak(bytes(salt) + body).hex()


def validation_reveal_bytes(x: np.ndarray, y: np.ndarray, salt: bytes) -> bytes:
    """The reveal blob of the validation set ``(x, y)`` committed with ``salt`` (deterministic)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise RevealError("A validation set is rows x features with one label per row.")
    if not 1 <= len(salt) <= MAX_SALT_BYTES:
        raise RevealError(f"The salt must be 1 to {MAX_SALT_BYTES} bytes.")
    buffer = io.BytesIO()
    # np.savez stamps no time into its zip entries, so the same set gives the same bytes
    np.savez(buffer, salt=np.frombuffer(bytes(salt), dtype=np.uint8), x=x, y=y)
    return buffer.getvalue()


def parse_validation_reveal(
    data: bytes, commitment: str, *, n_features: int | None = None, n_classes: int | None = None,
    max_bytes: int = MAX_REVEAL_BYTES,
) -> tuple[np.ndarray, np.ndarray, bytes]:
    """``(x, y, salt)`` from a reveal blob whose contents match ``commitment`` (the spec's
    ``validation_commitment``); RevealError (a BlobError) on anything else.
    ``n_features``/``n_classes``, when given (from the spec), are checked too."""
    revealed = parse_reveal(data, max_bytes=max_bytes)
    x, y, salt = revealed.x, revealed.y, revealed.salt
    if n_features is not None and x.shape[1] != n_features:
        raise RevealError(f"The validation reveal has {x.shape[1]} features; the spec has {n_features}.")
    if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
        raise RevealError(f"The validation reveal has labels outside 0..{n_classes - 1}.")
    if validation_commitment(x, y, salt).lower() != str(commitment).lower():
        raise RevealError("The revealed validation set does not match the commitment in the spec.")
    return x, y, salt


def parse_reveal(data: bytes, max_bytes: int = MAX_REVEAL_BYTES) -> RevealedValidation:
    """The well-formed contents of a reveal blob, not yet checked against any commitment
    (``parse_validation_reveal`` does both); RevealError otherwise."""
    arrays = read_npz_members(data, ("salt", "x", "y"), name="validation reveal", kind=".npz file",
                              max_bytes=max_bytes, error=RevealError)
    salt_arr, x, y = arrays["salt"], arrays["x"], arrays["y"]
    if salt_arr.dtype != np.uint8 or salt_arr.ndim != 1 or not 1 <= salt_arr.size <= MAX_SALT_BYTES:
        raise RevealError("The validation reveal's salt is malformed.")
    if x.dtype != np.float64 or x.ndim != 2 or y.dtype != np.int64 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise RevealError("The validation reveal's x must be rows x features (float64) and y one "
                          "int64 label per row.")
    if x.shape[0] == 0:
        raise RevealError("The validation reveal holds no rows.")
    if not np.all(np.isfinite(x)):
        raise RevealError("The validation reveal holds NaN or infinite values.")
    return RevealedValidation(salt_arr.tobytes(), x, y)


def row_keys(spec: BountySpec, x: np.ndarray, y: np.ndarray) -> set[bytes]:
    """One key per validation row, to find rows two bounties share (practitioner.validation_reuse,
    wallet.verify): the row's features in its file's units (`x * std + mean` of `spec`'s
    standardisation), as float32 so that one file's row matches across two bounties'
    standardisations, and the name of its class."""
    mean = np.asarray(spec.standardize.mean, dtype=np.float64)
    std = np.asarray(spec.standardize.std, dtype=np.float64)
    raw = np.ascontiguousarray((np.asarray(x, dtype=np.float64) * std + mean).astype(np.float32))
    classes = [str(c).encode("utf-8") for c in spec.schema.classes]
    return {row.tobytes() + b"\x00" + classes[int(label)] for row, label in zip(raw, y, strict=True)}
