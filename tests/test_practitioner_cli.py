"""quarry-practitioner and quarry train on the command line: keygen, and bad input giving one
clear line with a non-zero exit and no traceback."""

from __future__ import annotations

import io
import json
import os
import socket
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
        (["keygen", "--password-file", "MISSING"], "The password file MISSING does not exist."),
        (["evaluate", "1", "0", "--rpc", "http://127.0.0.1:9", "--board", "0x" + "11" * 20],
         "Cannot reach"),
        (["post", "MISSING.json", "--validation", "v.csv", "--reward", "1", "--rounds", "1",
          "--round-seconds", "600", "--rpc", "http://127.0.0.1:9"], "--board"),
        (["post", "MISSING.json", "--validation", "v.csv", "--reward", "1", "--rounds", "1",
          "--round-seconds", "600"], "The spec file"),
        (["serve", "--port", "99999"], "--port 99999 is not a TCP port"),
        (["post", "SPEC", "--validation", "MISSING", "--reward", "1", "--rounds", "1",
          "--round-seconds", "600"], "Validation file problem: MISSING: no such file."),
        (["post", "SPEC", "--validation", "VALIDATION", "--reward", "1", "--rounds", "1",
          "--round-seconds", "600"], "No Paillier key at"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    (tmp_path / "PW").write_text("pw\n")
    named = {"PW": tmp_path / "PW", "MISSING": tmp_path / "MISSING",
             "SPEC": REPO / "resources" / "demo" / "wine_spec.json",
             "VALIDATION": REPO / "resources" / "demo" / "wine_validation.csv"}
    argv = [str(named[a]) if a in named else a for a in argv]
    message = message.replace("MISSING", str(tmp_path / "MISSING"))
    assert main([*argv, "--home", str(tmp_path / "home")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert not (tmp_path / "home" / "practitioner" / "paillier-key.json").exists()


def test_a_password_from_standard_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    home = tmp_path / "home"
    assert main(["keygen", "--bits", "512", "--password-file", "-", "--home", str(home)]) == 0
    assert load_private_key(home / "practitioner" / "paillier-key.json", "from stdin")
    assert "from stdin" not in capsys.readouterr().out


def test_serve_on_a_busy_port_is_one_line(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--home", str(tmp_path / "home")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot serve the inbox on 127.0.0.1:{port}: ") and err.count("\n") == 1
    assert "choose another --port" in err


def test_post_without_a_password_file_or_terminal_names_the_option(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115 - closed by pytest
    (tmp_path / "pw").write_text("pw\n")
    home = ["--home", str(tmp_path / "home")]
    assert main(["keygen", "--bits", "512", "--password-file", str(tmp_path / "pw"), *home]) == 0
    demo = REPO / "resources" / "demo"
    assert main(["post", str(demo / "wine_spec.json"), "--validation", str(demo / "wine_validation.csv"),
                 "--reward", "1", "--rounds", "1", "--round-seconds", "600", *home]) == 1
    err = capsys.readouterr().err
    assert err == ("error: The Paillier key password is needed: give --password-file F "
                   "(there is no terminal to ask on).\n")
    # a malformed spec or option is said before any password is asked for
    good = json.loads((demo / "wine_spec.json").read_text())
    wrong_features = {**good, "model": {**good["model"], "n_features": 12}}
    wrong_type = {**good, "training": {**good["training"], "epochs": "five"}}
    missing = {k: v for k, v in good.items() if k != "training"}
    for spec, message in (
        (wrong_features, "Spec field 'model.n_features' is 12; the schema has 13 feature columns."),
        (wrong_type, "Spec field 'training.epochs' must be an integer; got 'five'."),
        (missing, "Spec field 'training' is missing."),
    ):
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        assert main(["post", str(tmp_path / "spec.json"), "--validation", str(demo / "wine_validation.csv"),
                     "--reward", "1", "--rounds", "1", "--round-seconds", "600", *home]) == 1
        assert capsys.readouterr().err == f"error: {message}\n"
    assert main(["post", str(demo / "wine_spec.json"), "--validation", str(demo / "wine_validation.csv"),
                 "--reward", "1", "--rounds", "1", "--round-seconds", "30", *home]) == 1
    assert capsys.readouterr().err == "error: A round must last at least 60 seconds.\n"
    assert main(["post", str(demo / "wine_spec.json"), "--validation", str(demo / "digits_owner_a.csv"),
                 "--reward", "1", "--rounds", "1", "--round-seconds", "600", *home]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --validation: ") and "no column for 'alcohol', " in err


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
    (tmp_path / "mine.csv").write_text((REPO / "resources" / "demo" / "wine_owner_a.csv").read_text())
    train = subprocess.run(
        [sys.executable, "-m", "wallet.cli", "train", "1", "--data", str(tmp_path / "mine.csv"),
         "--dry-run", "--home", str(tmp_path / "owner")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert train.returncode != 0 and "Traceback" not in train.stderr
    assert "error: Cannot reach" in train.stderr and train.stderr.count("\n") == 1
    # a missing data file is said first, before the wallet or any node is asked
    missing = subprocess.run(
        [sys.executable, "-m", "wallet.cli", "train", "1", "--data", str(tmp_path / "mine.csv"),
         str(tmp_path / "none.csv"), "--home", str(tmp_path / "owner")],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    assert missing.stderr == f"error: Data file problem: {tmp_path / 'none.csv'}: no such file.\n"


def test_evaluate_lists_each_submissions_value_pay_factor_and_share():
    from practitioner.cli import contributor_lines

    a, b, c, d = ("0x" + k * 40 for k in "abcd")
    report = {"reward": "200", "rejected": [{"address": d, "reason": "zero update (free rider)"}],
              "contributors": [
                  {"address": a, "value": 0.0123, "stdErr": 0.004, "payFactor": 0.5, "amount": "50",
                   "scale": 0.25},
                  {"address": b, "value": 0.0, "stdErr": 0.0, "amount": "0", "copyOf": a},
                  {"address": c, "value": -0.001, "stdErr": 0.002, "amount": "0"}]}  # no factor: v2
    lines = contributor_lines(report, lambda amount: f"{amount} units")
    assert lines == [
        f"  {a}  value +0.01230 ± 0.00400  pay factor 0.50  scaled to 0.25  gets 50 units (25.0% of the round)",
        f"  {b}  copy of {a}: gets nothing",
        f"  {c}  value -0.00100 ± 0.00200  gets 0 units (0.0% of the round)",
        f"  {d}  rejected: zero update (free rider)"]
    # with copy proofs (valuation_rules 2): whether the copy's owner can fetch one
    assert contributor_lines(report, str, [b])[1] == f"  {b}  copy of {a}: gets nothing; its owner can fetch the copy proof"
    assert contributor_lines(report, str, [])[1].endswith(
        "no copy proof (more links from the original than a proof opens), so its owner's wallet will say Mismatch")


def test_evaluate_lists_the_closing_rounds_leftover_credits():
    from practitioner.cli import credit_lines

    a, b = ("0x" + k * 40 for k in "ab")
    assert credit_lines({"credits": {a: "300", b: "900"}}) == [
        f"  {b}  75.0% of the leftover", f"  {a}  25.0% of the leftover"]
    assert credit_lines({"credits": {}}) == [
        "  (no account has a leftover credit: the leftover goes by pay, or equally per submission)"]
    assert credit_lines({"contributors": []}) == []  # not the closing round


def test_warnings_print_as_one_warning_line_without_verbose():
    """`post`'s small-validation-set warning (a log record) reads like the CLI's other notes,
    not as a timestamped log line; -v keeps the timestamps for everything it adds."""
    import logging

    from practitioner.cli import _LevelFormatter

    record = logging.LogRecord("practitioner.post", logging.WARNING, __file__, 1,
                               "The validation set has %d rows", (44,), None)
    assert _LevelFormatter().format(record) == "warning: The validation set has 44 rows"


def test_serve_without_a_chain_names_the_network_this_homes_wallet_uses(tmp_path):
    """`post` and `run` default to the home's network, `serve` does not (an inbox without a
    chain is a choice): its banner names the network to give, when the home has a wallet."""
    from practitioner.cli import _home_network_hint
    from wallet.network import EMBEDDED
    from wallet.store import Store

    assert _home_network_hint(tmp_path) == ""  # no wallet here: nothing to name, and none is made
    assert not any(tmp_path.iterdir())
    Store(tmp_path).close()
    assert _home_network_hint(tmp_path) == f" {EMBEDDED}: the network this home's wallet uses, as post and run do"
