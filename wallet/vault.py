"""The vault: a person's accounts, encrypted at rest, unlocked in memory.

Files under the home directory (all mode 0600, written atomically):

- `keystores/<EIP-55 address>.json` (wallet.keystore_folder): one Web3 Secret Storage v3
  file per account (scrypt), the standard format geth, MetaMask and eth-account read.
- `mnemonic.json` (wallet.mnemonic_file): the BIP-39 recovery phrase, when the wallet has
  one, encrypted under the same password as the keystores.
- `quarry.db` (wallet.store): labels, kind ("hd" or "imported") and HD index per account.

One password opens everything. Operations that write encrypted files (create, import, add
account, export, change password) take the password, because the vault never keeps it;
unlocking keeps only the private keys in memory, until `lock()` or the idle timeout.

Changing the password is atomic as a whole (wallet.vault_journal): after a crash at any
point, either the old or the new password opens everything.

Thread-safety: one re-entrant lock guards the secrets and the files; `on_change`
callbacks run on whatever thread made the change, after the lock is released.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from common.atomic import atomic_write_bytes, atomic_write_text
from wallet import keys, keystore, vault_journal
from wallet.account_info import KIND_HD, KIND_IMPORTED, MAX_LABEL_LENGTH, AccountInfo, clean_label
from wallet.errors import InvalidInput, NotFound, QuarryError, WalletLocked, WrongPassword
from wallet.keystore_folder import KEYSTORE_DIR, KeystoreFolder
from wallet.mnemonic_file import MNEMONIC_FILE, MNEMONIC_FORMAT, decrypt_mnemonic, encrypt_mnemonic
from wallet.store import Store
from wallet.vault_journal import COMMIT_MARKER, STAGED_SUFFIX

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# Names that lived here before the vault was split into modules stay importable from here.
__all__ = [
    "COMMIT_MARKER", "EVENT_ACCOUNTS", "EVENT_LOCKED", "EVENT_PASSWORD", "EVENT_UNLOCKED",
    "KEYSTORE_DIR", "KIND_HD", "KIND_IMPORTED", "MAX_LABEL_LENGTH", "MNEMONIC_FILE",
    "MNEMONIC_FORMAT", "STAGED_SUFFIX", "AccountInfo", "Vault", "clean_label",
]

log = logging.getLogger(__name__)


# Events passed to on_change callbacks.
EVENT_UNLOCKED = "unlocked"
EVENT_LOCKED = "locked"
EVENT_ACCOUNTS = "accounts"
EVENT_PASSWORD = "password"


class Vault:
    """The accounts in one Quarry home directory. Use Vault.open / Vault.load / Vault.create."""

    def __init__(self, home: str | os.PathLike[str], store: Store | None = None) -> None:
        self.home = Path(home)
        self._keystores = KeystoreFolder(self.home)
        self.keystore_dir = self._keystores.directory
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
        return KeystoreFolder(home).has_any()

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
                vault._keystores.ensure_absent(keys.address_of(key))
                mnemonic_bytes = encrypt_mnemonic(phrase, password)
                keystore_text = keystore.keystore_json(keystore.encrypt_key(key, password))
                vault.home.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write_bytes(vault.mnemonic_path, mnemonic_bytes)
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

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    @property
    def has_mnemonic(self) -> bool:
        return self.mnemonic_path.exists()

    def accounts(self) -> list[AccountInfo]:
        """Every account with a keystore file: HD ones by index, then imported ones."""
        with self._lock:
            on_disk = set(self._keystores.names())  # the store's addresses are checksummed
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
            listed.extend(AccountInfo(a, "", KIND_IMPORTED, None) for a in sorted(on_disk)
                          if keys.is_checksum_address(a))
            return listed

    def account(self, address: str) -> AccountInfo:
        wanted = keys.parse_address(address)
        for info in self.accounts():
            if info.address == wanted:
                return info
        raise NotFound(f"No account {wanted} in this wallet.")

    # -- password checks and decryption ------------------------------------------------

    def _decrypt_mnemonic(self, password: str) -> str:
        return decrypt_mnemonic(self.mnemonic_path, password)

    def _check_password(self, password: str) -> str | None:
        """Verify the wallet password (one KDF run); return the phrase if there is one."""
        self._recover_password_change()
        if not isinstance(password, str) or not password:
            raise WrongPassword("Wrong password for this wallet.")
        if self.has_mnemonic:
            return self._decrypt_mnemonic(password)
        addresses = self._keystores.addresses()
        if not addresses:
            raise NotFound(f"No wallet in {self.home}.")
        self._keystores.decrypt(addresses[0], password)
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
                if keys.address_of(key) == info.address:
                    decrypted[info.address] = key
        for info in accounts:
            if info.address not in decrypted:
                decrypted[info.address] = self._keystores.decrypt(info.address, password)
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
            return keys.account_from_private_key(key)

    # -- adding accounts ---------------------------------------------------------------

    def _write_account(
        self, key: bytes, keystore_text: str, kind: str, hd_index: int | None, label: str | None
    ) -> AccountInfo:
        address = keys.address_of(key)
        default = f"Account {hd_index + 1}" if kind == KIND_HD else "Imported account"
        info = AccountInfo(address, clean_label(label, default), kind, hd_index)
        # Key first: a crash before the metadata row leaves a listed, usable account.
        self._keystores.write(address, keystore_text)
        self.store.upsert_account(info.address, info.label, info.kind, info.hd_index)
        return info

    def _add_key(
        self, key: bytes, password: str, kind: str, hd_index: int | None, label: str | None
    ) -> AccountInfo:
        """Encrypt and add one key (password already checked by the caller)."""
        address = keys.address_of(key)
        self._keystores.ensure_absent(address)
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
            self._keystores.ensure_absent(keys.address_of(key))
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
            key = self._keystores.decrypt(info.address, password)
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
                contents[self.mnemonic_path] = encrypt_mnemonic(phrase, new_password)
            for address, key in decrypted.items():
                text = keystore.keystore_json(keystore.encrypt_key(key, new_password))
                contents[self._keystores.path(address)] = text.encode("utf-8")
            vault_journal.stage_and_commit(self.home, contents)
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

    def _recover_password_change(self) -> None:
        """Finish a committed password change, or discard an uncommitted one."""
        with self._lock:
            vault_journal.recover(self.home, (self.home, self.keystore_dir))

    # -- events ------------------------------------------------------------------------

    def _emit(self, event: str) -> None:
        for callback in list(self.on_change):
            try:
                callback(event)
            except Exception:  # a broken listener must not break the wallet
                log.exception("on_change callback failed for event %s", event)


def _check_new_password(password: str) -> None:
    if not isinstance(password, str) or password == "":
        raise InvalidInput("The password must not be empty.")
