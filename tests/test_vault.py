"""The vault: create/import/unlock/sign, backups, atomic password change, auto-lock."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from wallet_testing import VECTORS, fast_scrypt, snapshot  # noqa: F401 (fixture)

from wallet import keystore
from wallet.errors import InvalidInput, NotFound, QuarryError, WalletLocked, WrongPassword
from wallet.vault import COMMIT_MARKER, KIND_HD, KIND_IMPORTED, STAGED_SUFFIX, Vault

ANVIL = "test test test test test test test test test test test junk"
ANVIL_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
]
ANVIL_KEY_0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"


@pytest.fixture
def anvil_vault(tmp_path):
    vault, info = Vault.import_mnemonic(tmp_path / "home", ANVIL, "pw-1", 0, "main")
    yield vault
    vault.close()


def test_create_writes_standard_encrypted_files(tmp_path):
    home = tmp_path / "home"
    vault, phrase = Vault.create(home, "correct horse", words=24)
    try:
        assert len(phrase.split()) == 24
        assert vault.is_unlocked
        [account] = vault.accounts()
        assert (account.kind, account.hd_index, account.label) == (KIND_HD, 0, "Account 1")
        keystore_file = home / "keystores" / f"{account.address}.json"
        for path in (keystore_file, home / "mnemonic.json"):
            assert path.stat().st_mode & 0o777 == 0o600
        # A standard v3 file: eth-account alone opens it.
        key = Account.decrypt(json.loads(keystore_file.read_text()), "correct horse")
        assert Account.from_key(key).address == account.address
        everything = b"".join(snapshot(home).values())
        assert phrase.split()[0].encode() + b" " + phrase.split()[1].encode() not in everything
        assert vault.reveal_mnemonic("correct horse") == phrase
        with pytest.raises(InvalidInput, match="already in this wallet"):
            Vault.import_mnemonic(home, phrase, "correct horse")
        with pytest.raises(InvalidInput, match="already exists"):
            Vault.create(home, "correct horse")
    finally:
        vault.close()


def test_open_requires_a_wallet(tmp_path):
    with pytest.raises(NotFound, match="No wallet"):
        Vault.open(tmp_path)
    assert not Vault.exists(tmp_path)


def test_anvil_mnemonic_accounts_and_signing(anvil_vault):
    home = anvil_vault.home
    assert [a.address for a in anvil_vault.accounts()] == ANVIL_ADDRESSES[:1]
    second = anvil_vault.add_hd_account("pw-1", label="savings")
    assert (second.address, second.hd_index, second.label) == (ANVIL_ADDRESSES[1], 1, "savings")
    anvil_vault.close()

    vault = Vault.open(home)
    assert not vault.is_unlocked
    with pytest.raises(WalletLocked):
        vault.signer(ANVIL_ADDRESSES[0])
    with pytest.raises(WrongPassword):
        vault.unlock("nope")
    assert not vault.is_unlocked
    vault.unlock("pw-1")
    signer = vault.signer(ANVIL_ADDRESSES[1])
    assert signer.address == ANVIL_ADDRESSES[1]
    assert vault.signer(ANVIL_ADDRESSES[0]).key.hex().removeprefix("0x") == ANVIL_KEY_0
    with pytest.raises(NotFound):
        vault.signer(ANVIL_ADDRESSES[2])
    with pytest.raises(InvalidInput, match="checksum"):
        vault.signer(ANVIL_ADDRESSES[0].lower())
    vault.lock()
    with pytest.raises(WalletLocked):
        vault.signer(ANVIL_ADDRESSES[0])
    vault.close()


def test_import_mnemonic_at_index_into_empty_home(tmp_path):
    vault, info = Vault.import_mnemonic(tmp_path, ANVIL, "pw", account_index=2)
    assert info.address == ANVIL_ADDRESSES[2]
    assert info.hd_index == 2
    # The next HD account continues after the highest index.
    assert vault.add_hd_account("pw").hd_index == 3
    vault.close()


def test_imports_into_existing_wallet(anvil_vault):
    same_phrase = Vault.import_mnemonic(anvil_vault.home, ANVIL, "pw-1", account_index=2)[1]
    assert (same_phrase.kind, same_phrase.hd_index) == (KIND_HD, 2)
    other_phrase = Vault.import_mnemonic(
        anvil_vault.home, "abandon " * 11 + "about", "pw-1", account_index=0, label="old"
    )[1]
    assert other_phrase.kind == KIND_IMPORTED
    from_keystore = anvil_vault.import_keystore(json.dumps(VECTORS["pbkdf2"]), "testpassword", "pw-1")
    assert from_keystore.address == Account.from_key(bytes.fromhex(OTHER_KEY)).address
    # Re-encrypted under the wallet password with our scrypt setting.
    stored = json.loads((anvil_vault.home / "keystores" / f"{from_keystore.address}.json").read_text())
    assert stored["crypto"]["kdf"] == "scrypt"
    vault = Vault.open(anvil_vault.home)
    vault.unlock("pw-1")
    assert len(vault.accounts()) == 4
    assert vault.signer(from_keystore.address).key.hex().removeprefix("0x") == OTHER_KEY
    vault.close()


def test_bad_imports_change_nothing(anvil_vault):
    home = anvil_vault.home
    before = snapshot(home)
    with pytest.raises(WrongPassword):
        anvil_vault.import_private_key(OTHER_KEY, "wrong wallet password")
    with pytest.raises(InvalidInput, match="already in this wallet"):
        anvil_vault.import_private_key(ANVIL_KEY_0, "pw-1")
    with pytest.raises(WrongPassword):
        anvil_vault.import_keystore(json.dumps(VECTORS["pbkdf2"]), "wrong", "pw-1")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        anvil_vault.import_keystore("{oops", "testpassword", "pw-1")
    with pytest.raises(InvalidInput, match="wrong checksum"):
        Vault.import_mnemonic(home, "test " * 12, "pw-1")
    with pytest.raises(InvalidInput, match="control characters"):
        anvil_vault.import_private_key(OTHER_KEY, "pw-1", label="bad\nlabel")
    with pytest.raises(InvalidInput, match="private key"):
        anvil_vault.import_private_key("0x1234", "pw-1")
    assert snapshot(home) == before


def test_wallet_of_imported_keys_only(tmp_path):
    vault = Vault.load(tmp_path)
    assert vault.accounts() == []
    info = vault.import_private_key(OTHER_KEY, "pw", label="cold")
    assert Vault.exists(tmp_path)
    with pytest.raises(NotFound, match="no recovery phrase"):
        vault.reveal_mnemonic("pw")
    with pytest.raises(NotFound, match="no recovery phrase"):
        vault.add_hd_account("pw")
    with pytest.raises(WrongPassword):
        vault.import_private_key(ANVIL_KEY_0, "other")
    vault.unlock("pw")
    assert vault.signer(info.address).address == info.address
    vault.close()


def test_export_is_a_standard_keystore(anvil_vault, tmp_path):
    out = tmp_path / "backup.json"
    anvil_vault.export_keystore(ANVIL_ADDRESSES[0], "pw-1", out)
    assert out.stat().st_mode & 0o777 == 0o600
    assert bytes(Account.decrypt(json.loads(out.read_text()), "pw-1")).hex() == ANVIL_KEY_0
    anvil_vault.export_keystore(ANVIL_ADDRESSES[0], "pw-1", out, export_password="for metamask")
    assert bytes(Account.decrypt(out.read_text(), "for metamask")).hex() == ANVIL_KEY_0
    # And it re-imports into a fresh wallet.
    fresh = Vault.load(tmp_path / "fresh")
    assert fresh.import_keystore(out.read_text(), "for metamask", "new").address == ANVIL_ADDRESSES[0]
    fresh.close()
    before = out.read_bytes()
    with pytest.raises(WrongPassword):
        anvil_vault.export_keystore(ANVIL_ADDRESSES[0], "bad", out)
    with pytest.raises(NotFound):
        anvil_vault.export_keystore(ANVIL_ADDRESSES[1], "pw-1", out)
    with pytest.raises(NotFound, match="does not exist"):
        anvil_vault.export_keystore(ANVIL_ADDRESSES[0], "pw-1", tmp_path / "no" / "dir.json")
    assert out.read_bytes() == before


def test_reveal_mnemonic_needs_the_password(anvil_vault):
    assert anvil_vault.reveal_mnemonic("pw-1") == ANVIL
    with pytest.raises(WrongPassword):
        anvil_vault.reveal_mnemonic("pw-2")


def _opens_everything(home: Path, password: str) -> bool:
    vault = Vault.open(home)
    try:
        vault.unlock(password)
        for info in vault.accounts():
            vault.export_keystore(info.address, password, home.parent / "probe.json")
        return vault.reveal_mnemonic(password) == ANVIL
    except WrongPassword:
        return False
    finally:
        vault.close()


@pytest.fixture
def three_files_vault(anvil_vault):
    anvil_vault.add_hd_account("pw-1")
    anvil_vault.import_private_key(OTHER_KEY, "pw-1")
    return anvil_vault


def test_change_password(three_files_vault):
    home = three_files_vault.home
    events = []
    three_files_vault.on_change.append(events.append)
    three_files_vault.change_password("pw-1", "pw-2")
    assert events == ["password"]
    assert not (home / COMMIT_MARKER).exists()
    assert _opens_everything(home, "pw-2")
    assert not _opens_everything(home, "pw-1")
    before = snapshot(home)
    with pytest.raises(WrongPassword):
        three_files_vault.change_password("pw-1", "pw-3")
    with pytest.raises(InvalidInput, match="empty"):
        three_files_vault.change_password("pw-2", "")
    assert snapshot(home) == before


class _ReplaceFailsAt:
    """os.replace that raises on its n-th call (1-based), like a crash or a full disk."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.real = n, 0, os.replace

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls == self.n:
            raise OSError(28, "No space left on device")
        return self.real(src, dst)


@pytest.mark.parametrize("fail_at", [1, 3, 5])  # 4 files are staged, the marker is the 5th
def test_password_change_interrupted_before_commit_keeps_old_password(three_files_vault, monkeypatch, fail_at):
    home = three_files_vault.home
    before = snapshot(home)
    monkeypatch.setattr(os, "replace", _ReplaceFailsAt(fail_at))
    with pytest.raises(OSError):
        three_files_vault.change_password("pw-1", "pw-2")
    monkeypatch.undo()
    assert snapshot(home) == before
    assert _opens_everything(home, "pw-1")
    assert not _opens_everything(home, "pw-2")


@pytest.mark.parametrize("fail_at", [6, 8])  # after the marker: while moving files into place
def test_password_change_interrupted_after_commit_finishes_on_open(three_files_vault, monkeypatch, fail_at):
    home = three_files_vault.home
    monkeypatch.setattr(os, "replace", _ReplaceFailsAt(fail_at))
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")
    with pytest.raises(QuarryError, match="finishes it the next time"):
        three_files_vault.change_password("pw-1", "pw-2")
    monkeypatch.setattr(os, "replace", _ReplaceFailsAt(0))
    assert (home / COMMIT_MARKER).exists()
    assert _opens_everything(home, "pw-2")
    assert not (home / COMMIT_MARKER).exists()
    assert not list(home.rglob("*" + STAGED_SUFFIX))
    assert not _opens_everything(home, "pw-1")


def test_crash_leaving_staged_files_without_marker(three_files_vault, monkeypatch):
    """A hard crash before the commit leaves staged files behind; opening discards them."""
    home = three_files_vault.home
    monkeypatch.setattr(os, "replace", _ReplaceFailsAt(5))
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # no clean-up
    with pytest.raises(OSError):
        three_files_vault.change_password("pw-1", "pw-2")
    monkeypatch.undo()
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")
    assert len(list(home.rglob("*" + STAGED_SUFFIX))) == 4
    assert _opens_everything(home, "pw-1")
    assert not list(home.rglob("*" + STAGED_SUFFIX))


def test_auto_lock_and_events(anvil_vault):
    events = []
    anvil_vault.on_change.append(events.append)
    anvil_vault.store.set_setting("auto_lock_minutes", 1)
    anvil_vault.touch()
    start = anvil_vault._last_activity
    assert not anvil_vault.lock_if_idle(now=start + 59)
    assert anvil_vault.is_unlocked
    assert anvil_vault.lock_if_idle(now=start + 61)
    assert not anvil_vault.is_unlocked
    assert not anvil_vault.lock_if_idle(now=start + 600)
    anvil_vault.unlock("pw-1")
    anvil_vault.store.set_setting("auto_lock_minutes", 0)
    assert not anvil_vault.lock_if_idle(now=start + 10**6)
    anvil_vault.set_label(ANVIL_ADDRESSES[0], "renamed")
    assert anvil_vault.accounts()[0].label == "renamed"
    assert events == ["locked", "unlocked", "accounts"]


def test_broken_listener_does_not_break_the_vault(anvil_vault):
    def broken(event):
        raise RuntimeError("listener bug")

    anvil_vault.on_change.append(broken)
    anvil_vault.lock()
    assert not anvil_vault.is_unlocked


def test_signing_races_with_locking(anvil_vault):
    outcomes: list[str] = []
    message = encode_defunct(text="hello")

    def sign_many():
        for _ in range(60):
            try:
                signed = anvil_vault.signer(ANVIL_ADDRESSES[0]).sign_message(message)
                outcomes.append("signed" if len(signed.signature) == 65 else "bad signature")
            except WalletLocked:
                outcomes.append("locked")
            except Exception as exc:  # anything else is a thread-safety bug
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=sign_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        anvil_vault.lock()
        anvil_vault.unlock("pw-1")
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"signed", "locked"}
    assert len(outcomes) == 180


def test_with_block_locks_and_closes(anvil_vault):
    with Vault.open(anvil_vault.home) as vault:
        vault.unlock("pw-1")
        assert vault.signer(ANVIL_ADDRESSES[0]).address == ANVIL_ADDRESSES[0]
    assert not vault.is_unlocked
    with pytest.raises(WalletLocked):
        vault.signer(ANVIL_ADDRESSES[0])
