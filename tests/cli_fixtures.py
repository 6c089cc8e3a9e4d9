"""Fixtures shared by the CLI tests against a real devnet: import them by name into the test
module (``from tests.cli_fixtures import devnet, fast_scrypt, home, run, wallet_files``); an
imported fixture belongs to the importing module and `fast_scrypt` is autouse there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tests.anvil import start_devnet
from wallet import keystore
from wallet.cli import main


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keystores with scrypt n = 4096 instead of 2**18: same code path, milliseconds."""
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "4096")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def devnet(home: Path) -> Iterator[Any]:
    with start_devnet(home / "devnet") as node:
        yield node


@pytest.fixture
def wallet_files(tmp_path: Path, home: Path) -> dict[str, Any]:
    """A fresh account imported into the wallet at `home` (password file `pw`)."""
    account = Account.create()
    (tmp_path / "pw").write_text("pw-1\n")
    (tmp_path / "key").write_text(account.key.hex() + "\n")
    assert run(home, "wallet", "import", "--private-key-file", str(tmp_path / "key"),
               "--password-file", str(tmp_path / "pw")) == 0
    return {"account": account, "pw": str(tmp_path / "pw")}


def run(home: Path, *argv: str) -> int:
    """`quarry --home HOME ARGV...` in-process; its exit code."""
    return main(["--home", str(home), *argv])
