"""The `quarry` command line: `quarry [--home DIR] GROUP COMMAND [options]`.

Command groups live in the modules of COMMAND_MODULES. Each exposes
`register(subparsers, groups)`: it adds its subcommands to `subparsers` (the top level)
with `set_defaults(func=handler)`, and may add commands to a group another module made
through `groups["wallet"]` (the `_SubParsersAction` of `quarry wallet`). Modules are
imported in order. They import at the top only what building the parser needs: web3,
eth-account, py-evm, numpy and the trainer are imported by the handlers that use them, so
`quarry --help` and `quarry wallet list` start fast (tests/test_startup.py,
benchmarks/startup.py).

A handler gets the parsed arguments and returns an exit code (None = 0). Errors meant
for people (`common.errors.UserError`: QuarryError, TrainerError, ...) print one line
`error: <message>` on stderr, exit code 1, without a traceback; usage errors exit 2 (argparse); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence

from common.errors import UserError

COMMAND_MODULES = ["wallet.cli.wallet_cmd", "wallet.cli.chain_cmd", "wallet.cli.train_cmd", "wallet.cli.privacy_cmd"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
HOME_HELP = "Quarry data directory (default: $QUARRY_HOME, else the per-user data directory)"


def _load_command_modules(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    for name in COMMAND_MODULES:
        register = importlib.import_module(name).register
        if len(inspect.signature(register).parameters) >= 2:
            register(subparsers, groups)
        else:
            register(subparsers)


def one_line(error: BaseException) -> str:
    """The message on one line, as the README promises: a message that lists problems on
    lines of their own (a data file's, for instance) gets them joined with "; "."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(error).__name__
    head, rest = lines[0], [line.removeprefix("- ") for line in lines[1:]]
    return head + (" " if head.endswith(":") else "; ") + "; ".join(rest)


def _accept_home_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let --home also come after the subcommand (`quarry wallet list --home D`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                if "--home" not in subparser._option_string_actions:
                    # SUPPRESS: when absent here, the top-level value is kept.
                    subparser.add_argument(
                        "--home", metavar="DIR", default=argparse.SUPPRESS, help=HOME_HELP
                    )
                _accept_home_everywhere(subparser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quarry",
        description="Quarry: a wallet for data owners. Train on your own data, share only "
        "encrypted model updates, get paid in tokens.",
    )
    parser.add_argument("--home", metavar="DIR", default=None, help=HOME_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    _load_command_modules(subparsers, groups)
    _accept_home_everywhere(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from wallet.cli import common

    common.reset_stdin()
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    func = getattr(args, "func", None)
    if func is None:
        # A group given without its command, e.g. `quarry wallet`.
        parser.print_usage(sys.stderr)
        print(f"error: '{args.command}' needs a command; see quarry {args.command} --help", file=sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C often lands at a prompt: start a new line so the message stands alone.
        print("\nerror: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
