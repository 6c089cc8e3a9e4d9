"""Helpers shared by the CLI command modules: home, secrets, output, the vault.

Secrets never come as plain arguments: a `--...-file F` option names a file (its first
line is the password; `-` reads one line from standard input), otherwise the user is
prompted without echo (twice for a new password).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from common.paths import data_home
from wallet.errors import InvalidInput, NotFound

# -- options -----------------------------------------------------------------------------


def add_password_file_option(
    parser: argparse.ArgumentParser,
    flag: str = "--password-file",
    help_text: str = "file whose first line is the wallet password ('-' = standard input); "
    "default: prompt",
) -> None:
    parser.add_argument(flag, metavar="F", help=help_text)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def home_from(args: argparse.Namespace) -> Path:
    """The data directory: --home, else $QUARRY_HOME, else the per-user data directory."""
    try:
        return data_home(getattr(args, "home", None))
    except OSError as exc:  # a file in the way, a missing or read-only parent
        where = exc.filename or getattr(args, "home", None) or "the data directory"
        reason = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise InvalidInput(f"Cannot use {where} as the Quarry data directory: {reason}.") from exc


# -- reading files and secrets -----------------------------------------------------------

_stdin_consumed = False


def reset_stdin() -> None:
    """Forget that standard input was read (each main() call starts afresh)."""
    global _stdin_consumed
    _stdin_consumed = False


def _read_stdin_line() -> str:
    line = sys.stdin.readline()
    if line == "":
        raise InvalidInput("Standard input ended before a password was read.")
    return line


def read_text_file(path: str, what: str) -> str:
    """The whole text of `path` ('-' = all of standard input); clear errors, no traceback."""
    global _stdin_consumed
    if path == "-":
        if _stdin_consumed:
            raise InvalidInput(f"Standard input was already used; give the {what} as a file.")
        _stdin_consumed = True
        return sys.stdin.read()
    file = Path(path).expanduser()
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"The {what} file {path} does not exist.") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"The {what} file {path} is a directory.") from exc
    except PermissionError as exc:
        raise InvalidInput(f"The {what} file {path} cannot be read (permission denied).") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The {what} file {path} is not UTF-8 text.") from exc
    except OSError as exc:
        raise InvalidInput(f"The {what} file {path} cannot be read: {exc.strerror}.") from exc


def read_secret(
    path_or_dash: str | None,
    prompt: str,
    *,
    confirm: bool = False,
    what: str = "password",
) -> str:
    """A password from a file (first line), '-' (one line of stdin), or a no-echo prompt.

    With `confirm`, a prompted secret is asked twice and must match.
    """
    global _stdin_consumed
    if path_or_dash == "-":
        # One secret per run from stdin: with two, which line is which would be a guess.
        if _stdin_consumed:
            raise InvalidInput(f"Standard input was already used; give the {what} as a file.")
        _stdin_consumed = True
        secret = _read_stdin_line().rstrip("\r\n")
    elif path_or_dash is not None:
        text = read_text_file(path_or_dash, what)
        secret = text.splitlines()[0] if text.splitlines() else ""
    else:
        secret = _prompt(prompt)
        if secret == "":
            raise InvalidInput(f"The {what} is empty.")  # say so before asking to repeat it
        if confirm and _prompt("Repeat " + prompt[:1].lower() + prompt[1:]) != secret:
            raise InvalidInput("The two passwords do not match.")
    if secret == "":
        source = f"The {what} file {path_or_dash}" if path_or_dash else f"The {what}"
        raise InvalidInput(f"{source} is empty.")
    return secret


def _prompt(prompt: str) -> str:
    if not sys.stdin or not sys.stdin.isatty():
        raise InvalidInput(
            f"{prompt.rstrip(': ')} is needed but there is no terminal to ask on; "
            "pass it with a --...-file option."
        )
    try:
        return getpass.getpass(prompt if prompt.endswith(": ") else prompt + ": ")
    except EOFError as exc:
        raise InvalidInput("No password given.") from exc


# -- output ------------------------------------------------------------------------------


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print `data` as JSON if --json was given, else the human `text`."""
    if getattr(args, "json", False):
        print_json(data)
    else:
        print(text)


def one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


# -- the vault ---------------------------------------------------------------------------


def open_vault(args: argparse.Namespace):  # -> wallet.vault.Vault (import kept lazy)
    from wallet.vault import Vault

    return Vault.open(home_from(args))


def unlocked_vault(args: argparse.Namespace, password_file_attr: str = "password_file"):
    """Open the wallet and unlock it: --password-file if given, else a password remembered
    in the OS keyring, else a prompt. The caller should close() it."""
    from wallet import remember

    vault = open_vault(args)
    try:
        path = getattr(args, password_file_attr, None)
        if path is None and remember.unlock_with_remembered(vault):
            return vault
        vault.unlock(read_secret(path, "Wallet password"))
    except BaseException:
        vault.close()
        raise
    return vault

