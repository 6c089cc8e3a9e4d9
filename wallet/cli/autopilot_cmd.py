"""`quarry autopilot`: standing contributions without a desktop.

    quarry autopilot add BOUNTY (--folder DIR | --data FILE...) --rounds N [--dp-noise S] ...
    quarry autopilot list
    quarry autopilot pause|resume|stop ID
    quarry autopilot [--once] [--interval S]     run passes (the wallet stays unlocked)

The work is wallet.autopilot's (the same passes the desktop app runs in the background);
this is its command-line face. docs/AUTOPILOT.md has a systemd user unit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import threading

from wallet.cli.common import add_json_option, add_password_file_option, emit

DEFAULT_INTERVAL_S = 60


def register(subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]) -> None:
    pilot = subparsers.add_parser(
        "autopilot", help="keep contributing to bounties round after round (standing contributions)",
        description="Standing contributions: the wallet trains and submits to each round of a bounty "
        "from the files or folder you chose, within the limits you set. Without a command, runs "
        "passes until stopped (Ctrl-C, or SIGTERM from a service manager).")
    pilot.add_argument("--once", action="store_true", help="run one pass and exit")
    pilot.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, metavar="S",
                       help=f"seconds between passes (default {DEFAULT_INTERVAL_S})")
    add_password_file_option(pilot)
    add_json_option(pilot)
    pilot.set_defaults(func=cmd_run)
    commands = pilot.add_subparsers(dest="autopilot_command", metavar="COMMAND")
    groups["autopilot"] = commands

    add = commands.add_parser("add", help="keep contributing to a bounty",
                              description="Save a standing contribution to BOUNTY.")
    add.add_argument("bounty", type=int, metavar="BOUNTY", help="bounty id")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", metavar="DIR",
                        help="a folder: its .csv/.npz files that match the schema, new ones included")
    source.add_argument("--data", nargs="+", metavar="FILE", help="these files")
    add.add_argument("--rounds", type=int, required=True, metavar="N", help="contribute to at most N rounds")
    add.add_argument("--privacy", choices=("row", "dataset", "none"), default=None,
                     help="row: protect each row with DP-SGD (the default); dataset: noise once on "
                     "the whole update; none: no noise")
    add.add_argument("--dp-noise", type=float, default=0.0, metavar="S",
                     help="noise multiplier of the chosen mode (alone it means --privacy dataset)")
    add.add_argument("--epochs", type=int, metavar="N", help="local epochs (default: the spec's)")
    add.add_argument("--gasless", action="store_true", help="let the bounty's inbox relay each submission")
    add.add_argument("--any-power", action="store_true",
                     help="also run on battery (default: only on mains power where the machine has a battery)")
    add.add_argument("--account", metavar="ADDR", help="account to submit from (default: the first)")
    add_json_option(add)
    add.set_defaults(func=cmd_add)

    listing = commands.add_parser("list", help="the standing contributions and their state")
    add_json_option(listing)
    listing.set_defaults(func=cmd_list)

    for name, help_text in (("pause", "pause a standing contribution"),
                            ("resume", "resume a paused standing contribution"),
                            ("stop", "stop a standing contribution for good")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("id", type=int, metavar="ID", help="standing contribution id (see list)")
        add_json_option(command)
        command.set_defaults(func=cmd_status, status_verb=name)


def _as_dict(standing) -> dict:
    return {
        "id": standing.id, "bounty": standing.bounty_id, "title": standing.title, "account": standing.account,
        "sources": standing.sources, "status": standing.status, "reason": standing.reason,
        "roundsDone": standing.rounds_done, "maxRounds": standing.max_rounds,
        "lastRound": standing.last_round, "lastRun": standing.last_run, "next": standing.next_note,
        "earned": str(standing.earned), "token": standing.token or None,
        "privacy": standing.privacy, "noiseMultiplier": standing.noise_multiplier,
        "mainsOnly": standing.mains_only,
    }


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "never"


def cmd_add(args: argparse.Namespace) -> int:
    from wallet.autopilot import add_standing
    from wallet.cli.chain_cmd import Session
    from wallet.untrusted import printable

    with Session(args) as session:
        client = session.bounty_client()
        details = client.show(args.bounty, session.address)  # the bounty exists; its title
        title = str((details.spec or {}).get("title") or f"bounty {args.bounty}")
        standing = add_standing(
            session.store, session.network.name, client.board_address, args.bounty, session.address,
            [args.folder] if args.folder else args.data, title=title, noise_multiplier=args.dp_noise,
            privacy=args.privacy or ("dataset" if args.dp_noise > 0 else "row"),
            epochs=args.epochs, gasless=args.gasless, max_rounds=args.rounds, mains_only=not args.any_power)
    emit(args, _as_dict(standing), printable(
        f"Standing contribution {standing.id}: {session.address} keeps contributing to bounty "
        f"{args.bounty} ({title}) for at most {args.rounds} round(s). 'quarry autopilot' runs it "
        "(the desktop app does too while it is open)."))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from wallet.autopilot import list_standing
    from wallet.cli.common import home_from
    from wallet.store import Store
    from wallet.untrusted import printable

    with Store(home_from(args)) as store:
        rows = list_standing(store)
    if args.json:
        emit(args, [_as_dict(s) for s in rows], "")
        return 0
    if not rows:
        print("No standing contributions; add one with 'quarry autopilot add BOUNTY --folder DIR --rounds N'.")
        return 0
    for s in rows:
        status = s.status + (f" ({s.reason})" if s.reason else "")
        print(printable(f"{s.id}. bounty {s.bounty_id} ({s.title}), {s.account}: {status}; "
                        f"{s.rounds_text}; last run {_when(s.last_run)}"
                        + (f"; {s.next_note}" if s.next_note and s.status == 'active' else "")))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from wallet.autopilot import ACTIVE, PAUSED, STOPPED, set_status
    from wallet.cli.common import home_from
    from wallet.store import Store

    status = {"pause": PAUSED, "resume": ACTIVE, "stop": STOPPED}[args.status_verb]
    with Store(home_from(args)) as store:
        standing = set_status(store, args.id, status, "" if status == ACTIVE else "by hand")
    emit(args, _as_dict(standing), f"Standing contribution {standing.id} is {standing.status}.")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if getattr(args, "autopilot_command", None):
        return 2  # a subcommand has its own handler; not reached
    from wallet.autopilot import Autopilot
    from wallet.cli.chain_cmd import Session
    from wallet.errors import QuarryError
    from wallet.untrusted import printable

    # the wallet is unlocked once (password file, keyring or prompt) and stays unlocked while
    # this runs: a headless autopilot signs without anyone at the keyboard
    session = Session(args, signs=True)
    try:
        client = session.bounty_client()
        vault = session.vault
        accounts = {a.address for a in vault.accounts()}

        def signer_for(account: str):
            if account not in accounts or not vault.is_unlocked:
                return None
            return vault.signer(account)

        def say(text: str) -> None:
            stamp = dt.datetime.now().strftime("%H:%M:%S")
            print(printable(f"{stamp} {text}"), file=sys.stderr if args.json else sys.stdout, flush=True)

        pilot = Autopilot(session.store, client, home=session.home, signer_for=signer_for)
        if not pilot.standing():
            say("No standing contributions on this network; add one with 'quarry autopilot add'.")
        # SIGTERM (a service manager stopping it) ends the loop between steps: a training run
        # is cancelled (nothing sent), a commit already under way completes
        stopping = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_a: stopping.set())
        try:
            while not stopping.is_set():
                try:
                    report = pilot.run_pass(stopping.is_set)
                except QuarryError as exc:  # the node went away: said, and tried again next pass
                    say(f"error: {exc}")
                    report = None
                if report is not None:
                    for outcome in report.outcomes:
                        say(f"[{outcome.standing_id}] {outcome.message}" if outcome.standing_id else outcome.message)
                    if args.json:
                        emit(args, [o.__dict__ for o in report.outcomes], "")
                if args.once:
                    return 0
                stopping.wait(max(args.interval, 1.0))
            say("Stopped.")
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        session.close()
