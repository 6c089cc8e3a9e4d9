"""Homomorphic aggregation of encrypted updates and their decryption (the practitioner's side).

Adding N updates multiplies their ciphertexts block by block mod n^2, so the practitioner
decrypts one packed block per ~120 parameters for the whole round instead of per contributor.
For Shapley valuation it may also decrypt each contributor's update on its own
(`decrypt_update`) and combine plaintext vectors for any coalition (`aggregate_subset`
does the same homomorphically when only the sum of a subset is wanted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from phe import paillier

from trainer.encoding import EncodingParams, decode_average, decode_sum, unpack_sums
from trainer.errors import BlobError, EncodingError
from trainer.paillier import ProgressCallback, StopCheck, add_ciphertexts, decrypt_blocks
from trainer.spec import key_fingerprint
from trainer.update_blob import UpdateBlob


@dataclass(frozen=True)
class AggregateResult:
    vector: np.ndarray  # float64: the average (or sum) of the updates
    count: int  # how many updates were added
    averaged: bool


def check_compatible(blobs: Sequence[UpdateBlob]) -> EncodingParams:
    """All blobs must be for the same bounty, round, key, encoding and parameter count."""
    if not blobs:
        raise BlobError("No updates to aggregate.")
    first = blobs[0]
    for i, blob in enumerate(blobs[1:], start=1):
        for name in ("bounty_id", "round", "n_params", "encoding", "key_fingerprint"):
            if getattr(blob, name) != getattr(first, name):
                raise BlobError(
                    f"Update {i} differs from update 0 in {name.replace('_', ' ')}; "
                    "only updates of the same bounty round can be added."
                )
    if len(blobs) > first.encoding.max_contributors:
        raise BlobError(
            f"{len(blobs)} updates exceed the encoding's maximum of "
            f"{first.encoding.max_contributors} contributors."
        )
    return first.encoding


def sum_encrypted(public_key: paillier.PaillierPublicKey, blobs: Sequence[UpdateBlob]) -> list[int]:
    """The ciphertexts of the sum of the updates (no decryption)."""
    check_compatible(blobs)
    if blobs[0].key_fingerprint != key_fingerprint(public_key):
        raise BlobError("The updates were encrypted for a different key.")
    return add_ciphertexts(public_key, [b.ciphertexts for b in blobs])


def aggregate(
    private_key: paillier.PaillierPrivateKey,
    blobs: Sequence[UpdateBlob],
    *,
    average: bool = True,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> AggregateResult:
    """Add the encrypted updates, decrypt once per block, unpack to the float average (or sum)."""
    encoding = check_compatible(blobs)
    summed = sum_encrypted(private_key.public_key, blobs)
    plaintexts = decrypt_blocks(private_key, summed, workers, progress, should_stop)
    count = len(blobs)
    try:
        sums = unpack_sums(plaintexts, blobs[0].n_params, count, encoding)
    except EncodingError as exc:
        raise BlobError(f"The aggregated updates do not decode: {exc}") from exc
    vector = decode_average(sums, count, encoding) if average else decode_sum(sums, count, encoding)
    return AggregateResult(
        vector=vector,
        count=count,
        averaged=average,
    )


def aggregate_subset(
    private_key: paillier.PaillierPrivateKey,
    blobs: Sequence[UpdateBlob],
    indices: Sequence[int],
    *,
    average: bool = True,
    workers: int | None = None,
) -> AggregateResult:
    """aggregate() over blobs[i] for i in indices (a coalition, for contribution scoring)."""
    chosen = sorted(set(int(i) for i in indices))
    if not chosen:
        raise BlobError("An empty coalition has no aggregate.")
    if chosen[0] < 0 or chosen[-1] >= len(blobs):
        raise BlobError("A coalition index is out of range.")
    return aggregate(private_key, [blobs[i] for i in chosen], average=average, workers=workers)


def decrypt_update(
    private_key: paillier.PaillierPrivateKey,
    blob: UpdateBlob,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> np.ndarray:
    """One contributor's update as a float vector (what it encoded, after clamping)."""
    return aggregate(
        private_key,
        [blob],
        average=True,
        workers=workers,
        progress=progress,
        should_stop=should_stop,
    ).vector
