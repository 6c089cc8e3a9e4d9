"""Helpers shared by the wallet-core tests (vault, CLI): import them by name.

``from wallet_testing import fast_scrypt, snapshot``: pytest puts tests/ on sys.path, so
this works under both `pytest` and `python -m pytest`. An imported fixture belongs to the
importing module; `fast_scrypt` is autouse there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wallet import keystore

VECTORS = json.loads((Path(__file__).parent / "vectors" / "web3_secret_storage_v3.json").read_text())


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch):
    """Keystores with scrypt n = 4096 instead of 2**18: same code path, milliseconds."""
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")


def snapshot(home: Path) -> dict[str, bytes]:
    """Every file's bytes (SQLite's transient -wal/-shm files excluded)."""
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture(name="file_keyring")  # import file_keyring_fixture; request file_keyring
def file_keyring_fixture(tmp_path):
    """A real keyring backend (keyrings.alt's file backend) in the test's directory."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
