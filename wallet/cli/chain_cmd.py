"""Chain commands: `quarry devnet`, `quarry network ...`, `quarry wallet balance|send|history`,
`quarry bounties list|show|expire`, `quarry rewards`, `quarry claim`.

Account selection: `--account ADDRESS`, else the wallet's first account. Commands that sign
unlock the wallet (`--password-file F`, a remembered password, or a prompt). On the
embedded network, and on another home's devnet joined by URL, an account is funded from the
faucet the first time a command uses it (`quarry network faucet` asks again).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from typing import Any

from wallet.cli.common import (
    add_json_option,
    add_password_file_option,
    emit,
    home_from,
    open_vault,
    print_json,
    unlocked_vault,
)
from wallet.errors import InvalidInput, NetworkError, NotFound, NothingToClaim
from wallet.untrusted import printable


def register(subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]) -> None:
    devnet = _command(subparsers, "devnet", "run the embedded network (JSON-RPC on 127.0.0.1) in this terminal "
                      "until Ctrl-C; other commands start it in the background when they need it", cmd_devnet,
                      json=False)
    devnet.add_argument("--port", type=int, default=None,
                        help="port (default 18545, or a free one when another program holds it)")
    devnet.add_argument("--no-plugins", action="store_true", help="do not start devnet plugins (demo practitioner)")
    devnet.add_argument("--stop", action="store_true", help="stop the embedded network, whether a command started it in the background "
                             "or it runs in another terminal")

    network = subparsers.add_parser("network", help="choose the Ethereum network")
    network_commands = network.add_subparsers(dest="network_command", metavar="COMMAND", required=True)
    _command(network_commands, "list", "list the networks (* = current)", cmd_network_list)
    use = _command(network_commands, "use", "switch to a network by name, or add one by RPC URL", cmd_network_use)
    use.add_argument("name_or_url", metavar="NAME_OR_URL")
    use.add_argument("--chain-id", type=int, help="the chain id the node must report")
    use.add_argument("--token", metavar="ADDRESS", help="the reward token (QuarryToken) on this network")
    use.add_argument("--board", metavar="ADDRESS", help="the BountyBoard on this network")
    use.add_argument("--name", help="a name for a new network (default: the URL's host:port)")
    use.add_argument("--offline", action="store_true",
                     help="save and select it without checking that the node answers with the chain id "
                          "(nor asking a Quarry devnet for its contracts)")
    _command(network_commands, "faucet", "ask the current network's faucet (the embedded network's, or "
             "another home's devnet's) for test ETH and QDT", cmd_network_faucet, account="reads")
    deploy = _command(network_commands, "deploy", "deploy QuarryToken and BountyBoard to the current RPC network",
                      cmd_network_deploy, account="signs", json=False)
    deploy.add_argument("--grace-period", type=int, default=3 * 24 * 3600, metavar="SECONDS",
                        help="BountyBoard's grace period (default 3 days)")

    wallet = groups.get("wallet")
    if wallet is None:  # the wallet group's module is missing: make the group here
        parent = subparsers.add_parser("wallet", help="accounts, balances and transfers")
        wallet = parent.add_subparsers(dest="wallet_command", metavar="COMMAND", required=True)
        groups["wallet"] = wallet
    _command(wallet, "balance", "ETH and QDT balances of an account", cmd_balance, account="reads")
    send = _command(wallet, "send", "send ETH or tokens (shows the fee and asks to confirm)", cmd_send,
                    account="signs")
    send.add_argument("--to", required=True, metavar="ADDRESS")
    send.add_argument("--amount", required=True, metavar="X", help="e.g. 1.5")
    send.add_argument("--token", metavar="T", help="token address or QDT (default: ETH)")
    send.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _command(wallet, "history", "transactions and bounty events of an account", cmd_history, account="reads")

    bounties = subparsers.add_parser("bounties", help="bounties on the current network")
    bounty_commands = bounties.add_subparsers(dest="bounties_command", metavar="COMMAND", required=True)
    _command(bounty_commands, "list", "list bounties", cmd_bounties_list)
    show = _command(bounty_commands, "show", "one bounty, its rounds and its (hash-checked) spec",
                    cmd_bounties_show, account="reads")
    show.add_argument("bounty_id", type=int, metavar="ID")
    expire = _command(bounty_commands, "expire",
                      "expire a round its practitioner did not finalise within the grace period "
                      "(its reward is shared equally by its submitters)", cmd_bounties_expire,
                      account="signs")
    expire.add_argument("bounty_id", type=int, metavar="ID")
    expire.add_argument("round", type=int, metavar="ROUND", help="the round's on-chain index (0-based)")

    invitation = subparsers.add_parser("invitation", help="invitations to bounties posted by invitation")
    invitation_commands = invitation.add_subparsers(dest="invitation_command", metavar="COMMAND", required=True)
    add = _command(invitation_commands, "add", "check an invitation file a practitioner sent you and "
                   "keep it, so you can contribute to its bounty", cmd_invitation_add, account="reads")
    add.add_argument("file", metavar="FILE")
    redeem = _command(invitation_commands, "redeem", "redeem an invitation code a practitioner gave you "
                      "at its inbox, and keep the invitation it answers", cmd_invitation_redeem,
                      account="reads")
    redeem.add_argument("bounty_id", type=int, metavar="ID")
    redeem.add_argument("code", metavar="CODE", help="XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")

    rewards = _command(subparsers, "rewards", "your submissions and rewards with their status", cmd_rewards,
                       account="reads")
    rewards.add_argument("--verify", action="store_true",
                         help="check each round's report against the chain and, once revealed, the "
                              "validation set, with the update this computer kept (exit status 3 "
                              "when a report does not match)")
    claim = _command(subparsers, "claim", "claim every reward that is claimable", cmd_claim, account="signs")
    claim.add_argument("--token", metavar="ADDRESS", help="only this token")
    _command(subparsers, "recover-sent",
             "on a restored wallet: get back from each bounty's inbox the updates this account sent "
             "(a request signed by its key), so 'rewards --verify' can check copy claims and openings",
             cmd_recover_sent, account="signs")


def _command(group: argparse._SubParsersAction, name: str, help_text: str, func: Any, *,
             account: str = "", json: bool = True) -> argparse.ArgumentParser:
    """A subcommand running `func`; `account` "reads" adds --account, "signs" also --password-file."""
    parser = group.add_parser(name, help=help_text)
    if account:
        parser.add_argument("--account", metavar="ADDRESS", help="the account (default: the first one)")
    if account == "signs":
        add_password_file_option(parser)
    if json:
        add_json_option(parser)
    parser.set_defaults(func=func)
    return parser


def announce_devnet_start(url: str) -> None:
    """Said on stderr when a command started the embedded network: it outlives the command."""
    print(f"Started the embedded network at {url} (it keeps running in the background; "
          "stop it with 'quarry devnet --stop').", file=sys.stderr)


def typed_address(value: str | None, what: str) -> str | None:
    """An address the user typed: it must carry its EIP-55 checksum (None stays None)."""
    from wallet.network import check_address

    return None if value is None else check_address(value, what, require_checksum=True)


# -- shared steps -----------------------------------------------------------------------------


class Session:
    """The wallet, the current network and the chosen account for one command."""

    def __init__(self, args: argparse.Namespace, signs: bool = False, needs_account: bool = True,
                 fund: bool = True) -> None:
        from wallet.network import open_current

        self.args = args
        self.home = home_from(args)
        self.vault = unlocked_vault(args) if signs else open_vault(args) if needs_account else None
        try:
            if self.vault is not None:
                self.store = self.vault.store
            else:
                from wallet.store import Store

                self.store = Store(self.home)
            self.network, self.w3 = open_current(self.store, self.home, start_devnet=True,
                                                 on_devnet_start=announce_devnet_start)
            self.address: str | None = None
            if needs_account:
                accounts = [a.address for a in self.vault.accounts()]
                if not accounts:
                    raise NotFound("The wallet has no accounts; add one with 'quarry wallet add-account'.")
                wanted = getattr(args, "account", None)
                if wanted:
                    wanted = typed_address(wanted, "account")
                    if wanted not in accounts:
                        raise NotFound(f"{wanted} is not an account of this wallet.")
                self.address = wanted or accounts[0]
                if fund:
                    self._fund_once()
        except BaseException:
            self.close()
            raise

    def signer(self):
        return self.vault.signer(self.address)

    def note(self, text: str) -> None:
        # notes go to stderr when the output is JSON, so the JSON stays parseable
        print(text, file=sys.stderr if getattr(self.args, "json", False) else sys.stdout)

    def _fund_once(self) -> None:
        from wallet.devnet_client import FAUCET_ETH, FAUCET_TOKENS, fund_once
        from wallet.token import format_amount

        where = "the embedded network" if self.network.is_embedded else self.network.name
        try:
            paid = fund_once(self.store, self.network, self.address)
        except NetworkError as exc:
            # a faucet at its hourly limit (one shared by several homes) or empty must not stop a
            # command that may need no funds; it is asked again next time
            self.note(f"The faucet of {where} did not fund {self.address}: {exc}")
            return
        if paid:
            self.note(f"New account on {where}: funded {self.address} from the faucet with "
                      f"{format_amount(FAUCET_ETH)} ETH and {format_amount(FAUCET_TOKENS)} QDT.")

    def bounty_client(self):
        from wallet.bounties import BountyClient

        if not self.network.board:
            raise NotFound(f"No BountyBoard is configured for the network {self.network.name}; "
                           "use 'quarry network use NAME --board ADDRESS' or 'quarry network deploy'.")
        # file:// specs only from this wallet's data directory (the embedded network's blobs)
        return BountyClient(self.w3, self.network.board, self.network.chain_id, self.store,
                            self.network.name, file_roots=[self.home],
                            known_tokens=[self.network.token or ""])

    def close(self) -> None:
        if self.vault is not None:
            self.vault.close()
        elif getattr(self, "store", None) is not None:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _when(timestamp: int | float | None) -> str:
    if not timestamp:
        return "-"
    return dt.datetime.fromtimestamp(float(timestamp)).strftime("%Y-%m-%d %H:%M")


def _table(rows: list[tuple[Any, ...]]) -> str:
    # cells may hold text from the chain or a spec: shown only in printable form
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(f"{str(v):<{w}}" for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


# -- devnet and networks -----------------------------------------------------------------------


def cmd_devnet(args: argparse.Namespace) -> int:
    import logging

    from wallet import devnet_client

    if args.stop:
        stopped = devnet_client.stop(home_from(args))
        print(f"Stopped the embedded network at {stopped}." if stopped else "The embedded network is not running.")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # no --port: the default one, or a free one (said) when another home's devnet holds it
    devnet_client.serve(home_from(args), args.port or None, plugins=not args.no_plugins)
    return 0


def cmd_network_list(args: argparse.Namespace) -> int:
    from wallet.devnet_client import DEFAULT_PORT, running_url
    from wallet.network import current_network, list_networks, resolve_embedded
    from wallet.store import Store

    # the embedded network's URL is wherever its devnet runs now (another port if 18545 was taken)
    devnet_url = running_url(home_from(args))
    with Store(home_from(args)) as store:
        if devnet_url is not None:
            with contextlib.suppress(NetworkError):  # stopped meanwhile: listed as on demand
                resolve_embedded(store, home_from(args), start=False)  # records its URL and contracts
        current = current_network(store).name
        networks = list_networks(store)
    embedded_url = devnet_url or f"http://127.0.0.1:{DEFAULT_PORT}"
    if args.json:
        print_json([dict(n.as_dict(), current=n.name == current,
                         **({"rpc_url": embedded_url, "running": devnet_url is not None} if n.is_embedded else {}))
                    for n in networks])
        return 0
    rows = [("", "NAME", "CHAIN", "RPC URL", "BOARD")] + [
        ("*" if n.name == current else "", n.name, n.chain_id,
         (embedded_url + ("" if devnet_url else " (started on demand)")) if n.is_embedded else n.rpc_url,
         n.board or "-")
        for n in networks
    ]
    print(_table(rows))
    return 0


def cmd_network_use(args: argparse.Namespace) -> int:
    from wallet.devnet_client import running_url
    from wallet.network import resolve_embedded, use_network
    from wallet.store import Store

    found: dict[str, str] = {}
    with Store(home_from(args)) as store:
        try:
            # a Quarry devnet (another home's embedded network) names its contracts: they fill
            # what --token/--board did not give; --offline asks the node nothing of the kind
            network = use_network(store, args.name_or_url, args.chain_id, typed_address(args.token, "token address"),
                                  typed_address(args.board, "bounty board address"), args.name,
                                  verify=not args.offline, discover=not args.offline,
                                  on_discovered=found.update)
            if network.is_embedded and running_url(home_from(args)) is not None:
                network = resolve_embedded(store, home_from(args), start=False)  # its live URL
        except NetworkError as exc:
            said = str(exc) if str(exc).endswith(".") else f"{exc}."
            raise NetworkError(f"{said} Nothing was changed (--offline saves it without checking).") from exc
    text = f"Now using {network.name} (chain {network.chain_id}, {network.rpc_url})."
    if found:
        names = {"token": "QuarryToken", "board": "BountyBoard"}
        text += (" Found on the node (a Quarry devnet): "
                 + ", ".join(f"{names[key]} {address}" for key, address in found.items())
                 + ". Its faucet funds a new account the first time it is used ('quarry network faucet' asks again).")
    if not (network.board or network.is_embedded):
        text += " No BountyBoard is set: give --board ADDRESS or run 'quarry network deploy'."
    emit(args, dict(network.as_dict(), found_on_node=found), text)
    return 0


def cmd_network_faucet(args: argparse.Namespace) -> int:
    from wallet.devnet_client import ask_faucet
    from wallet.token import format_amount

    # asked for by name: no automatic funding first (it would leave this request refused)
    with Session(args, fund=False) as session:
        eth, qdt = ask_faucet(session.store, session.network, session.address)
    emit(args, {"account": session.address, "network": session.network.name, "eth": str(eth), "qdt": str(qdt)},
         f"The faucet of {session.network.name} sent {format_amount(eth)} ETH and {format_amount(qdt)} QDT "
         f"to {session.address}.")
    return 0


def cmd_network_deploy(args: argparse.Namespace) -> int:
    from wallet.network import deploy_contracts

    with Session(args, signs=True) as session:
        if session.network.is_embedded:
            raise InvalidInput("The embedded network deploys its own contracts; switch to an RPC network first.")
        network = deploy_contracts(session.store, session.network, session.w3, session.signer(),
                                   grace_period=args.grace_period)
    from wallet.network import INITIAL_SUPPLY
    from wallet.token import format_amount

    print(f"Deployed on {network.name}: QuarryToken {network.token}, BountyBoard {network.board}.")
    print(f"Minted {format_amount(INITIAL_SUPPLY)} QDT to the deployer {session.address} (the token's owner; "
          "it can post bounties, or send QDT to others).")
    return 0


# -- balances and transfers --------------------------------------------------------------------


def cmd_balance(args: argparse.Namespace) -> int:
    from wallet.token import balances

    with Session(args) as session:
        found = balances(session.w3, session.address, [session.network.token] if session.network.token else [])
    data = {"account": session.address, "network": session.network.name,
            "balances": [{"symbol": b.symbol, "amount": b.text, "units": str(b.units), "token": b.token}
                         for b in found]}
    text = "\n".join([f"{session.address} on {session.network.name}"]
                     + [f"  {b.text} {b.symbol}" for b in found])
    emit(args, data, text)
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        raise InvalidInput("Confirmation is needed but there is no terminal to ask on; pass --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_send(args: argparse.Namespace) -> int:
    from wallet.token import preview_send, send
    from wallet.tx import wait_for_receipt

    with Session(args, signs=True) as session:
        token = args.token
        if token and token.upper() in ("QDT", "TOKEN"):
            if not session.network.token:
                raise NotFound(f"No token is configured for the network {session.network.name}.")
            token = session.network.token
        if token and token.upper() == "ETH":
            token = None
        elif token and token != session.network.token:
            token = typed_address(token, "token address")
        preview = preview_send(session.w3, session.address, typed_address(args.to, "recipient"), args.amount, token)
        session.note(preview.describe())
        if not args.yes and not _confirm("Send it?"):
            print("Nothing was sent.")
            return 1
        tx_hash = send(session.w3, session.signer(), preview, session.network.chain_id,
                       store=session.store, network=session.network.name)
        session.note(f"Sent {tx_hash}; waiting for it to be mined…")
        receipt = wait_for_receipt(session.w3, tx_hash, store=session.store)
    emit(args, {"hash": tx_hash, "block": int(receipt["blockNumber"]), "status": "success"},
         f"Mined in block {receipt['blockNumber']}.")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from wallet.history import load_account_history

    with Session(args) as session:
        history = load_account_history(session.store, session.w3, session.network.name, session.address,
                                       session.network.token, session.network.board)
    rows = history.rows
    if history.note:
        session.note(history.note)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No transactions yet.")
        return 0
    print(_table([("WHEN", "WHAT", "AMOUNT", "STATUS", "TRANSACTION")] + [
        (_when(r["timestamp"]), r["description"], r["amount_text"], r["status"], r["hash"]) for r in rows
    ]))
    return 0


# -- bounties and rewards ----------------------------------------------------------------------


def _bounty_json(bounty: Any, token: Any = None) -> dict[str, Any]:
    # token amounts as decimal strings: JSON numbers lose precision past 2^53
    found = dict(bounty.as_dict(), reward_per_round=str(bounty.reward_per_round), escrow=str(bounty.escrow))
    if token is not None:  # the token's own symbol and decimals, and whether the network lists it
        found.update(token_symbol=token.symbol, token_decimals=token.decimals, token_known=token.known)
    return found


def cmd_bounties_list(args: argparse.Namespace) -> int:
    with Session(args, needs_account=False) as session:
        client = session.bounty_client()
        found = client.list_bounties()
        tokens = {b.token: client.token(b.token) for b in found}
    if args.json:
        print_json([_bounty_json(b, tokens[b.token]) for b in found])
        return 0
    if not found:
        print(f"No bounties on {session.network.name} yet.")
        return 0
    print(_table([("ID", "STATUS", "ROUND", "DEADLINE", "REWARD/ROUND", "ESCROW", "SUBMISSIONS")] + [
        (b.id, b.phase if b.status == "open" else b.status, f"{b.current_round} ({b.current_round + 1} of {b.rounds})",
         _when(b.round_deadline), tokens[b.token].amount(b.reward_per_round, 6),
         tokens[b.token].amount(b.escrow, 6), b.round_submissions)
        for b in found
    ]))
    return 0


def cmd_bounties_expire(args: argparse.Namespace) -> int:
    from wallet.history import round_text

    with Session(args, signs=True) as session:
        client = session.bounty_client()
        tx_hash = client.expire_round(session.signer(), args.bounty_id, args.round)
        rounds = client.bounty(args.bounty_id).rounds
    emit(args, {"bounty": args.bounty_id, "round": args.round, "hash": tx_hash},
         f"Expired bounty {args.bounty_id}, {round_text(args.round, rounds)} ({tx_hash}): its reward is "
         "shared equally by the round's submitters ('quarry claim').")
    return 0


def cmd_bounties_show(args: argparse.Namespace) -> int:
    from wallet.history import round_text
    from wallet.track_record import track_record

    with Session(args, needs_account=False) as session:
        account = typed_address(args.account, "account") if args.account else None
        client = session.bounty_client()
        details = client.show(args.bounty_id, account)
        token = client.token(details.bounty.token)
        record = track_record(client, details.bounty.owner,
                              spec_cache={details.bounty.spec_hash: (details.spec, details.spec_problem)})
    verifiable = None if details.spec is None else details.spec.get("verifiable") is not False
    if args.json:
        print_json(dict(details.as_dict(), bounty=_bounty_json(details.bounty, token), verifiable=verifiable,
                        track_record=record.as_dict()))
        return 0
    b = details.bounty
    title = (details.spec or {}).get("title", "(spec not verified)")
    lines = [
        f"Bounty {b.id}: {title}",
        f"  status: {b.status}, {b.phase}; {round_text(b.current_round, b.rounds)}, deadline {_when(b.round_deadline)}",
        f"  reward: {token.amount(b.reward_per_round, 6)} per round, escrow {token.amount(b.escrow, 6)}, "
        f"token {b.token}",
        f"  owner: {b.owner}; at most {b.max_contributors} contributors per round",
        f"  spec: {b.spec_uri} ({b.spec_hash})",
    ]
    if not token.known:
        lines.append(f"  WARNING: this bounty pays in a token this network does not list ({b.token}); "
                     f"that it calls itself {token.symbol!r} proves nothing about its worth")
    if details.spec_ok:
        spec = details.spec or {}
        lines.append("  spec verified against its on-chain hash")
        for key in ("description", "task", "metric", "inbox_url"):
            if key in spec:
                lines.append(f"  {key}: {spec[key]}")
        from wallet.bounties import (
            open_updates_text,
            validation_set_label,
            validation_set_text,
            valuation_rules_text,
        )

        lines.append(f"  {validation_set_label(spec)}: {validation_set_text(spec)[0]}")
        rules, older = valuation_rules_text(spec)
        lines.append(f"  {'OLDER REPORT RULES' if older else 'reports'}: {rules}")
        opened = open_updates_text(spec)
        if opened:
            lines.append(f"  updates: {opened}")
    else:
        lines.append(f"  WARNING: {details.spec_problem}")
    signer = (details.spec or {}).get("invitation_signer") if details.spec_ok else None
    if signer:
        lines.append(f"  BY INVITATION: the practitioner values only the owners it invites (invitations "
                     f"signed by {signer}); add yours with 'quarry invitation add FILE' or "
                     f"'quarry invitation redeem {b.id} CODE'")
    if verifiable is False:
        lines.append("  NOT VERIFIABLE: the practitioner keeps its validation set private; you can check "
                     "your payout against the chain but not the scores it was computed from")
    elif verifiable:
        lines.append("  verifiable: the validation set is revealed at the end, so your wallet can "
                     "recompute the scores ('quarry rewards --verify')")
    for r in details.rounds:
        lines.append(f"  {round_text(r['round'], b.rounds)}: {r['state']}, {r['submissions']} submissions, "
                     f"deadline {_when(r['deadline'])}")
    lines.append(f"  practitioner's track record ({b.owner}):")
    lines += [f"    {line}" for line in record.lines()]
    print(printable("\n".join(lines), keep_newlines=True))  # the spec is a stranger's text
    return 0


def cmd_invitation_add(args: argparse.Namespace) -> int:
    from wallet.invitations import add_invitation, read_invitation_file

    data = read_invitation_file(args.file)
    with Session(args) as session:
        invitation = add_invitation(session.bounty_client(), data, account=session.address)
    _said_kept(args, invitation)
    return 0


def cmd_invitation_redeem(args: argparse.Namespace) -> int:
    from wallet.invitations import normalize_code, redeem_invitation_code

    normalize_code(args.code)  # a mistyped code is refused before the network starts
    with Session(args) as session:
        invitation = redeem_invitation_code(session.bounty_client(), args.bounty_id, args.code,
                                            account=session.address)
    _said_kept(args, invitation)
    return 0


def _said_kept(args: argparse.Namespace, invitation: Any) -> None:
    if args.json:
        print_json(invitation.to_json())
    else:
        print(f"Kept your invitation to bounty {invitation.bounty_id} for {invitation.contributor}; "
              f"you can contribute to it ('quarry train {invitation.bounty_id} --data FILE').")


def cmd_rewards(args: argparse.Namespace) -> int:
    if args.verify:
        return _verify_rewards(args)
    from wallet.history import round_text
    from wallet.round_report import unpaid_reasons

    with Session(args) as session:
        client = session.bounty_client()
        summary = client.rewards(session.address)
        unpaid = unpaid_reasons(client, summary, session.address)
        if args.json:
            print_json(dict(summary.as_dict(), account=session.address,
                            unpaid=[{"bounty_id": b, "round": r, "reason": why} for (b, r), why in unpaid.items()]))
            return 0
        if not summary.rows:
            print(f"{session.address} has not submitted to any bounty on {session.network.name}.")
            return 0
        rounds = {b.id: b.rounds for b in client.list_bounties(refresh=False)}
        for r in summary.rows:
            if r.bounty_id not in rounds:
                rounds[r.bounty_id] = client.bounty(r.bounty_id).rounds
        print(_table([("BOUNTY", "ROUND", "STATUS", "AMOUNT", "CLAIM")] + [
            (r.bounty_id, f"{r.round} ({r.round + 1} of {rounds[r.bounty_id]})", r.status,
             client.token(r.token).amount(r.amount, 6) if r.amount else "-", r.claim or "-")
            for r in summary.rows
        ]))
        for (bounty_id, round_index), why in unpaid.items():  # a scored 0 says why
            print(printable(f"Bounty {bounty_id}, {round_text(round_index, rounds[bounty_id])}: {why}"))
        for row in summary.leftovers:  # what an ended bounty's rounds left unassigned, shared
            print(row.sentence(_token_amount(session, row.token, row.amount)))
        for token, units in summary.claimable.items():
            if units:
                print(f"Claimable now: {_token_amount(session, token, units)} ('quarry claim').")
        # `quarry upload` retries these; said here too, so a failed upload is not forgotten
        from wallet.outbox import Outbox

        waiting = Outbox(session.home / "outbox").pending()
        if waiting:
            print(f"{len(waiting)} submitted update(s) not uploaded yet: run 'quarry upload'.")
    return 0


def _verify_rewards(args: argparse.Namespace) -> int:
    """`quarry rewards --verify`: one line per round with Verified / Mismatch / Not yet revealed /
    Not verifiable / Not finalised and why; exit status 3 when a report does not match."""
    from wallet.history import round_text
    from wallet.verify import MISMATCH, verify_rewards

    with Session(args) as session:
        results = verify_rewards(session.bounty_client(), session.address)
    if args.json:
        print_json({"account": session.address, "rounds": [r.as_dict() for r in results]})
    elif not results:
        print(f"{session.address} has not submitted to any bounty on {session.network.name}.")
    else:
        lines = []
        for r in results:
            lines.append(f"Bounty {r.bounty_id}, {round_text(r.round, r.rounds)}: {r.status_text}")
            lines.append(f"  {r.detail}")
            if r.unpaid:
                lines.append(f"  {r.unpaid}")
            if r.scaled:
                lines.append(f"  {r.scaled}")
            if r.copy_proof:
                lines.append(f"  Checked: {r.copy_proof}.")
            if r.opened:
                lines.append(f"  Checked: {r.opened}.")
            if r.numbers:
                lines.append("  recomputed: " + ", ".join(f"{k} {v:.6f}" for k, v in r.numbers.items()))
        print(printable("\n".join(lines), keep_newlines=True))  # details quote a stranger's report
    # a mismatch is worth a non-zero exit for scripts; the text already says what differs
    return 3 if any(r.status == MISMATCH for r in results) else 0


def _token_amount(session: Session, token: str, units: int, exact: bool = False) -> str:
    """"10 QDT": the amount in the token's decimals (at most 6 unless `exact`) and its symbol,
    marked with its address when the network does not list the token."""
    from wallet.token import token_label

    return token_label(session.w3, token, [session.network.token]).amount(units, None if exact else 6)


def cmd_recover_sent(args: argparse.Namespace) -> int:
    """`quarry recover-sent`: one line per round; exit status 1 when a lost blob could not be had."""
    from wallet.recover import RECOVERED, UNAVAILABLE, recover_sent

    with Session(args, signs=True) as session:
        results = recover_sent(session.bounty_client(), session.signer())
    if not results:
        text = f"{session.address} has not submitted to any bounty on {session.network.name}."
    else:
        got = sum(r.status == RECOVERED for r in results)
        text = "\n".join([r.sentence() for r in results]
                         + [f"Got {got} blob(s) back; run 'quarry rewards --verify' to check those rounds."
                            if got else "Nothing to get back."])
    emit(args, [{"bounty": r.bounty_id, "round": r.round, "status": r.status, "detail": r.detail}
                for r in results], printable(text, keep_newlines=True))
    return 1 if any(r.status == UNAVAILABLE for r in results) else 0


def cmd_claim(args: argparse.Namespace) -> int:
    with Session(args, signs=True) as session:
        try:
            claimed = session.bounty_client().claim(session.signer(), typed_address(args.token, "token address"))
        except NothingToClaim as nothing:  # an answer, not a failure: a script claiming daily exits 0
            emit(args, [], printable(f"Nothing to claim: {nothing}"))
            return 0
        # exact: a small remainder must not read "Claimed 0 QDT"
        text = "\n".join(f"Claimed {_token_amount(session, t, a, exact=True)} ({h})." for t, a, h in claimed)
    emit(args, [{"token": t, "amount": str(a), "hash": h} for t, a, h in claimed], printable(text, keep_newlines=True))
    return 0
