"""`quarry privacy`: the owner's privacy budget (wallet.privacy_budget).

    quarry privacy show [--json]                 spent ε per data file, and the ceiling
    quarry privacy ceiling EPSILON | --none      set or remove the ceiling
    quarry privacy export --out FILE.csv         every contribution's mechanism, parameters, ε
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math

from common.atomic import atomic_write_text
from wallet.cli.common import add_json_option, emit, home_from
from wallet.errors import InvalidInput
from wallet.privacy_budget import LEDGER_DELTA, MECHANISM_WORDS, PrivacyBudget, format_epsilon
from wallet.store import Store

CSV_FIELDS = ("file_name", "dataset_hash", "account", "network", "bounty_id", "round", "mechanism",
              "parameters", "epsilon", "delta", "blob_hash", "spent_after", "created_at")


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
    return PrivacyBudget(Store(home_from(args)))


def cmd_show(args: argparse.Namespace) -> int:
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


def privacy_csv(budget: PrivacyBudget) -> str:
    """One line per contribution and file, with the file's composed total after it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    seen: dict[str, list[tuple[str, dict]]] = {}
    for row in budget.rows():
        history = seen.setdefault(row["dataset_hash"], [])
        history.append((row["mechanism"], row["params"]))
        after = _composed(history)
        writer.writerow({
            "file_name": row["file_name"], "dataset_hash": row["dataset_hash"], "account": row["account"],
            "network": row["network"], "bounty_id": row["bounty_id"], "round": row["round"],
            "mechanism": MECHANISM_WORDS.get(row["mechanism"], row["mechanism"]),
            "parameters": json.dumps(row["params"], sort_keys=True),
            "epsilon": "inf" if row["epsilon"] is None else f"{row['epsilon']:.4f}",
            "delta": f"{row['delta']:g}", "blob_hash": row["blob_hash"],
            "spent_after": "inf" if math.isinf(after) else f"{after:.4f}",
            "created_at": f"{row['created_at']:.0f}",
        })
    return out.getvalue()


def _composed(history: list[tuple[str, dict]]) -> float:
    from trainer.privacy import epsilon_of, mechanism_event

    return epsilon_of([mechanism_event(m, p) for m, p in history], LEDGER_DELTA)


def cmd_export(args: argparse.Namespace) -> int:
    text = privacy_csv(_budget(args))
    if args.out == "-":
        print(text, end="")
    else:
        atomic_write_text(args.out, text, mode=0o600)
        print(f"Wrote {args.out}")
    return 0
