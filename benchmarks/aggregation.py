"""Aggregating a round: N encrypted updates added homomorphically, then decrypted once.

    python -m benchmarks.aggregation [--updates 50] [--params 100000] [--key-bits 2048] [--json]

All N updates are encrypted fresh (no shortcuts); their encryption time is reported too. The
aggregation time covers parsing and validating every blob against the key, the homomorphic
sum, one decryption per packed block and unpacking to the float average.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from benchmarks._common import emit, keypair, machine, timed
from trainer.aggregate import aggregate, sum_encrypted
from trainer.encoding import EncodingParams
from trainer.update import encrypt_vector_to_blob
from trainer.update_blob import parse_blob


def run(
    n_updates: int = 50,
    n_params: int = 100_000,
    key_bits: int = 2048,
    workers: int | None = None,
    max_contributors: int = 100,
) -> dict[str, Any]:
    public_key, private_key = keypair(key_bits)
    encoding = EncodingParams(16, 1.0, max(max_contributors, n_updates), key_bits)
    rng = np.random.default_rng(1)
    updates = rng.uniform(-1.0, 1.0, size=(n_updates, n_params))

    def make_blobs() -> list[bytes]:
        return [
            encrypt_vector_to_blob(
                public_key, u, encoding, bounty_id=1, round=0, n_samples=100 + i, workers=workers
            )
            for i, u in enumerate(updates)
        ]

    blobs, encrypt_s = timed(make_blobs)
    parsed, parse_s = timed(
        lambda: [
            parse_blob(b, expected_public_key=public_key, expected_encoding=encoding) for b in blobs
        ]
    )
    _, sum_s = timed(lambda: sum_encrypted(public_key, parsed))
    result, total_s = timed(lambda: aggregate(private_key, parsed, workers=workers))
    max_error = float(np.max(np.abs(result.vector - updates.mean(axis=0))))
    if max_error > 1.0 / encoding.scale:
        raise AssertionError(f"aggregate error {max_error} exceeds the encoding step")
    return {
        "key_bits": key_bits,
        "updates": n_updates,
        "params": n_params,
        "ciphertexts_per_update": len(parsed[0].ciphertexts),
        "fresh_encryptions": n_updates,
        "encrypt_all_s": encrypt_s,
        "parse_and_validate_s": parse_s,
        "homomorphic_sum_s": sum_s,
        "decrypt_and_unpack_s": max(total_s - sum_s, 0.0),
        "aggregate_s": parse_s + total_s,
        "max_abs_error": max_error,
        **{f"machine_{k}": v for k, v in machine().items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.updates, args.params, args.key_bits, args.workers)
    emit("Aggregation of one round", results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
