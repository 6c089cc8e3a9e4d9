"""Remember on this computer: a real keyring backend (keyrings.alt file), and no backend."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import chainer, fail
from keyrings.alt.file import PlaintextKeyring
from wallet_testing import (
    fast_scrypt,  # noqa: F401 (fixture)
    file_keyring_fixture,  # noqa: F401 (the file_keyring fixture)
)

from wallet import remember
from wallet.errors import QuarryError
from wallet.vault import Vault

KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def vault(tmp_path):
    vault = Vault.load(tmp_path / "home")
    vault.import_private_key(KEY, "pw-1")
    yield vault
    vault.close()


def test_status_names_the_backend(file_keyring):
    available, backend_name, message = remember.keyring_status()
    assert available
    assert file_keyring.file_path in backend_name
    assert "unencrypted" in message


def test_remember_recall_forget(file_keyring, vault, tmp_path):
    home = vault.home
    assert not remember.is_remembered(home)
    remember.remember_password(home, "pw-1")
    # Stored in the real backend's file, under the service name and a hashed user name.
    assert file_keyring.get_password("Quarry", remember.username_for(home)) == "pw-1"
    assert remember.recall_password(home) == "pw-1"
    assert remember.recall_password(tmp_path / "another-home") is None
    assert remember.unlock_with_remembered(vault)
    assert vault.is_unlocked
    remember.forget_password(home)
    assert not remember.is_remembered(home)
    vault.lock()
    assert not remember.unlock_with_remembered(vault)
    assert not vault.is_unlocked


def test_password_change_updates_the_remembered_password(file_keyring, vault):
    remember.remember_password(vault.home, "pw-1")
    vault.change_password("pw-1", "pw-2")
    assert remember.recall_password(vault.home) == "pw-2"
    vault.lock()
    assert remember.unlock_with_remembered(vault)


def test_stale_remembered_password_is_forgotten(file_keyring, vault):
    remember.remember_password(vault.home, "an old password")
    vault.lock()
    assert not remember.unlock_with_remembered(vault)
    assert not remember.is_remembered(vault.home)


def test_no_keyring_is_said_plainly(no_keyring, vault):
    status = remember.keyring_status()
    assert not status.available
    assert status.message == (
        "No system keyring is available on this computer; Quarry will ask for your password."
    )
    with pytest.raises(QuarryError, match="No system keyring"):
        remember.remember_password(vault.home, "pw-1")
    assert remember.recall_password(vault.home) is None
    assert not remember.unlock_with_remembered(vault)
    # A password change still works without a keyring.
    vault.change_password("pw-1", "pw-2")


def test_chainer_of_fallback_file_backends_only_counts_as_none(monkeypatch):
    """The automatic choice never silently falls back to keyrings.alt's file backends."""
    previous = keyring.get_keyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [PlaintextKeyring()])
    keyring.set_keyring(chainer.ChainerBackend())
    try:
        assert not remember.keyring_status().available
    finally:
        keyring.set_keyring(previous)
