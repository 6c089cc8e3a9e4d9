""""Remember on this computer": the wallet password kept in the OS keyring via `keyring`.

Only the password goes into the keyring (service "Quarry", user name = a hash of the
home directory's path, so several homes do not collide), never a keystore or a key.

Which keyring: the one `keyring` selects (or the user configured). When that is the
"chainer" over whatever is installed, only backends `keyring` itself recommends
(priority >= 1: macOS Keychain, Windows Credential Locker, Secret Service, KWallet) count;
the file-based fallbacks of keyrings.alt are not used silently. When no backend is left
(typically headless Linux), `keyring_status()` says so plainly and Quarry asks for the
password instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError

from wallet.errors import QuarryError, WrongPassword

if TYPE_CHECKING:
    from wallet.vault import Vault

log = logging.getLogger(__name__)

SERVICE = "Quarry"
NO_KEYRING_MESSAGE = (
    "No system keyring is available on this computer; Quarry will ask for your password."
)


class KeyringStatus(NamedTuple):
    """Unpacks as (available, backend_name, message) too."""

    available: bool
    backend_name: str
    message: str


def _usable_backend() -> KeyringBackend | None:
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend):
        recommended = [b for b in backend.backends if b.priority >= 1]
        return recommended[0] if recommended else None
    return backend


def _describe(backend: KeyringBackend) -> str:
    name = getattr(backend, "name", type(backend).__name__)
    path = getattr(backend, "file_path", None)
    return f"{name} ({path})" if path else name


def keyring_status() -> KeyringStatus:
    """Whether a keyring can remember the password, which one, and a sentence for the user."""
    try:
        backend = _usable_backend()
    except Exception as exc:  # keyring backends raise many things while probing
        log.warning("keyring backend detection failed: %s", type(exc).__name__)
        backend = None
    if backend is None:
        return KeyringStatus(False, "", NO_KEYRING_MESSAGE)
    description = _describe(backend)
    message = f"Your password can be remembered in {description}."
    if "plaintext" in type(backend).__name__.lower():
        message += " This keyring stores it unencrypted in a file."
    return KeyringStatus(True, description, message)


def username_for(home: str | os.PathLike[str]) -> str:
    """The keyring user name of a home directory: SHA-256 of its absolute path."""
    return hashlib.sha256(str(Path(home).expanduser().resolve()).encode("utf-8")).hexdigest()[:32]


def _backend_or_raise() -> KeyringBackend:
    backend = _usable_backend()
    if backend is None:
        raise QuarryError(NO_KEYRING_MESSAGE)
    return backend


def remember_password(home: str | os.PathLike[str], password: str) -> None:
    """Keep the password in the keyring. Check it against the vault before calling this."""
    backend = _backend_or_raise()
    try:
        backend.set_password(SERVICE, username_for(home), password)
    except KeyringError as exc:
        raise QuarryError(f"The system keyring refused to store the password: {exc}") from exc


def recall_password(home: str | os.PathLike[str]) -> str | None:
    """The remembered password, or None (nothing stored, no keyring, or keyring error)."""
    backend = _usable_backend()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, username_for(home))
    except KeyringError as exc:
        log.warning("keyring read failed: %s", type(exc).__name__)
        return None


def is_remembered(home: str | os.PathLike[str]) -> bool:
    return recall_password(home) is not None


def forget_password(home: str | os.PathLike[str]) -> None:
    """Remove the remembered password, if any."""
    backend = _usable_backend()
    if backend is None:
        return
    try:
        if backend.get_password(SERVICE, username_for(home)) is not None:
            backend.delete_password(SERVICE, username_for(home))
    except KeyringError as exc:
        raise QuarryError(f"The system keyring refused to forget the password: {exc}") from exc


def password_changed(home: str | os.PathLike[str], new_password: str) -> None:
    """After a password change: replace a remembered password; never raises."""
    try:
        if recall_password(home) is not None:
            remember_password(home, new_password)
    except QuarryError as exc:
        log.warning("could not update the remembered password: %s", exc)


def unlock_with_remembered(vault: Vault) -> bool:
    """Unlock `vault` with the remembered password; False if none or it no longer works.

    A remembered password that is wrong (changed elsewhere) is forgotten.
    """
    password = recall_password(vault.home)
    if password is None:
        return False
    try:
        vault.unlock(password)
    except WrongPassword:
        forget_password(vault.home)
        return False
    return True
