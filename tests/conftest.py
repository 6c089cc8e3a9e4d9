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


@pytest.fixture
def seeded_dp_sgd(monkeypatch):
    """DP-SGD's sampling and noise from a seeded generator (the product draws them fresh and
    secret). For tests that walk the paid path through the default privacy mode: an honest
    owner at the default noise is paid in 99 % of the demo bounties' rounds, not all
    (docs/PROTOCOL.md, Privacy). (The zero pay two clean CI runs saw was another cause: the
    Rewards page read a round finalised after its event scan; `wallet.bounties.rewards` now
    reads the board at the scanned block.)"""
    import numpy as np

    import trainer.update as trainer_update

    real = trainer_update.train_dp_sgd

    def seeded(*args, rng=None, **kwargs):
        return real(*args, rng=rng if rng is not None else np.random.default_rng(20261201), **kwargs)

    monkeypatch.setattr(trainer_update, "train_dp_sgd", seeded)
