import os
import stat

import pytest

from common.atomic import atomic_write_bytes
from common.paths import data_home


def test_atomic_write_replaces_and_sets_mode(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_interrupted_atomic_write_keeps_previous_content(tmp_path, monkeypatch):
    target = tmp_path / "keystore.json"
    atomic_write_bytes(target, b"old")

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keystore.json"]


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("QUARRY_HOME", str(tmp_path / "env"))
    assert data_home() == (tmp_path / "env").resolve()
    assert data_home(tmp_path / "flag") == (tmp_path / "flag").resolve()
    assert (tmp_path / "flag").is_dir()
