"""quarry-practitioner and quarry train on the command line: keygen, and bad input giving one
clear line with a non-zero exit and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from practitioner.cli import main
from practitioner.keys import load_private_key, load_public_key

REPO = Path(__file__).resolve().parents[1]


def test_keygen_writes_an_encrypted_key_and_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "pw").write_text("s3cret\n")
    home = tmp_path / "home"
    assert main(["keygen", "--bits", "512", "--password-file", str(tmp_path / "pw"), "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "512 bits" in out and "fingerprint" in out
    key_path = home / "practitioner" / "paillier-key.json"
    public_key = load_public_key(key_path)
    assert load_private_key(key_path, "s3cret").public_key.n == public_key.n
    assert "s3cret" not in key_path.read_text()
    assert main(["keygen", "--bits", "512", "--password-file", str(tmp_path / "pw"), "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err and err.count("\n") == 1
    assert load_public_key(key_path).n == public_key.n


@pytest.mark.parametrize(
    "argv, message",
    [
        (["keygen", "--bits", "100", "--password-file", "PW"], "at least 512"),
        (["keygen", "--password-file", "MISSING"], "Cannot read the password file"),
        (["evaluate", "1", "0", "--rpc", "http://127.0.0.1:9", "--board", "0x" + "11" * 20],
         "Cannot reach"),
        (["post", "MISSING.json", "--validation", "v.csv", "--reward", "1", "--rounds", "1",
          "--round-seconds", "600", "--rpc", "http://127.0.0.1:9"], "--board"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    (tmp_path / "PW").write_text("pw\n")
    argv = [str(tmp_path / a) if a in ("PW", "MISSING") else a for a in argv]
    assert main([*argv, "--home", str(tmp_path / "home")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert not (tmp_path / "home" / "practitioner" / "paillier-key.json").exists()


def test_console_scripts_exit_cleanly_on_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), QUARRY_HOME=str(tmp_path / "home"))
    practitioner = subprocess.run(
        [sys.executable, "-m", "practitioner", "finalize", "3", "0", "--home", str(tmp_path),
         "--rpc", "http://127.0.0.1:9", "--board", "0x" + "22" * 20],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert practitioner.returncode == 1
    assert practitioner.stderr.startswith("error: ") and "Traceback" not in practitioner.stderr
    # the owner's network is an unreachable node (so no embedded devnet gets started)
    from wallet.network import use_network
    from wallet.store import Store

    with Store(tmp_path / "owner") as store:
        use_network(store, "http://127.0.0.1:9", chain_id=31337, name="nowhere",
                    board="0x" + "33" * 20, token="0x" + "44" * 20)
    train = subprocess.run(
        [sys.executable, "-m", "wallet.cli", "train", "1", "--data", str(tmp_path / "none.csv"),
         "--dry-run", "--home", str(tmp_path / "owner")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert train.returncode != 0 and "Traceback" not in train.stderr
    assert "error: Cannot reach" in train.stderr and train.stderr.count("\n") == 1
