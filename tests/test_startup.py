"""Commands that need no chain start fast: `quarry --help` and `quarry wallet list` load none of
web3, eth-account (its BLS pairing code alone takes about half a second), py-evm or eth-tester,
nor the trainer's numerics. The times themselves are measured by benchmarks/startup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("web3", "eth_account", "eth_keyfile", "py_ecc", "eth", "eth_tester", "eth_abi", "devnet",
         "trainer", "scipy", "dp_accounting", "PySide6", "keyring", "requests", "numpy", "sqlite_utils")

PROBE = """
import json, sys
from wallet.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits 0 through argparse
    code = exc.code
loaded = sorted({m.split('.')[0] for m in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _loaded_by(*argv: str, home: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QUARRY_SCRYPT_N": "1024"}
    result = subprocess.run([sys.executable, "-c", PROBE, "--home", str(home), *argv], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    return [name for name in report["loaded"] if name in HEAVY]


@pytest.fixture
def home_with_wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUARRY_SCRYPT_N", "1024")
    from wallet.vault import Vault

    vault, _phrase = Vault.create(tmp_path / "home", "a password for the test")
    vault.close()
    return tmp_path / "home"


def test_import_wallet_cli_is_light():
    code = "import sys, wallet.cli; print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert [name for name in out.strip().split(",") if name in HEAVY] == []


def test_help_and_wallet_list_load_no_chain_code(home_with_wallet: Path):
    assert _loaded_by("--help", home=home_with_wallet) == []
    assert _loaded_by("wallet", "--help", home=home_with_wallet) == []
    assert _loaded_by("wallet", "list", home=home_with_wallet) == []
    assert _loaded_by("wallet", "list", "--json", home=home_with_wallet) == []


FIRST_WINDOW = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from ui.app import build_window
app = QApplication(sys.argv[:1])
window = build_window(Path(sys.argv[1]), app, start_network=False)
window.show()
app.processEvents()
print(",".join(sorted({m.split('.')[0] for m in sys.modules})))
"""


def test_the_apps_first_window_loads_no_chain_code(home_with_wallet: Path):
    """The window (lock screen, pages built) comes up before web3 or eth-account is loaded:
    the network is reached in the background, which loads them off the GUI thread."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", FIRST_WINDOW, str(home_with_wallet)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    loaded = set(out.strip().splitlines()[-1].split(","))
    assert loaded & {"web3", "eth_account", "eth_keyfile", "py_ecc", "eth", "eth_tester", "devnet",
                     "practitioner"} == set()
