"""The practitioner's Paillier key pair; the private part at rest is encrypted with a password.

File format (JSON, mode 0600, never pickle):

    {"version": 1, "kind": "quarry-paillier-key",
     "public": {"n": "<decimal>", "bits": 2048, "proof": ["<decimal>", ...]},
     "crypto": {"kdf": "scrypt", "kdfparams": {"n", "r", "p", "dklen", "salt"},
                "cipher": "aes-256-gcm", "nonce": "<hex>", "ciphertext": "<hex>"}}

The ciphertext is AES-256-GCM of `{"p": "<decimal>", "q": "<decimal>"}` under a key derived
from the password by scrypt; the public modulus is the associated data, so swapping the
public part of the file makes decryption fail instead of silently pairing the wrong halves.
"proof" is the public proof that n is well formed (trainer.key_proof) that `post` puts in every
spec; a file written before it had none, and gains one the first time the key is unlocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from phe import paillier

from common.atomic import atomic_write_text
from trainer.key_proof import KeyProofError, check_modulus_proof, prove_modulus
from wallet.errors import InvalidInput, NotFound, WrongPassword

KEY_KIND = "quarry-paillier-key"
KEY_FILENAME = "paillier-key.json"
DEFAULT_BITS = 2048
MIN_BITS = 512
# Keystore strength; tests lower it through $QUARRY_SCRYPT_N (see tests/conftest.py).
DEFAULT_SCRYPT_N = 2**18
SCRYPT_R = 8
SCRYPT_P = 1


def scrypt_n() -> int:
    raw = os.environ.get("QUARRY_SCRYPT_N")
    if raw and raw.isdigit() and int(raw) >= 2:
        return int(raw)
    return DEFAULT_SCRYPT_N


def generate_keypair(
    bits: int = DEFAULT_BITS,
) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    if not isinstance(bits, int) or bits < MIN_BITS or bits % 8:
        raise InvalidInput(f"Key size must be a multiple of 8 and at least {MIN_BITS} bits.")
    return paillier.generate_paillier_keypair(n_length=bits)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def encode_private_key(
    private_key: paillier.PaillierPrivateKey, password: str, *, kdf_n: int | None = None
) -> str:
    """The key file's JSON text for `private_key` encrypted under `password`."""
    if not password:
        raise InvalidInput("The key password must not be empty.")
    n = private_key.public_key.n
    kdf_n = kdf_n or scrypt_n()
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    secret = json.dumps({"p": str(private_key.p), "q": str(private_key.q)}).encode()
    key = _derive(password, salt, kdf_n, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(key).encrypt(nonce, secret, str(n).encode())
    document = {
        "version": 1,
        "kind": KEY_KIND,
        "public": {"n": str(n), "bits": n.bit_length(),
                   "proof": [str(root) for root in prove_modulus(private_key.p, private_key.q)]},
        "crypto": {
            "kdf": "scrypt",
            "kdfparams": {"n": kdf_n, "r": SCRYPT_R, "p": SCRYPT_P, "dklen": 32, "salt": salt.hex()},
            "cipher": "aes-256-gcm",
            "nonce": nonce.hex(),
            "ciphertext": ciphertext.hex(),
        },
    }
    return json.dumps(document, indent=1)


def save_private_key(
    path: str | os.PathLike[str],
    private_key: paillier.PaillierPrivateKey,
    password: str,
    *,
    overwrite: bool = False,
) -> Path:
    target = Path(path)
    if target.exists() and not overwrite:
        raise InvalidInput(f"A key already exists at {target}; refusing to overwrite it.")
    atomic_write_text(target, encode_private_key(private_key, password))
    return target


def _read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    source = Path(path)
    if not source.is_file():
        raise NotFound(f"No Paillier key at {source}; run `quarry-practitioner keygen` first.")
    try:
        document = json.loads(source.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a readable key file: {exc}") from exc
    if not isinstance(document, dict) or document.get("kind") != KEY_KIND:
        raise InvalidInput(f"{source} is not a Quarry Paillier key file.")
    return document


def _public_from(document: dict[str, Any], source: str) -> paillier.PaillierPublicKey:
    try:
        n = int(document["public"]["n"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{source}: the public key is missing or malformed.") from exc
    if n < 2**(MIN_BITS - 1) or n % 2 == 0:
        raise InvalidInput(f"{source}: the public modulus is not a valid Paillier modulus.")
    return paillier.PaillierPublicKey(n)


def load_public_key(path: str | os.PathLike[str]) -> paillier.PaillierPublicKey:
    """The public key, no password needed."""
    return _public_from(_read_document(path), str(path))


def load_private_key(path: str | os.PathLike[str], password: str) -> paillier.PaillierPrivateKey:
    document = _read_document(path)
    public_key = _public_from(document, str(path))
    try:
        crypto = document["crypto"]
        params = crypto["kdfparams"]
        if crypto["kdf"] != "scrypt" or crypto["cipher"] != "aes-256-gcm":
            raise InvalidInput(f"{path}: unsupported key encryption {crypto['kdf']}/{crypto['cipher']}.")
        salt = bytes.fromhex(params["salt"])
        nonce = bytes.fromhex(crypto["nonce"])
        ciphertext = bytes.fromhex(crypto["ciphertext"])
        kdf_n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{path}: the encrypted private key is malformed.") from exc
    if not (2 <= kdf_n <= 2**22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise InvalidInput(f"{path}: the scrypt parameters are out of range.")
    key = _derive(password, salt, kdf_n, r, p)
    try:
        secret = AESGCM(key).decrypt(nonce, ciphertext, str(public_key.n).encode())
    except InvalidTag as exc:
        raise WrongPassword("Wrong password for the Paillier key.") from exc
    try:
        primes = json.loads(secret)
        p_prime, q_prime = int(primes["p"]), int(primes["q"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{path}: the decrypted private key is malformed.") from exc
    if p_prime * q_prime != public_key.n:
        raise InvalidInput(f"{path}: the private key does not match the public key.")
    if _proof_from(document) is None:  # written before key proofs: add the proof, public data
        try:
            document["public"]["proof"] = [str(root) for root in prove_modulus(p_prime, q_prime)]
        except KeyProofError as exc:
            raise InvalidInput(f"{path}: {exc}") from exc
        with contextlib.suppress(OSError):  # a read-only file still unlocks; `post` says what is missing
            atomic_write_text(Path(path), json.dumps(document, indent=1))
    return paillier.PaillierPrivateKey(public_key, p_prime, q_prime)


def _proof_from(document: dict[str, Any]) -> tuple[int, ...] | None:
    raw = (document.get("public") or {}).get("proof")
    if not isinstance(raw, list):
        return None
    try:
        return tuple(int(root) for root in raw)
    except (TypeError, ValueError):
        return None


def load_key_proof(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """The proof that the key's modulus is well formed (trainer.key_proof), checked; no password
    needed. InvalidInput when the file has none (an older file: unlocking the key once adds it)
    or one that does not prove it."""
    document = _read_document(path)
    public_key = _public_from(document, str(path))
    proof = _proof_from(document)
    if proof is None:
        raise InvalidInput(f"{path} has no proof that its Paillier key is well formed (it was written by an "
                           "older Quarry); unlock the key once (quarry-practitioner post asks its password) "
                           "to add it.")
    try:
        check_modulus_proof(public_key.n, proof)
    except KeyProofError as exc:
        raise InvalidInput(f"{path}: {exc}") from exc
    return proof
