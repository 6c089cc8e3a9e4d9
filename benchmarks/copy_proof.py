"""What a copy proof costs (trainer/copy_proof.py; PROTOCOL, Valuation step 2).

    python -m benchmarks.copy_proof [--params 10000] [--key-bits 2048] [--json]

For one update blob of `--params` parameters under one key, measured in the same run:
decrypting it as the practitioner does anyway (`decrypt_s`, the baseline), opening it for a
proof (every ciphertext's plaintext and Paillier nonce, `open_s`), and the owner's wallet
checking a one-link proof (parse, one n-th power mod n^2 per ciphertext, decode, cosine:
`check_s`); each also as a ratio to the decryption, and the proof's size against the blob's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from benchmarks._common import emit, keypair, machine, timed
from trainer.aggregate import decrypt_update
from trainer.copy_proof import OpenedBlob, check_copy_proof, copy_proof_bytes, open_blob
from trainer.encoding import EncodingParams
from trainer.update import encrypt_vector_to_blob
from trainer.update_blob import blob_hash, parse_blob

ADDRESS_A, ADDRESS_B = "0x" + "aa" * 20, "0x" + "bb" * 20


def run(params: int = 10_000, key_bits: int = 2048, seed: int = 0) -> dict[str, Any]:
    public_key, private_key = keypair(key_bits)
    encoding = EncodingParams(precision_bits=8, clip=2.0, max_contributors=100, key_bits=key_bits)
    rng = np.random.default_rng(seed)
    update = rng.normal(scale=0.01, size=params)
    data = encrypt_vector_to_blob(public_key, update, encoding, bounty_id=1, round=0, n_samples=10, workers=1)
    blob = parse_blob(data, public_key)
    decrypted, decrypt_s = timed(lambda: decrypt_update(private_key, blob, workers=1))
    (plaintexts, nonces), open_s = timed(lambda: open_blob(private_key, blob))
    digest = blob_hash(data)
    proof = copy_proof_bytes(1, 0, ADDRESS_B, ADDRESS_A, [OpenedBlob(ADDRESS_A, digest, data, plaintexts, nonces)])
    differences, check_s = timed(lambda: check_copy_proof(
        proof, bounty_id=1, round_index=0, address=ADDRESS_B, copy_of=ADDRESS_A, kept=decrypted,
        public_key=public_key, encoding=encoding, submitted_hash=lambda _address: digest))
    if differences:  # the benchmark measures a proof that holds
        raise AssertionError(differences)
    return {
        "params": params, "key_bits": key_bits, "ciphertexts": len(blob.ciphertexts),
        "decrypt_s": decrypt_s, "open_s": open_s, "check_s": check_s,
        "open_vs_decrypt": open_s / decrypt_s, "check_vs_decrypt": check_s / decrypt_s,
        "blob_bytes": len(data), "proof_bytes": len(proof), "proof_vs_blob": len(proof) / len(data),
        **machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="What a copy proof costs.")
    parser.add_argument("--params", type=int, default=10_000)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    emit(f"Copy proof of one update ({args.params} parameters, {args.key_bits}-bit key)",
         run(args.params, args.key_bits), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
