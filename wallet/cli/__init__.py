"""The `quarry` command line: `quarry [--home DIR] GROUP COMMAND [options]`.

Command groups live in the modules of COMMAND_MODULES. Each exposes
`register(subparsers, groups)`: it adds its subcommands to `subparsers` (the top level)
with `set_defaults(func=handler)`, and may add commands to a group another module made
through `groups["wallet"]` (the `_SubParsersAction` of `quarry wallet`). Modules are
imported in order; one that does not exist yet is skipped.

A handler gets the parsed arguments and returns an exit code (None = 0). Errors meant
for people (QuarryError, TrainerError) print `error: <message>` on stderr, exit code 1,
without a traceback; usage errors exit 2 (argparse); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence

from wallet.errors import QuarryError

COMMAND_MODULES = ["wallet.cli.wallet_cmd", "wallet.cli.chain_cmd", "wallet.cli.train_cmd", "wallet.cli.privacy_cmd"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
HOME_HELP = "Quarry data directory (default: $QUARRY_HOME, else the per-user data directory)"


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [QuarryError]
    try:
        from trainer.errors import TrainerError
    except ModuleNotFoundError:
        pass
    else:
        types.append(TrainerError)
    return tuple(types)


def _load_command_modules(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that command group is not written yet
            raise
        register = module.register
        if len(inspect.signature(register).parameters) >= 2:
            register(subparsers, groups)
        else:
            register(subparsers)


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
    user_errors = _user_error_types()
    try:
        return int(func(args) or 0)
    except user_errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C often lands at a prompt: start a new line so the message stands alone.
        print("\nerror: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
