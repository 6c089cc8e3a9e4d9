"""`quarry wallet ...`: the CLI contract, in-process and as a real subprocess.

Every bad-input path exits 1 with one `error: ...` line, no traceback, and leaves the data
directory byte-for-byte as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_account import Account
from wallet_testing import VECTORS, fast_scrypt, snapshot  # noqa: F401 (fixture)

import wallet.cli as cli
from wallet.cli import main

REPO = Path(__file__).resolve().parents[1]
ANVIL = "test test test test test test test test test test test junk"
ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_HEX = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
KEY_ADDRESS = Account.from_key(bytes.fromhex(KEY_HEX)).address


@pytest.fixture
def files(tmp_path):
    """Input files a user would prepare."""
    paths = {
        "pw": "pw-1\n",
        "pw2": "pw-2\n",
        "wrong": "not the password\n",
        "empty": "",
        "mnemonic": ANVIL + "\n",
        "bad_mnemonic": "test " * 12 + "\n",
        "key": "0x" + KEY_HEX + "\n",
        "bad_key": "0x1234\n",
        "pbkdf2": json.dumps(VECTORS["pbkdf2"]),
        "vector_pw": "testpassword\n",
        "corrupt": '{"version": 3, "crypto": ',
        "foreign": json.dumps({"name": "shopping list", "items": ["eggs"]}),
    }
    out = {}
    for name, text in paths.items():
        out[name] = tmp_path / f"{name}.txt"
        out[name].write_text(text)
    out["missing"] = tmp_path / "does-not-exist.txt"
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path, files, capsys):
    """A wallet made from the anvil mnemonic (account 0) plus an imported key."""
    home = tmp_path / "home"
    code, out, _err = run(capsys, "--home", home, "wallet", "import", "--mnemonic-file", files["mnemonic"],
                          "--password-file", files["pw"], "--label", "main")
    # a restored account is told how to check its earlier rounds again
    assert code == 0 and out.splitlines()[-1] == ("If it sent updates from another computer, 'quarry recover-sent' "
                                                  "gets back what checks the copy claims and openings of their rounds.")
    assert run(capsys, "wallet", "import", "--private-key-file", files["key"],
               "--password-file", files["pw"], "--home", home)[0] == 0
    return home


def test_create_prints_address_and_mnemonic_once(tmp_path, files, capsys):
    home = tmp_path / "new"
    code, out, err = run(capsys, "wallet", "create", "--words", "24", "--password-file", files["pw"],
                         "--home", home, "--json")
    assert code == 0, err
    created = json.loads(out)
    assert len(created["mnemonic"].split()) == 24
    assert "Write these words down" in created["warning"]
    code, out, _ = run(capsys, "wallet", "list", "--json", "--home", home)
    assert json.loads(out) == [{"address": created["address"], "label": "Account 1", "kind": "hd", "hd_index": 0}]
    assert created["mnemonic"] not in out
    code, out, _ = run(capsys, "wallet", "reveal-mnemonic", "--password-file", files["pw"], "--home", home)
    assert out.strip() == created["mnemonic"]
    code, out, err = run(capsys, "wallet", "create", "--password-file", files["pw"], "--home", home)
    assert code == 1 and "already exists" in err


def test_list_add_account_label(home, files, capsys):
    code, out, _ = run(capsys, "wallet", "add-account", "--label", "second", "--password-file", files["pw"], "--home", home)
    assert code == 0 and ANVIL_1 in out
    run(capsys, "wallet", "set-label", "--address", KEY_ADDRESS, "--label", "cold", "--home", home)
    code, out, _ = run(capsys, "--home", home, "wallet", "list")
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ADDRESS", "KIND", "LABEL"]
    assert lines[1].split() == [ANVIL_0, "hd", "#0", "main"]
    assert lines[2].split() == [ANVIL_1, "hd", "#1", "second"]
    assert lines[3].split() == [KEY_ADDRESS, "imported", "cold"]


def test_empty_home_lists_nothing(tmp_path, capsys):
    code, out, _ = run(capsys, "wallet", "list", "--json", "--home", tmp_path / "empty")
    assert (code, json.loads(out)) == (0, [])


def test_export_then_import_elsewhere(home, files, tmp_path, capsys):
    out_file = tmp_path / "backup.json"
    code, out, err = run(capsys, "wallet", "export", "--address", ANVIL_0, "--out", out_file,
                         "--password-file", files["pw"], "--home", home)
    assert code == 0, err
    assert Account.decrypt(out_file.read_text(), "pw-1").hex().removeprefix("0x") == (
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    )
    other = tmp_path / "other"
    code, out, err = run(capsys, "wallet", "import", "--keystore", out_file, "--keystore-password-file",
                         files["pw"], "--password-file", files["pw2"], "--home", other, "--json")
    assert code == 0, err
    assert json.loads(out)["address"] == ANVIL_0


def test_import_pbkdf2_keystore_and_mnemonic_index(home, files, capsys):
    code, out, err = run(capsys, "wallet", "import", "--keystore", files["pbkdf2"], "--keystore-password-file",
                         files["vector_pw"], "--password-file", files["pw"], "--home", home, "--json")
    assert code == 1 and "already in this wallet" in err  # the vector's key is the imported one
    code, out, err = run(capsys, "wallet", "import", "--mnemonic-file", files["mnemonic"], "--account-index", "2",
                         "--password-file", files["pw"], "--home", home, "--json")
    assert code == 0, err
    assert json.loads(out) == {"address": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
                               "label": "Account 3", "kind": "hd", "hd_index": 2}


def test_change_password(home, files, capsys):
    code, out, err = run(capsys, "wallet", "change-password", "--password-file", files["pw"],
                         "--new-password-file", files["pw2"], "--home", home)
    assert code == 0, err
    assert "3 encrypted files" in out
    assert run(capsys, "wallet", "reveal-mnemonic", "--password-file", files["pw2"], "--home", home)[0] == 0
    assert run(capsys, "wallet", "reveal-mnemonic", "--password-file", files["pw"], "--home", home)[0] == 1


BAD_INPUTS = [
    # (argv after "wallet", expected message fragment)
    (["export", "--address", ANVIL_0, "--out", "{tmp}/x.json", "--password-file", "{wrong}"], "Wrong password"),
    (["export", "--address", ANVIL_0.lower(), "--out", "{tmp}/x.json", "--password-file", "{pw}"], "no EIP-55 checksum"),
    (["export", "--address", ANVIL_0[:2] + ANVIL_0[2].swapcase() + ANVIL_0[3:], "--out", "{tmp}/x.json",
      "--password-file", "{pw}"], "wrong EIP-55 checksum"),
    (["export", "--address", ANVIL_1, "--out", "{tmp}/x.json", "--password-file", "{pw}"], "No account"),
    (["export", "--address", ANVIL_0, "--out", "{tmp}/no/such/dir/x.json", "--password-file", "{pw}"], "does not exist"),
    (["export", "--address", ANVIL_0, "--out", "{tmp}/x.json", "--password-file", "{missing}"], "does not exist"),
    (["export", "--address", ANVIL_0, "--out", "{tmp}/x.json", "--password-file", "{empty}"], "is empty"),
    (["import", "--mnemonic-file", "{bad_mnemonic}", "--password-file", "{pw}"], "wrong checksum"),
    (["import", "--mnemonic-file", "{missing}", "--password-file", "{pw}"], "does not exist"),
    (["import", "--mnemonic-file", "{mnemonic}", "--account-index", "1", "--password-file", "{wrong}"], "Wrong password"),
    (["import", "--keystore", "{corrupt}", "--password-file", "{pw}"], "not valid JSON"),
    (["import", "--keystore", "{foreign}", "--password-file", "{pw}"], "not an Ethereum keystore"),
    (["import", "--keystore", "{pbkdf2}", "--keystore-password-file", "{wrong}", "--password-file", "{pw}"], "Wrong password"),
    (["import", "--private-key-file", "{bad_key}", "--password-file", "{pw}"], "64 hexadecimal digits"),
    (["import", "--private-key-file", "{key}", "--account-index", "3", "--password-file", "{pw}"], "only applies"),
    (["add-account", "--password-file", "{wrong}"], "Wrong password"),
    (["reveal-mnemonic", "--password-file", "{wrong}"], "Wrong password"),
    (["change-password", "--password-file", "{wrong}", "--new-password-file", "{pw2}"], "Wrong password"),
    (["change-password", "--password-file", "{pw}", "--new-password-file", "{empty}"], "is empty"),
    (["set-label", "--address", ANVIL_0, "--label", "tab\there"], "control characters"),
    (["set-label", "--address", ANVIL_0.lower(), "--label", "cold"], "no EIP-55 checksum"),
    (["create", "--password-file", "{pw}"], "already exists"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[f"{a[0]}-{m}" for a, m in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_changes_nothing(home, files, tmp_path, capsys, argv, message):
    names = {name: str(path) for name, path in files.items()}
    argv = [a.format(tmp=tmp_path, **names) for a in argv]
    before = snapshot(home)
    code, out, err = run(capsys, "wallet", *argv, "--home", home)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert snapshot(home) == before
    assert not (tmp_path / "x.json").exists()


def test_bad_input_into_empty_home_creates_no_wallet(tmp_path, files, capsys):
    home = tmp_path / "fresh"
    for argv in (["import", "--keystore", files["foreign"], "--password-file", files["pw"]],
                 ["import", "--mnemonic-file", files["bad_mnemonic"], "--password-file", files["pw"]],
                 ["create", "--password-file", files["empty"]]):
        code, _, err = run(capsys, "wallet", *argv, "--home", home)
        assert code == 1 and err.startswith("error: ")
    assert snapshot(home) == {}


def test_usage_errors_exit_2(capsys, tmp_path):
    for argv in (["wallet"], ["wallet", "create", "--words", "18"], ["wallet", "import"],
                 ["wallet", "export", "--address", ANVIL_0]):
        with pytest.raises(SystemExit) as info:
            main(argv + ["--home", str(tmp_path)])
        assert info.value.code == 2
        assert "usage:" in capsys.readouterr().err


def test_command_modules_can_extend_the_wallet_group(tmp_path, monkeypatch, capsys):
    plugin = tmp_path / "quarry_test_plugin.py"
    plugin.write_text(textwrap.dedent("""
        def register(subparsers, groups):
            balance = groups["wallet"].add_parser("balance")
            balance.set_defaults(func=lambda args: print("balance of", args.home) or 0)
    """))
    broken = tmp_path / "quarry_broken_plugin.py"
    broken.write_text("import quarry_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES",
                        ["wallet.cli.wallet_cmd", "quarry_test_plugin"])
    code, out, _ = run(capsys, "wallet", "balance", "--home", tmp_path)
    assert code == 0 and out.strip() == f"balance of {tmp_path}"
    # A module that fails to import is a real bug: it is not silently skipped.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["wallet.cli.wallet_cmd", "quarry_broken_plugin"])
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()


def test_a_message_listing_problems_is_one_error_line(tmp_path, monkeypatch, capsys):
    """A data error lists its problems on lines of their own; the CLI prints one line."""
    plugin = tmp_path / "quarry_data_plugin.py"
    plugin.write_text(textwrap.dedent("""
        from trainer.errors import DataError

        def fail(args):
            raise DataError("Your data does not match the bounty's schema (2 problem(s)):\\n"
                            "- row 2: x is empty\\n- row 3: y is not a number")

        def register(subparsers, groups):
            groups["wallet"].add_parser("check").set_defaults(func=fail)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["wallet.cli.wallet_cmd", "quarry_data_plugin"])
    code, out, err = run(capsys, "wallet", "check", "--home", tmp_path)
    assert code == 1 and out == ""
    assert err == ("error: Your data does not match the bounty's schema (2 problem(s)): "
                   "row 2: x is empty; row 3: y is not a number\n")


# -- as a real process: the console-script path, stdin passwords, QUARRY_HOME ---------------


def quarry(*argv, env_home=None, stdin=""):
    env = {**os.environ, "QUARRY_SCRYPT_N": "4096", "PYTHONPATH": str(REPO)}
    env.pop("QUARRY_HOME", None)
    if env_home is not None:
        env["QUARRY_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "wallet.cli", *map(str, argv)], input=stdin,
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)


def test_subprocess_round_trip_with_stdin_password_and_env_home(tmp_path):
    home = tmp_path / "home"
    created = quarry("wallet", "create", "--password-file", "-", "--json", env_home=home, stdin="pw-1\n")
    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]
    out_file = tmp_path / "exported.json"
    exported = quarry("--home", home, "wallet", "export", "--address", address, "--out", out_file,
                      "--password-file", "-", stdin="pw-1\n")
    assert exported.returncode == 0, exported.stderr
    assert Account.from_key(Account.decrypt(out_file.read_text(), "pw-1")).address == address


def test_export_does_not_replace_a_file_unless_forced(home, files, tmp_path, capsys):
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes\n")
    code, _, err = run(capsys, "wallet", "export", "--address", ANVIL_0, "--out", precious,
                       "--password-file", files["pw"], "--home", home)
    assert code == 1 and err == f"error: {precious} already exists; choose another file or pass --force to replace it.\n"
    assert precious.read_text() == "my notes\n"
    code, _, err = run(capsys, "wallet", "export", "--address", ANVIL_0, "--out", precious,
                       "--password-file", files["pw"], "--home", home, "--force")
    assert code == 0, err
    assert Account.from_key(Account.decrypt(precious.read_text(), "pw-1")).address == ANVIL_0


def test_a_home_that_cannot_be_a_directory_is_one_clear_line(tmp_path, files):
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("x")
    for home in (a_file, a_file / "below"):
        result = quarry("wallet", "list", "--home", home)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: Cannot use {home} as the Quarry data directory: ")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert a_file.read_text() == "x"


def test_standard_input_gives_one_secret_per_run(home, files, tmp_path):
    before = snapshot(home)
    both = quarry("wallet", "import", "--keystore", files["pbkdf2"], "--password-file", "-",
                  "--keystore-password-file", "-", "--home", home, stdin="pw-1\ntestpassword\n")
    assert both.returncode == 1
    assert both.stderr == "error: Standard input was already used; give the keystore password as a file.\n"
    assert snapshot(home) == before


def test_subprocess_bad_input_has_no_traceback(home, files, tmp_path):
    before = snapshot(home)
    bad_checksum = quarry("wallet", "export", "--address", ANVIL_0.lower(), "--out", tmp_path / "x.json",
                          "--password-file", files["pw"], "--home", home)
    missing = quarry("wallet", "import", "--private-key-file", files["missing"], "--home", home)
    for result in (bad_checksum, missing):
        assert result.returncode == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert "does not exist" in missing.stderr
    assert snapshot(home) == before


# -- at a real terminal: prompts and Ctrl-C, through a pseudo-terminal ----------------------


class Terminal:
    """`python -m wallet.cli ...` attached to a pseudo-terminal, as a person runs it."""

    def __init__(self, *argv) -> None:
        import pty

        env = {**os.environ, "QUARRY_SCRYPT_N": "4096", "PYTHONPATH": str(REPO)}
        env.pop("QUARRY_HOME", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its controlling terminal is the pty
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "wallet.cli", *map(str, argv)], env)
        self.output = ""

    def _read(self, deadline: float) -> bool:
        """Append what the process wrote; False once it closed the terminal or time is up."""
        import select
        import time

        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # Linux: EIO once the child closed the terminal
            return False
        self.output += chunk.decode("utf-8", "replace")
        return bool(chunk)

    def read_until(self, text: str, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while text not in self.output and self._read(deadline):
            pass
        assert text in self.output, self.output

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_code(self, timeout: float = 30) -> int:
        """Wait for the process to end, keeping what it still writes; kill it if it hangs."""
        import signal
        import time

        deadline = time.monotonic() + timeout
        while self._read(deadline):
            pass
        if time.monotonic() >= deadline:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        assert time.monotonic() < deadline, f"still running after {timeout} s: {self.output!r}"
        return os.waitstatus_to_exitcode(status)


def test_empty_password_at_the_prompt_is_refused_before_the_repeat(tmp_path):
    terminal = Terminal("--home", tmp_path / "home", "wallet", "create")
    terminal.read_until("New wallet password:")
    terminal.type("\r")
    assert terminal.exit_code() == 1
    assert "error: The password is empty." in terminal.output
    assert "Repeat" not in terminal.output
    assert not (tmp_path / "home" / "mnemonic.json").exists()


def test_ctrl_c_at_a_prompt_is_one_line_on_its_own_and_exit_130(tmp_path, files):
    home = tmp_path / "home"
    terminal = Terminal("--home", home, "wallet", "create")
    terminal.read_until("New wallet password:")
    terminal.type("\x03")  # Ctrl-C: the terminal sends SIGINT
    assert terminal.exit_code() == cli.EXIT_INTERRUPTED == 130
    lines = [line.strip() for line in terminal.output.splitlines()]
    assert "error: interrupted" in lines, terminal.output  # not glued to the prompt
    assert "Traceback" not in terminal.output
    assert not (home / "mnemonic.json").exists() and not (home / "keystores").exists()
