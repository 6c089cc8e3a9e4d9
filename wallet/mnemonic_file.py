"""The vault's encrypted recovery-phrase file, `mnemonic.json`.

Format: `{"format": "quarry-mnemonic", "version": 1, "crypto": {...}}` where "crypto" is a
keystore-v3 crypto section (scrypt + AES-128-CTR + keccak MAC, wallet.keystore) over the
phrase's UTF-8 bytes, under the same password as the wallet's keystores.
"""

from __future__ import annotations

import json
from pathlib import Path

from wallet import keys, keystore
from wallet.errors import InvalidInput, WrongPassword

MNEMONIC_FILE = "mnemonic.json"
MNEMONIC_FORMAT = "quarry-mnemonic"


def encrypt_mnemonic(phrase: str, password: str) -> bytes:
    """The file's bytes for `phrase` encrypted under `password` (one scrypt run)."""
    document = {
        "format": MNEMONIC_FORMAT,
        "version": 1,
        "crypto": keystore.encrypt_secret(phrase.encode("utf-8"), password),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def decrypt_mnemonic(path: Path, password: str) -> str:
    """The normalised phrase in the file at `path`; WrongPassword or InvalidInput."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path} is unreadable or corrupt.") from exc
    if not isinstance(document, dict) or document.get("format") != MNEMONIC_FORMAT:
        raise InvalidInput(f"{path} is not a Quarry recovery-phrase file.")
    try:
        secret = keystore.decrypt_secret(document.get("crypto"), password, str(path))
    except WrongPassword:
        raise WrongPassword("Wrong password for this wallet.") from None
    try:
        return keys.normalize_mnemonic(secret.decode("utf-8"))
    except (UnicodeDecodeError, InvalidInput) as exc:
        raise InvalidInput(f"{path} is corrupt.") from exc
