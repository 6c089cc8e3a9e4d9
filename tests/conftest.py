"""Shared pytest set-up: offscreen Qt, an isolated QUARRY_HOME and a real keyring backend."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keystore-strength scrypt (n=2**18, ~256 MiB, ~1 s) is for users; tests use a weak n.
os.environ.setdefault("QUARRY_SCRYPT_N", "4096")

import pytest  # noqa: E402


@pytest.fixture
def quarry_home(tmp_path, monkeypatch):
    """A fresh data directory for one test, also exported as QUARRY_HOME."""
    home = tmp_path / "quarry-home"
    home.mkdir()
    monkeypatch.setenv("QUARRY_HOME", str(home))
    return home
