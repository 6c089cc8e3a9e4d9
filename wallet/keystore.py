"""Web3 Secret Storage v3 ("keystore v3") files through eth-account / eth-keyfile.

Quarry writes scrypt keystores with n = 2**18, r = 8, p = 1 (geth's standard strength,
about 256 MiB and ~1 s per encryption or decryption). The environment variable
QUARRY_SCRYPT_N overrides n for new files; it is a knob for the test suite and CI
(which set 4096) and for very slow machines, never something a user should lower.
Reading accepts both scrypt and pbkdf2 keystores written by any wallet, within sane
cost limits (a foreign file cannot make us allocate gigabytes).

`encrypt_secret`/`decrypt_secret` apply the same scheme (scrypt + AES-128-CTR + keccak
MAC, the "crypto" section of a keystore) to bytes that are not a private key, such as
the vault's mnemonic.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

from wallet.errors import InvalidInput, WrongPassword
from wallet.keys import address_of, parse_private_key

# pycryptodome, eth-account, eth-keyfile and eth-utils are imported where used: together they
# take about half a second to load, and listing accounts needs none of them.

SCRYPT_N_ENV = "QUARRY_SCRYPT_N"
DEFAULT_SCRYPT_N = 2**18
SCRYPT_R = 8
SCRYPT_P = 1
MIN_SCRYPT_N = 2**10
# Limits for files we read: scrypt memory is 128 * n * r bytes.
MAX_SCRYPT_MEMORY = 2**30
MAX_PBKDF2_ITERATIONS = 10_000_000
_NOT_A_KEYSTORE = "is not an Ethereum keystore (Web3 Secret Storage v3) file"


def scrypt_n() -> int:
    """The scrypt cost n for new files: $QUARRY_SCRYPT_N if set, else 2**18."""
    raw = os.environ.get(SCRYPT_N_ENV, "").strip()
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < MIN_SCRYPT_N or n & (n - 1) or 128 * n * SCRYPT_R > MAX_SCRYPT_MEMORY:
        raise InvalidInput(
            f"{SCRYPT_N_ENV} must be a power of two from {MIN_SCRYPT_N} to 2**20, not {raw!r}."
        )
    return n


def _password_bytes(password: str) -> bytes:
    if not isinstance(password, str) or password == "":
        raise InvalidInput("The password must not be empty.")
    return password.encode("utf-8")


# -- reading ---------------------------------------------------------------------------


def load_keystore(data: str | bytes | dict[str, Any], what: str = "This file") -> dict[str, Any]:
    """Parse and check the shape of a v3 keystore; raise InvalidInput naming `what`."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{what} {_NOT_A_KEYSTORE}: it is not text.") from exc
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{what} is not valid JSON, so it {_NOT_A_KEYSTORE}.") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} {_NOT_A_KEYSTORE}.")
    keystore = {str(k).lower(): v for k, v in data.items()}
    if keystore.get("version") != 3 or not isinstance(keystore.get("crypto"), dict):
        raise InvalidInput(f"{what} {_NOT_A_KEYSTORE}.")
    check_crypto_section(keystore["crypto"], what)
    address = keystore.get("address")
    if address is not None:
        if not isinstance(address, str) or len(address.removeprefix("0x")) != 40:
            raise InvalidInput(f"{what} has a malformed address field.")
        try:
            int(address.removeprefix("0x"), 16)
        except ValueError as exc:
            raise InvalidInput(f"{what} has a malformed address field.") from exc
    return data


def check_crypto_section(crypto: Any, what: str = "This file") -> None:
    """Validate a keystore "crypto" section, including cost limits for its KDF."""
    bad = InvalidInput(f"{what} {_NOT_A_KEYSTORE}: its crypto section is malformed.")
    if not isinstance(crypto, dict):
        raise bad
    crypto = {str(k).lower(): v for k, v in crypto.items()}
    if crypto.get("cipher") != "aes-128-ctr":
        raise InvalidInput(f"{what} uses cipher {crypto.get('cipher')!r}; only aes-128-ctr is supported.")
    params = crypto.get("kdfparams")
    iv = (crypto.get("cipherparams") or {}).get("iv") if isinstance(crypto.get("cipherparams"), dict) else None
    if not (
        isinstance(params, dict)
        and _is_hex(iv, 16)
        and _is_hex(crypto.get("ciphertext"))
        and _is_hex(crypto.get("mac"), 32)
        and _is_hex(params.get("salt"))
        and params.get("dklen") == 32
    ):
        raise bad
    kdf = crypto.get("kdf")
    if kdf == "scrypt":
        n, r, p = params.get("n"), params.get("r"), params.get("p")
        if not all(isinstance(v, int) and v > 0 for v in (n, r, p)) or n & (n - 1):
            raise bad
        if 128 * n * r > MAX_SCRYPT_MEMORY or p > 16:
            raise InvalidInput(f"{what} asks for an unreasonably expensive scrypt setting.")
    elif kdf == "pbkdf2":
        c, prf = params.get("c"), params.get("prf")
        if not isinstance(c, int) or c <= 0 or prf != "hmac-sha256":
            raise bad
        if c > MAX_PBKDF2_ITERATIONS:
            raise InvalidInput(f"{what} asks for an unreasonably expensive pbkdf2 setting.")
    else:
        raise InvalidInput(f"{what} uses key derivation {kdf!r}; only scrypt and pbkdf2 are supported.")


def _is_hex(value: Any, nbytes: int | None = None) -> bool:
    if not isinstance(value, str) or not value or len(value) % 2:
        return False
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return False
    return nbytes is None or len(raw) == nbytes


def keystore_address(keystore: dict[str, Any]) -> str | None:
    """The checksummed address a keystore declares, if it has one."""
    from eth_utils import to_checksum_address

    address = {str(k).lower(): v for k, v in keystore.items()}.get("address")
    return to_checksum_address("0x" + address.removeprefix("0x")) if address else None


def decrypt_keystore(data: str | bytes | dict[str, Any], password: str, what: str = "This keystore") -> bytes:
    """The 32-byte private key inside a v3 keystore.

    WrongPassword if the MAC does not match; InvalidInput if the file is not a keystore,
    or its declared address does not belong to the key inside.
    """
    from eth_account import Account

    keystore = load_keystore(data, what)
    try:
        key = bytes(Account.decrypt(keystore, _password_bytes(password).decode("utf-8")))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassword(f"Wrong password for {what[:1].lower() + what[1:]}.") from exc
        raise InvalidInput(f"{what} {_NOT_A_KEYSTORE}: it cannot be decrypted.") from exc
    if len(key) != 32:
        raise InvalidInput(f"{what} {_NOT_A_KEYSTORE}: it does not hold a 32-byte key.")
    key = parse_private_key(key)
    declared = keystore_address(keystore)
    if declared is not None and address_of(key) != declared:
        raise InvalidInput(f"{what} is inconsistent: its address field does not match the key inside.")
    return key


# -- writing ---------------------------------------------------------------------------


def encrypt_key(private_key: bytes, password: str, kdf: str = "scrypt", iterations: int | None = None) -> dict[str, Any]:
    """A standard v3 keystore dict (geth, MetaMask and eth-account import it)."""
    from eth_account import Account

    key = parse_private_key(private_key)
    if kdf == "scrypt" and iterations is None:
        iterations = scrypt_n()
    return dict(Account.encrypt(key, _password_bytes(password).decode("utf-8"), kdf=kdf, iterations=iterations))


def keystore_json(keystore: dict[str, Any]) -> str:
    return json.dumps(keystore, indent=2, sort_keys=True) + "\n"


def encrypt_secret(secret: bytes, password: str) -> dict[str, Any]:
    """A keystore-style scrypt/AES-128-CTR "crypto" section holding arbitrary bytes."""
    from Crypto.Cipher import AES
    from Crypto.Util import Counter
    from eth_utils import keccak

    n = scrypt_n()
    salt = secrets.token_bytes(32)
    derived = hashlib.scrypt(
        _password_bytes(password), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32,
        maxmem=MAX_SCRYPT_MEMORY + 2**20,
    )
    iv = secrets.token_bytes(16)
    counter = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
    ciphertext = AES.new(derived[:16], AES.MODE_CTR, counter=counter).encrypt(secret)
    return {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": iv.hex()},
        "ciphertext": ciphertext.hex(),
        "kdf": "scrypt",
        "kdfparams": {"dklen": 32, "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
        "mac": keccak(derived[16:32] + ciphertext).hex(),
    }


def decrypt_secret(crypto: dict[str, Any], password: str, what: str = "This file") -> bytes:
    """The bytes inside a crypto section made by `encrypt_secret` (or any keystore)."""
    from eth_keyfile import decode_keyfile_json

    check_crypto_section(crypto, what)
    try:
        return decode_keyfile_json({"version": 3, "crypto": crypto}, _password_bytes(password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassword("Wrong password.") from exc
        raise InvalidInput(f"{what} cannot be decrypted: it is malformed.") from exc
