"""The vault: a person's accounts, encrypted at rest, unlocked in memory.

Files under the home directory (all mode 0600, written atomically):

- `keystores/<EIP-55 address>.json`: one Web3 Secret Storage v3 file per account (scrypt),
  the standard format geth, MetaMask and eth-account read.
- `mnemonic.json`: the BIP-39 recovery phrase, when the wallet has one, as
  `{"format": "quarry-mnemonic", "version": 1, "crypto": {...}}` where "crypto" is a
  keystore-v3 crypto section (scrypt + AES-128-CTR + keccak MAC) over the phrase's UTF-8
  bytes, under the same password as the keystores.
- `quarry.db` (wallet.store): labels, kind ("hd" or "imported") and HD index per account.

One password opens everything. Operations that write encrypted files (create, import, add
account, export, change password) take the password, because the vault never keeps it;
unlocking keeps only the private keys in memory, until `lock()` or the idle timeout.

Changing the password is atomic as a whole: every new file is first written next to its
original as `<name>.pwnew`, then a commit marker `password-change.json` is written, then
each staged file is renamed over its original and the marker removed. Opening the vault
finishes a committed change (marker present) or discards an uncommitted one (no marker),
so after a crash at any point either the old or the new password opens everything.

Thread-safety: one re-entrant lock guards the secrets and the files; `on_change`
callbacks run on whatever thread made the change, after the lock is released.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from wallet import keys, keystore
from wallet.atomic import atomic_write_bytes, atomic_write_text
from wallet.errors import InvalidInput, NotFound, QuarryError, WalletLocked, WrongPassword
from wallet.store import Store

log = logging.getLogger(__name__)

KIND_HD = "hd"
KIND_IMPORTED = "imported"
KEYSTORE_DIR = "keystores"
MNEMONIC_FILE = "mnemonic.json"
MNEMONIC_FORMAT = "quarry-mnemonic"
STAGED_SUFFIX = ".pwnew"
COMMIT_MARKER = "password-change.json"
MAX_LABEL_LENGTH = 64
_KEYSTORE_NAME = re.compile(r"^0x[0-9a-fA-F]{40}\.json$")

# Events passed to on_change callbacks.
EVENT_UNLOCKED = "unlocked"
EVENT_LOCKED = "locked"
EVENT_ACCOUNTS = "accounts"
EVENT_PASSWORD = "password"


@dataclass(frozen=True)
class AccountInfo:
    address: str  # EIP-55
    label: str
    kind: str  # KIND_HD or KIND_IMPORTED
    hd_index: int | None


def clean_label(label: str | None, default: str) -> str:
    """A label fit to show: trimmed, no control characters, at most 64 characters."""
    if label is None:
        return default
    text = unicodedata.normalize("NFC", str(label)).strip()
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidInput("A label cannot contain control characters.")
    if len(text) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"A label has at most {MAX_LABEL_LENGTH} characters.")
    return text or default


class Vault:
    """The accounts in one Quarry home directory. Use Vault.open / Vault.load / Vault.create."""

    def __init__(self, home: str | os.PathLike[str], store: Store | None = None) -> None:
        self.home = Path(home)
        self.keystore_dir = self.home / KEYSTORE_DIR
        self.mnemonic_path = self.home / MNEMONIC_FILE
        self._store = store
        self._owns_store = store is None
        self._lock = threading.RLock()
        self._keys: dict[str, bytes] | None = None  # address -> private key, while unlocked
        self._last_activity = time.monotonic()
        self.on_change: list[Callable[[str], None]] = []
        if self.home.exists():
            self._recover_password_change()

    # -- construction ------------------------------------------------------------------

    @staticmethod
    def exists(home: str | os.PathLike[str]) -> bool:
        """True if `home` holds a wallet (a recovery phrase or at least one keystore)."""
        home = Path(home)
        if (home / MNEMONIC_FILE).exists():
            return True
        directory = home / KEYSTORE_DIR
        return directory.is_dir() and any(_KEYSTORE_NAME.match(p.name) for p in directory.iterdir())

    @classmethod
    def load(cls, home: str | os.PathLike[str], store: Store | None = None) -> Vault:
        """The vault in `home`, possibly empty (then imports create it)."""
        return cls(home, store)

    @classmethod
    def open(cls, home: str | os.PathLike[str], store: Store | None = None) -> Vault:
        """The existing wallet in `home`; NotFound if there is none."""
        if not cls.exists(home):
            raise NotFound(
                f"No wallet in {home}. Create one with 'quarry wallet create' or import one "
                "with 'quarry wallet import'."
            )
        return cls(home, store)

    @classmethod
    def create(
        cls,
        home: str | os.PathLike[str],
        password: str,
        words: int = 12,
        label: str | None = None,
        store: Store | None = None,
    ) -> tuple[Vault, str]:
        """A new wallet with a fresh recovery phrase and account 0; returns (vault, phrase).

        The vault comes back unlocked. Show the phrase to the person once.
        """
        if cls.exists(home):
            raise InvalidInput(f"A wallet already exists in {home}.")
        phrase = keys.generate_mnemonic(words)
        vault, _account = cls.import_mnemonic(home, phrase, password, 0, label, store=store)
        return vault, phrase

    @classmethod
    def import_mnemonic(
        cls,
        home: str | os.PathLike[str],
        mnemonic: str,
        password: str,
        account_index: int = 0,
        label: str | None = None,
        store: Store | None = None,
    ) -> tuple[Vault, AccountInfo]:
        """Import a recovery phrase.

        Into an empty home: the phrase becomes the wallet's, with the account at
        `account_index`. Into an existing wallet (password must be the wallet's): the same
        phrase adds that HD account; a different phrase adds the derived key as an
        imported account.
        """
        phrase = keys.normalize_mnemonic(mnemonic)
        keys.hd_path(account_index)
        _check_new_password(password)
        vault = cls(home, store)
        with vault._lock:
            if cls.exists(home):
                own_phrase = vault._check_password(password)
                key = keys.derive_private_keys(phrase, [account_index])[0]
                if own_phrase == phrase:
                    info = vault._add_key(key, password, KIND_HD, account_index, label)
                else:
                    info = vault._add_key(key, password, KIND_IMPORTED, None, label)
            else:
                key = keys.derive_private_keys(phrase, [account_index])[0]
                vault._ensure_new_address(Account.from_key(key).address)
                mnemonic_file = {
                    "format": MNEMONIC_FORMAT,
                    "version": 1,
                    "crypto": keystore.encrypt_secret(phrase.encode("utf-8"), password),
                }
                keystore_text = keystore.keystore_json(keystore.encrypt_key(key, password))
                vault.home.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write_text(vault.mnemonic_path, json.dumps(mnemonic_file, indent=2) + "\n")
                info = vault._write_account(key, keystore_text, KIND_HD, account_index, label)
                vault._keys = {info.address: key}
                vault._last_activity = time.monotonic()
        vault._emit(EVENT_ACCOUNTS)
        if vault.is_unlocked:
            vault._emit(EVENT_UNLOCKED)
        return vault, info

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.home)
            return self._store

    def close(self) -> None:
        """Lock and close the store if this vault opened it."""
        self.lock()
        with self._lock:
            if self._owns_store and self._store is not None:
                self._store.close()
                self._store = None

    # -- reading -----------------------------------------------------------------------

    @property
    def has_mnemonic(self) -> bool:
        return self.mnemonic_path.exists()

    def _keystore_addresses(self) -> list[str]:
        if not self.keystore_dir.is_dir():
            return []
        # Only files named by their checksummed address (as Quarry writes them) count.
        return sorted(
            p.name[:-5]
            for p in self.keystore_dir.iterdir()
            if _KEYSTORE_NAME.match(p.name) and keys.is_checksum_address(p.name[:-5])
        )

    def _keystore_path(self, address: str) -> Path:
        return self.keystore_dir / f"{address}.json"

    def accounts(self) -> list[AccountInfo]:
        """Every account with a keystore file: HD ones by index, then imported ones."""
        with self._lock:
            on_disk = set(self._keystore_addresses())
            if not on_disk:
                return []
            listed: list[AccountInfo] = []
            for row in self.store.account_rows():
                if row["address"] in on_disk:
                    on_disk.discard(row["address"])
                    listed.append(
                        AccountInfo(row["address"], row["label"], row["kind"], row["hd_index"])
                    )
            # A keystore without metadata (e.g. copied in by hand) is an imported account.
            listed.extend(AccountInfo(a, "", KIND_IMPORTED, None) for a in sorted(on_disk))
            return listed

    def account(self, address: str) -> AccountInfo:
        wanted = keys.parse_address(address)
        for info in self.accounts():
            if info.address == wanted:
                return info
        raise NotFound(f"No account {wanted} in this wallet.")

    # -- password checks and decryption ------------------------------------------------

    def _read_mnemonic_file(self) -> dict[str, Any]:
        try:
            data = json.loads(self.mnemonic_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{self.mnemonic_path} is unreadable or corrupt.") from exc
        if not isinstance(data, dict) or data.get("format") != MNEMONIC_FORMAT:
            raise InvalidInput(f"{self.mnemonic_path} is not a Quarry recovery-phrase file.")
        return data

    def _decrypt_mnemonic(self, password: str) -> str:
        data = self._read_mnemonic_file()
        try:
            secret = keystore.decrypt_secret(data.get("crypto"), password, str(self.mnemonic_path))
        except WrongPassword:
            raise WrongPassword("Wrong password for this wallet.") from None
        try:
            return keys.normalize_mnemonic(secret.decode("utf-8"))
        except (UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"{self.mnemonic_path} is corrupt.") from exc

    def _decrypt_keystore_file(self, address: str, password: str) -> bytes:
        path = self._keystore_path(address)
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
        if Account.from_key(key).address != address:
            raise InvalidInput(f"{path} holds the key of another address.")
        return key

    def _check_password(self, password: str) -> str | None:
        """Verify the wallet password (one KDF run); return the phrase if there is one."""
        self._recover_password_change()
        if not isinstance(password, str) or not password:
            raise WrongPassword("Wrong password for this wallet.")
        if self.has_mnemonic:
            return self._decrypt_mnemonic(password)
        addresses = self._keystore_addresses()
        if not addresses:
            raise NotFound(f"No wallet in {self.home}.")
        self._decrypt_keystore_file(addresses[0], password)
        return None

    def _decrypt_all(self, password: str) -> tuple[str | None, dict[str, bytes]]:
        """(phrase or None, address -> key) for every account, with the wallet password."""
        phrase = self._check_password(password)
        accounts = self.accounts()
        decrypted: dict[str, bytes] = {}
        hd = [a for a in accounts if a.kind == KIND_HD and a.hd_index is not None]
        if phrase is not None and hd:
            # Deriving from the phrase costs milliseconds; each keystore costs a scrypt run.
            derived = keys.derive_private_keys(phrase, [a.hd_index for a in hd])
            for info, key in zip(hd, derived, strict=True):
                if Account.from_key(key).address == info.address:
                    decrypted[info.address] = key
        for info in accounts:
            if info.address not in decrypted:
                decrypted[info.address] = self._decrypt_keystore_file(info.address, password)
        return phrase, decrypted

    # -- lock state --------------------------------------------------------------------

    @property
    def is_unlocked(self) -> bool:
        return self._keys is not None

    def unlock(self, password: str) -> None:
        """Decrypt every account into memory. WrongPassword leaves the vault locked."""
        with self._lock:
            _phrase, decrypted = self._decrypt_all(password)
            self._keys = decrypted
            self._last_activity = time.monotonic()
        self._emit(EVENT_UNLOCKED)

    def lock(self) -> None:
        """Forget every private key held in memory."""
        with self._lock:
            was_unlocked = self._keys is not None
            self._keys = None
        if was_unlocked:
            self._emit(EVENT_LOCKED)

    def touch(self) -> None:
        """Record user activity (postpones the auto-lock)."""
        self._last_activity = time.monotonic()

    def idle_timeout_seconds(self) -> float | None:
        """The auto-lock timeout from settings ("auto_lock_minutes"; 0 means never)."""
        minutes = self.store.get_setting("auto_lock_minutes")
        try:
            minutes = float(minutes)
        except (TypeError, ValueError):
            return None
        return minutes * 60 if minutes > 0 else None

    def lock_if_idle(self, now: float | None = None) -> bool:
        """Lock if idle for longer than the timeout; `now` is time.monotonic() seconds."""
        if not self.is_unlocked:
            return False
        timeout = self.idle_timeout_seconds()
        current = time.monotonic() if now is None else now
        if timeout is None or current - self._last_activity < timeout:
            return False
        self.lock()
        return True

    def signer(self, address: str) -> LocalAccount:
        """The eth-account signer for `address`; WalletLocked unless unlocked."""
        wanted = keys.parse_address(address)
        with self._lock:
            if self._keys is None:
                raise WalletLocked("The wallet is locked; unlock it with your password first.")
            key = self._keys.get(wanted)
            if key is None:
                raise NotFound(f"No account {wanted} in this wallet.")
            self._last_activity = time.monotonic()
            return Account.from_key(key)

    # -- adding accounts ---------------------------------------------------------------

    def _ensure_new_address(self, address: str) -> None:
        if self._keystore_path(address).exists():
            raise InvalidInput(f"Account {address} is already in this wallet.")

    def _write_account(
        self, key: bytes, keystore_text: str, kind: str, hd_index: int | None, label: str | None
    ) -> AccountInfo:
        address = Account.from_key(key).address
        default = f"Account {hd_index + 1}" if kind == KIND_HD else "Imported account"
        info = AccountInfo(address, clean_label(label, default), kind, hd_index)
        self.keystore_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Key first: a crash before the metadata row leaves a listed, usable account.
        atomic_write_text(self._keystore_path(address), keystore_text)
        self.store.upsert_account(info.address, info.label, info.kind, info.hd_index)
        return info

    def _add_key(
        self, key: bytes, password: str, kind: str, hd_index: int | None, label: str | None
    ) -> AccountInfo:
        """Encrypt and add one key (password already checked by the caller)."""
        address = Account.from_key(key).address
        self._ensure_new_address(address)
        clean_label(label, "")  # refuse a bad label before the expensive encryption
        text = keystore.keystore_json(keystore.encrypt_key(key, password))
        info = self._write_account(key, text, kind, hd_index, label)
        if self._keys is not None:
            self._keys[address] = key
        return info

    def _add_checked(
        self, key: bytes, password: str, kind: str, hd_index: int | None, label: str | None
    ) -> AccountInfo:
        with self._lock:
            if Vault.exists(self.home):
                self._check_password(password)
            else:
                _check_new_password(password)
            self._ensure_new_address(Account.from_key(key).address)
            info = self._add_key(key, password, kind, hd_index, label)
        self._emit(EVENT_ACCOUNTS)
        return info

    def import_private_key(self, key: str | bytes, password: str, label: str | None = None) -> AccountInfo:
        """Add a raw private key. In an empty home, `password` becomes the wallet's."""
        return self._add_checked(keys.parse_private_key(key), password, KIND_IMPORTED, None, label)

    def import_keystore(
        self, keystore_data: str | bytes, keystore_password: str, password: str, label: str | None = None
    ) -> AccountInfo:
        """Add the key from a v3 keystore (scrypt or pbkdf2), re-encrypted for this wallet."""
        key = keystore.decrypt_keystore(keystore_data, keystore_password, "The keystore file")
        return self._add_checked(key, password, KIND_IMPORTED, None, label)

    def add_hd_account(self, password: str, label: str | None = None) -> AccountInfo:
        """Derive the next HD account (highest index + 1) from the recovery phrase."""
        with self._lock:
            if not self.has_mnemonic:
                raise NotFound("This wallet has no recovery phrase; it holds imported keys only.")
            phrase = self._check_password(password)
            assert phrase is not None
            used = [a.hd_index for a in self.accounts() if a.kind == KIND_HD and a.hd_index is not None]
            index = max(used) + 1 if used else 0
            key = keys.derive_private_keys(phrase, [index])[0]
            info = self._add_key(key, password, KIND_HD, index, label)
        self._emit(EVENT_ACCOUNTS)
        return info

    def set_label(self, address: str, label: str) -> None:
        info = self.account(address)
        new_label = clean_label(label, info.label)
        with self._lock:
            self.store.upsert_account(info.address, new_label, info.kind, info.hd_index)
        self._emit(EVENT_ACCOUNTS)

    # -- backups -----------------------------------------------------------------------

    def export_keystore(
        self,
        address: str,
        password: str,
        out_path: str | os.PathLike[str],
        export_password: str | None = None,
    ) -> Path:
        """Write `address`'s key as a standard v3 keystore (scrypt) to `out_path`.

        The file is encrypted with `export_password`, by default the wallet password.
        """
        info = self.account(address)
        target = Path(out_path).expanduser()
        if target.is_dir():
            raise InvalidInput(f"{target} is a directory; give a file name.")
        if not target.parent.is_dir():
            raise NotFound(f"The folder {target.parent} does not exist.")
        with self._lock:
            key = self._decrypt_keystore_file(info.address, password)
            if export_password is not None:
                _check_new_password(export_password)
            text = keystore.keystore_json(keystore.encrypt_key(key, export_password or password))
            atomic_write_text(target, text)
        return target

    def reveal_mnemonic(self, password: str) -> str:
        """The recovery phrase, after checking the password."""
        with self._lock:
            if not self.has_mnemonic:
                raise NotFound("This wallet has no recovery phrase; it holds imported keys only.")
            phrase = self._check_password(password)
        assert phrase is not None
        return phrase

    # -- password change ---------------------------------------------------------------

    def change_password(self, old_password: str, new_password: str) -> None:
        """Re-encrypt every file under `new_password`, atomically as a whole."""
        _check_new_password(new_password)
        with self._lock:
            phrase, decrypted = self._decrypt_all(old_password)
            contents: dict[Path, bytes] = {}
            if phrase is not None:
                mnemonic_file = {
                    "format": MNEMONIC_FORMAT,
                    "version": 1,
                    "crypto": keystore.encrypt_secret(phrase.encode("utf-8"), new_password),
                }
                contents[self.mnemonic_path] = (json.dumps(mnemonic_file, indent=2) + "\n").encode()
            for address, key in decrypted.items():
                text = keystore.keystore_json(keystore.encrypt_key(key, new_password))
                contents[self._keystore_path(address)] = text.encode("utf-8")
            self._stage_and_commit(contents)
            try:
                self._recover_password_change()
            except OSError as exc:
                raise QuarryError(
                    "The new password is saved, but moving the files into place was "
                    f"interrupted ({exc.strerror or exc}); Quarry finishes it the next time "
                    "it opens this wallet."
                ) from exc
        self._emit(EVENT_PASSWORD)
        # A password remembered in the OS keyring must follow the change.
        from wallet import remember

        remember.password_changed(self.home, new_password)

    def _stage_and_commit(self, contents: dict[Path, bytes]) -> None:
        staged: list[Path] = []
        try:
            for target, data in contents.items():
                staged_path = target.with_name(target.name + STAGED_SUFFIX)
                atomic_write_bytes(staged_path, data)
                staged.append(staged_path)
            marker = {"files": [str(p.relative_to(self.home)) for p in contents]}
            atomic_write_text(self.home / COMMIT_MARKER, json.dumps(marker) + "\n")
        except BaseException:
            for path in staged:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise

    def _recover_password_change(self) -> None:
        """Finish a committed password change, or discard an uncommitted one."""
        with self._lock:
            marker_path = self.home / COMMIT_MARKER
            if marker_path.exists():
                try:
                    names = json.loads(marker_path.read_text(encoding="utf-8"))["files"]
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise QuarryError(f"{marker_path} is corrupt; the wallet cannot be opened safely.") from exc
                for name in names:
                    target = (self.home / name).resolve()
                    if self.home.resolve() not in target.parents:
                        raise QuarryError(f"{marker_path} names a file outside the wallet.")
                    staged_path = target.with_name(target.name + STAGED_SUFFIX)
                    if staged_path.exists():
                        os.replace(staged_path, target)
                for directory in {self.home, self.keystore_dir}:
                    _fsync_dir(directory)
                marker_path.unlink()
                _fsync_dir(self.home)
                log.info("Finished an interrupted password change in %s", self.home)
            for directory in (self.home, self.keystore_dir):
                if directory.is_dir():
                    for leftover in directory.glob("*" + STAGED_SUFFIX):
                        leftover.unlink()

    # -- events ------------------------------------------------------------------------

    def _emit(self, event: str) -> None:
        for callback in list(self.on_change):
            try:
                callback(event)
            except Exception:  # a broken listener must not break the wallet
                log.exception("on_change callback failed for event %s", event)


def _fsync_dir(directory: Path) -> None:
    # Makes renames durable; some platforms cannot open a directory, which is fine.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_new_password(password: str) -> None:
    if not isinstance(password, str) or password == "":
        raise InvalidInput("The password must not be empty.")
