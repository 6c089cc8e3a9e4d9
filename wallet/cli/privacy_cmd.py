"""`quarry privacy`: the owner's privacy budget (wallet.privacy_budget).

    quarry privacy show [--json]                 spent ε per data file, and the ceiling
    quarry privacy ceiling EPSILON | --none      set or remove the ceiling
    quarry privacy export --out FILE.csv         every contribution's mechanism, parameters, ε
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from common.atomic import atomic_write_text
from wallet.cli.common import add_json_option, emit, home_from
from wallet.errors import InvalidInput

if TYPE_CHECKING:
    from wallet.privacy_budget import PrivacyBudget

# wallet.privacy_budget (dp-accounting, scipy: about a second) and the store are imported by
# the commands, so that building the parser (`quarry --help`) stays fast.


def register(subparsers: argparse._SubParsersAction) -> None:
    privacy = subparsers.add_parser("privacy", help="your privacy budget across contributions")
    commands = privacy.add_subparsers(dest="privacy_command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", help="ε spent per data file, and your ceiling")
    add_json_option(show)
    show.set_defaults(func=cmd_show)
    ceiling = commands.add_parser("ceiling", help="set the most ε any data file may spend in total")
    ceiling.add_argument("epsilon", nargs="?", type=float, metavar="EPSILON")
    ceiling.add_argument("--none", action="store_true", help="remove the ceiling")
    ceiling.set_defaults(func=cmd_ceiling)
    export = commands.add_parser("export", help="write every contribution's privacy loss as CSV")
    export.add_argument("--out", required=True, metavar="F", help="CSV file to write ('-' = standard output)")
    export.set_defaults(func=cmd_export)


def _budget(args: argparse.Namespace) -> PrivacyBudget:
    from wallet.privacy_budget import PrivacyBudget
    from wallet.store import Store

    return PrivacyBudget(Store(home_from(args)))


def cmd_show(args: argparse.Namespace) -> int:
    from wallet.privacy_budget import LEDGER_DELTA, format_epsilon

    budget = _budget(args)
    files, ceiling = budget.files(), budget.ceiling()
    lines = [f"Privacy ceiling: {'none' if ceiling is None else f'ε = {ceiling:g}'} "
             f"(δ = {LEDGER_DELTA:g}, for any one row of a file, all contributions composed)"]
    if not files:
        lines.append("No contributions recorded yet.")
    for f in files:
        lines.append(f"{f['file_name']} ({f['dataset_hash'][:10]}…): ε = {format_epsilon(f['spent'])} "
                     f"spent in {f['contributions']} contribution(s)")
    emit(args, {"ceiling": ceiling, "delta": LEDGER_DELTA, "files": files}, "\n".join(lines))
    return 0


def cmd_ceiling(args: argparse.Namespace) -> int:
    if args.none == (args.epsilon is not None):
        raise InvalidInput("Give a ceiling (a number > 0) or --none.")
    budget = _budget(args)
    budget.set_ceiling(None if args.none else args.epsilon)
    print("Privacy ceiling removed." if args.none else
          f"Privacy ceiling set: a contribution that would take a data file past ε = {args.epsilon:g} "
          "is refused.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from wallet.privacy_budget import privacy_csv

    text = privacy_csv(_budget(args))
    if args.out == "-":
        print(text, end="")
    else:
        atomic_write_text(args.out, text, mode=0o600)
        print(f"Wrote {args.out}")
    return 0
