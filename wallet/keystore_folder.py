"""The vault's keystore folder: one v3 keystore file per account, named by its address.

`<home>/keystores/<EIP-55 address>.json`, mode 0600, written atomically. Only files named
by their checksummed address (as Quarry writes them) count as accounts; anything else in
the folder is ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from common.atomic import atomic_write_text
from wallet import keys, keystore
from wallet.errors import InvalidInput, NotFound, WrongPassword

KEYSTORE_DIR = "keystores"
_KEYSTORE_NAME = re.compile(r"^0x[0-9a-fA-F]{40}\.json$")


class KeystoreFolder:
    """The keystore files under one home directory."""

    def __init__(self, home: Path) -> None:
        self.directory = home / KEYSTORE_DIR

    def has_any(self) -> bool:
        """True if at least one file is named like a keystore of an address."""
        return self.directory.is_dir() and any(
            _KEYSTORE_NAME.match(p.name) for p in self.directory.iterdir()
        )

    def names(self) -> list[str]:
        """The addresses in the keystore files' names, sorted, checksum not checked (that
        needs keccak: callers check the names they do not already know)."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name[:-5] for p in self.directory.iterdir() if _KEYSTORE_NAME.match(p.name))

    def addresses(self) -> list[str]:
        """The checksummed addresses that have a keystore file, sorted."""
        return [name for name in self.names() if keys.is_checksum_address(name)]

    def path(self, address: str) -> Path:
        return self.directory / f"{address}.json"

    def ensure_absent(self, address: str) -> None:
        if self.path(address).exists():
            raise InvalidInput(f"Account {address} is already in this wallet.")

    def write(self, address: str, keystore_text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(self.path(address), keystore_text)

    def decrypt(self, address: str, password: str) -> bytes:
        """The private key of `address`, checked to belong to it."""
        path = self.path(address)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotFound(f"No account {address} in this wallet.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path} is unreadable or corrupt.") from exc
        try:
            key = keystore.decrypt_keystore(text, password, f"The keystore {path.name}")
        except WrongPassword:
            raise WrongPassword("Wrong password for this wallet.") from None
        if keys.address_of(key) != address:
            raise InvalidInput(f"{path} holds the key of another address.")
        return key
