"""`quarry-practitioner`: the other side of the market, on the command line.

    quarry-practitioner keygen [--bits 2048] [--password-file F]
    quarry-practitioner spec-from FILE --label COL [--sheet S] [--min-rows N] [--out SPEC.json]
                             (a draft spec from a data file, to edit before posting)
    quarry-practitioner post SPEC.json --validation FILE... --reward X --rounds R --round-seconds S
                             [--token T] [--inbox-url URL] [--json]    (prints the bounty id)
    quarry-practitioner serve [--port P] [--account ADDR: relay gasless submissions]
    quarry-practitioner evaluate BOUNTY ROUND [--cluster ADDRESS [--share-key-with-workers]]
    quarry-practitioner finalize BOUNTY ROUND
    quarry-practitioner reveal BOUNTY      (at the bounty's end: publish the validation set)
    quarry-practitioner status [BOUNTY] [--json]
    quarry-practitioner run [--poll S] [--once] [--cluster ADDRESS [--share-key-with-workers]]
                             (--cluster: a Dask scheduler runs the valuation's model
                             evaluations; decryption stays here unless the key is shared,
                             practitioner/cluster.py; needs quarry-wallet[cluster])

Common options: --home DIR; the chain as --rpc URL --board ADDR [--token ADDR] or the
wallet's --network NAME (default: the wallet's current network); the signing account as
--private-key-file F or --account ADDR [--wallet-password-file F] from the wallet in --home
(post, finalize and run default to the wallet's first account, like `quarry`; status and
evaluate sign nothing and never ask for the wallet password); --password-file F for the
Paillier key's password (post checks it too: a bounty whose updates you could not decrypt
is never posted). Secret files: the first line; '-' reads it from standard input.
Cheap checks (options, files, spec fields, round state) come before any password prompt.
Errors print one line, exit code 1 (130 on Ctrl-C).

Rounds: arguments and JSON fields are the on-chain index, 0-based; text says
`round 0 (1 of 6)`. Token amounts in text carry the token's symbol (`200000 QDT`); JSON
keeps base units as decimal strings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from practitioner.keys import (
    DEFAULT_BITS,
    generate_keypair,
    load_private_key,
    save_private_key,
)
from practitioner.session import Session
from practitioner.state import PractitionerHome, read_json
from trainer.errors import TrainerError
from wallet.cli.common import home_from, one_line, read_secret, reset_stdin
from wallet.errors import InvalidInput, NotFound, QuarryError
from wallet.history import round_text

log = logging.getLogger("practitioner")


# -- option plumbing ----------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", metavar="DIR", help="Quarry data directory")
    parser.add_argument("--password-file", metavar="F", help="first line: the Paillier key password")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def _chain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", metavar="URL", help="Ethereum JSON-RPC URL (with --board)")
    parser.add_argument("--board", metavar="ADDR", help="BountyBoard address (with --rpc)")
    parser.add_argument("--token", metavar="ADDR", help="reward token (default: the network's)")
    parser.add_argument("--network", metavar="NAME", help="a network known to the wallet in --home")
    parser.add_argument("--account", metavar="ADDR", help="signing account from the wallet in --home")
    parser.add_argument("--wallet-password-file", metavar="F", help="first line: the wallet password")
    parser.add_argument("--private-key-file", metavar="F", help="first line: a hex private key to sign with")
    parser.add_argument("--inbox-url", metavar="URL", default="",
                        help="public base URL of your inbox (blobs get http URIs there; default file://)")


def _secret(path: str | None, prompt: str, option: str, what: str, confirm: bool = False) -> str:
    """From the file `path` (its first line; '-' = standard input), else a no-echo prompt;
    with no terminal to ask on, the message names the option to use."""
    if path:
        return read_secret(path, prompt, what="password")
    if not sys.stdin or not sys.stdin.isatty():
        raise InvalidInput(f"The {what} is needed: give {option} F (there is no terminal to ask on).")
    return read_secret(None, prompt, confirm=confirm, what=what)


def _password(args: argparse.Namespace, prompt: str = "Paillier key password: ", confirm: bool = False) -> str:
    return _secret(args.password_file, prompt, "--password-file", "Paillier key password", confirm)


def _home(args: argparse.Namespace) -> PractitionerHome:
    """The practitioner's part of --home; a home that cannot be a directory is one line."""
    home = home_from(args)
    try:
        return PractitionerHome.at(home)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot use {home} as the Quarry data directory: {exc.strerror or exc}."
        ) from exc


def _signer(args: argparse.Namespace, home, *, signs: bool):
    """The signing account: --private-key-file, else --account (default: the wallet's first
    account) unlocked with the wallet password. None when the command signs nothing: no
    password is asked then."""
    from wallet.keys import account_from_private_key

    if not signs:
        return None
    if args.private_key_file:
        text = read_secret(args.private_key_file, "Private key", what="private key")
        return account_from_private_key(text)
    from wallet.vault import Vault

    if not Vault.exists(home):
        raise NotFound(
            f"No wallet in {home} to sign with: give --private-key-file F, or create a wallet "
            "with `quarry wallet create`."
        )
    with Vault.open(home) as vault:
        accounts = [a.address for a in vault.accounts()]
        if not accounts:
            raise NotFound("The wallet has no accounts; add one with `quarry wallet add-account`.")
        address = accounts[0]
        if args.account:
            from wallet.network import check_address

            address = check_address(args.account, "--account")  # must be one of ours anyway
            if address not in accounts:
                raise NotFound(f"{address} is not an account of the wallet in {home}.")
        # like `quarry`: a password remembered in the OS keyring, else the file, else a prompt
        from wallet import remember

        if args.wallet_password_file or not remember.unlock_with_remembered(vault):
            vault.unlock(_secret(args.wallet_password_file, "Wallet password: ",
                                 "--wallet-password-file", "wallet password"))
        return vault.signer(address)


def build_session(args: argparse.Namespace, *, signs: bool = False) -> Session:
    from wallet.cli.chain_cmd import announce_devnet_start
    from wallet.network import connect as connect_network
    from wallet.network import (
        current_network,
        get_network,
        node_chain_id,
        resolve_embedded,
        web3_for,
    )
    from wallet.store import Store

    practitioner_home = _home(args)
    home = practitioner_home.root.parent
    token = args.token
    if args.rpc:
        if not args.board:
            raise InvalidInput("--rpc needs --board ADDRESS (the BountyBoard contract).")
        w3 = web3_for(args.rpc)
        chain_id = node_chain_id(w3, args.rpc)
        board = args.board
    else:
        with Store(home) as store:
            network = get_network(store, args.network) if args.network else current_network(store)
            if network.is_embedded:
                network = resolve_embedded(store, home, on_start=announce_devnet_start)
        w3 = connect_network(network)
        chain_id, board = network.chain_id, network.board
        token = token or network.token
        if not board:
            raise InvalidInput(f"The network {network.name} has no BountyBoard address.")
    from web3 import Web3

    return Session(
        home=practitioner_home, w3=w3, chain_id=chain_id,
        board_address=Web3.to_checksum_address(board),
        token_address=Web3.to_checksum_address(token) if token else None,
        signer=_signer(args, home, signs=signs), inbox_url=args.inbox_url.rstrip("/"),
    )


def _private_key(args: argparse.Namespace, session: Session):
    return load_private_key(session.home.key_path, _password(args))


def _cluster(args: argparse.Namespace):
    """A context manager giving the connected cluster of --cluster, or None without it."""
    if not args.cluster:
        if args.share_key_with_workers:
            raise InvalidInput("--share-key-with-workers needs --cluster ADDRESS.")
        return contextlib.nullcontext(None)
    from practitioner.cluster import Cluster

    if args.cluster_timeout <= 0:
        raise InvalidInput("--cluster-timeout must be a positive number of seconds.")
    return Cluster.connect(args.cluster, share_key_with_workers=args.share_key_with_workers,
                           timeout=args.cluster_timeout)


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="a Dask scheduler (tcp://HOST:8786, tls://...): its workers run the "
                             "valuation's model evaluations; they see the round's decrypted updates "
                             "and the validation set, never the key (needs quarry-wallet[cluster])")
    parser.add_argument("--share-key-with-workers", action="store_true",
                        help="with --cluster: send the Paillier secret key to the workers so they "
                             "decrypt too (trust them and the network with every update of your bounties)")
    parser.add_argument("--cluster-timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for the scheduler and a worker (default 10)")


def _round(session: Session, bounty_id: int, round_index: int) -> str:
    """`round 0 (1 of 6)`: the on-chain index and its place among the bounty's rounds."""
    try:
        rounds = session.client.bounty(bounty_id).rounds
    except QuarryError:
        rounds = None
    return round_text(round_index, rounds)


# -- commands -----------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    home = _home(args)
    if home.key_path.exists() and not args.force:
        raise InvalidInput(f"A Paillier key already exists at {home.key_path} (use --force to replace it).")
    password = _password(args, "New Paillier key password", confirm=True)
    started = time.monotonic()
    public_key, private_key = generate_keypair(args.bits)
    save_private_key(home.key_path, private_key, password, overwrite=args.force)
    from trainer.spec import key_fingerprint

    print(f"Paillier key: {args.bits} bits, fingerprint {key_fingerprint(public_key)[:8].hex()}, "
          f"saved to {home.key_path} ({time.monotonic() - started:.1f} s)")
    return 0


def cmd_post(args: argparse.Namespace) -> int:
    from practitioner.keys import load_key_proof, load_public_key
    from practitioner.post import check_post_options, check_spec, post_bounty, read_spec_file
    from trainer.data import load_dataset
    from trainer.errors import DataError
    from wallet.contribute import check_data_files
    from wallet.token import parse_amount, token_info

    # what costs nothing first: the options and files, then the key's password (updates for
    # a key nobody can unlock would be lost), then the chain
    if args.rpc and not args.board:
        raise InvalidInput("--rpc needs --board ADDRESS (the BountyBoard contract).")
    check_post_options(parse_amount(args.reward), args.rounds, args.round_seconds)
    raw_spec = read_spec_file(args.spec)
    if args.not_verifiable:  # the validation set stays private; owners see that on the bounty
        raw_spec["verifiable"] = False
    if args.open_updates:  # every counted update is opened to its round's contributors at the reveal
        raw_spec["open_updates"] = True
    check_data_files(args.validation, "Validation file")
    key_path = _home(args).key_path
    public_key = load_public_key(key_path)  # no key: say so before asking for its password
    try:
        proof = load_key_proof(key_path)
        unlocked = False
    except InvalidInput:  # a key file from before key proofs: unlocking it adds its proof
        load_private_key(key_path, _password(args))
        proof, unlocked = load_key_proof(key_path), True
    # the validation files against the spec's schema (bad rows said now, not after passwords)
    spec_to_check = check_spec(raw_spec, paillier_n=public_key.n, paillier_proof=proof,
                               inbox_url=args.inbox_url)
    try:
        validation = load_dataset(args.validation, spec_to_check)
    except DataError as exc:
        raise InvalidInput(f"--validation: {exc}") from exc
    if not args.json and not validation.as_is:  # rows dropped, columns renamed or left out
        print(validation.summary(spec_to_check, total="The validation set has"), file=sys.stderr)
    if not unlocked:
        load_private_key(key_path, _password(args))
    session = build_session(args, signs=True)
    token = args.token or session.token_address
    decimals = token_info(session.w3, token).decimals if token else 18
    reward = parse_amount(args.reward, decimals)
    posted = post_bounty(
        session, args.spec, validation_files=args.validation, reward_per_round=reward,
        rounds=args.rounds, round_seconds=args.round_seconds, token=token, raw_spec=raw_spec,
        by_invitation=args.by_invitation, allow_revealed_validation=args.allow_revealed_validation,
    )
    if args.json:
        print(json.dumps({"bountyId": posted.bounty_id, "specHash": posted.spec_hash,
                          "specURI": posted.spec_uri, "modelHash": posted.model_hash}))
    else:
        # the id alone on stdout (BOUNTY=$(quarry-practitioner post ...)); the story on stderr
        print(f"Posted bounty {posted.bounty_id} \"{posted.spec.title}\": {args.rounds} round(s) of "
              f"{session.amount_text(reward, token)} ({session.amount_text(reward * args.rounds, token)} "
              f"in escrow), {args.round_seconds} s each; round 0 (1 of {args.rounds}) is open.\n"
              f"spec {posted.spec_hash} at {posted.spec_uri}", file=sys.stderr)
        if not posted.spec.inbox_url:
            print(f"note: no --inbox-url, so the spec, models and updates are file:// blobs under "
                  f"{session.home.blob_dir}; a data owner's wallet reads file:// blobs only inside its own "
                  "home, so only a wallet whose home holds that folder can train on it; to reach "
                  "other owners run `quarry-practitioner serve` and post with --inbox-url http://HOST:PORT",
                  file=sys.stderr)
        print(posted.bounty_id)
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from practitioner.evaluate import load_spec
    from practitioner.invitations import invite, make_codes

    if bool(args.addresses) == (args.codes is not None):
        raise InvalidInput("Name the owners' addresses, or give --codes N for codes to hand out; not both.")
    session = build_session(args, signs=True)
    spec = load_spec(session, args.bounty)
    if args.codes is not None:
        codes = make_codes(session, spec, args.bounty, args.codes)
        if args.json:
            print(json.dumps({"bountyId": args.bounty, "codes": codes}))
        else:
            print("\n".join(codes))
            print(f"Made {len(codes)} single-use code(s) for bounty {args.bounty}. Give each owner one, "
                  "privately: whoever holds a code can join once. Owners redeem them at your inbox "
                  "(`quarry-practitioner serve --account ...` must be running); only their hashes are "
                  "kept, so keep this list.", file=sys.stderr)
        return 0
    written = invite(session, spec, args.bounty, args.addresses, args.out)
    if args.json:
        print(json.dumps({"bountyId": args.bounty, "files": [str(p) for p in written]}))
    else:
        for path in written:
            print(path)
        print(f"Invited {len(written)} address(es) to bounty {args.bounty}; send each owner its file "
              "(it holds no secret: only that address can use it).", file=sys.stderr)
    return 0


def cmd_spec_from(args: argparse.Namespace) -> int:
    from pathlib import Path

    from practitioner.spec_draft import draft_spec

    spec, notes = draft_spec(args.file, args.label, sheet=args.sheet, title=args.title,
                             min_rows=args.min_rows)
    text = json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            raise InvalidInput(f"{out} exists (use --force to replace it).")
        out.write_text(text, "utf-8")
        notes.append(f"written to {out}")
    else:
        sys.stdout.write(text)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _home_network_hint(home: Path) -> str:
    """' NAME: the network this home's wallet uses, as post and run do', or "" for a home
    without a wallet (serve creates none: `post` and `run` default to it, serve does not, since
    an inbox without a chain is a valid choice)."""
    from wallet.store import DB_FILENAME, Store

    if not (home / DB_FILENAME).is_file():
        return ""
    try:
        from wallet.network import current_network

        with Store(home) as store:
            name = current_network(store).name
    except QuarryError:
        return ""
    return f" {name}: the network this home's wallet uses, as post and run do"


def cmd_serve(args: argparse.Namespace) -> int:
    from practitioner.admission import InboxPolicy
    from practitioner.inbox import InboxServer
    from practitioner.inbox_aio import AioInboxServer

    relay = admit = redeem = sent_blob = None
    # relaying signs transactions, redeeming signs invitations: only with an account given explicitly
    signs = bool(args.account or args.private_key_file)
    if signs or args.rpc or args.network:
        policy = InboxPolicy(build_session(args, signs=signs), max_gas=args.relay_max_gas,
                             per_address=args.relay_per_address)
        admit = policy.admit_upload
        sent_blob = policy.sent_blob  # checked against the chain, signs nothing
        relay = policy.relay if signs else None
        redeem = policy.redeem_invitation if signs else None
    home = _home(args)
    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port {args.port} is not a TCP port (0-65535; 0 = any free port).")
    try:
        # aiohttp by default (docs/ARCHITECTURE.md: measured with benchmarks.inbox); the
        # standard library's server stays selectable
        server_class = AioInboxServer if args.server == "aiohttp" else InboxServer
        server = server_class(
            home.blob_dir, host=args.host, port=args.port, max_blob_bytes=args.max_blob_bytes,
            relay=relay, record_path=args.record_bodies, upload_dir=home.upload_dir, admit=admit,
            redeem=redeem, sent_blob=sent_blob,
        )
    except OSError as exc:
        raise InvalidInput(
            f"Cannot serve the inbox on {args.host}:{args.port}: {exc.strerror or exc} "
            "(is another inbox running there? choose another --port)."
        ) from exc
    print(f"inbox serving {home.blob_dir} at {server.url}"
          + (" (relaying gasless submissions, redeeming invitation codes)" if relay
             else " (no relay: give --account to relay and redeem invitation codes)")
          + ("; giving owners their own blobs back once a round is reported" if sent_blob else
             "; no chain (give --rpc/--board or --network" + _home_network_hint(home.root.parent)
             + "), so uploads are not checked against their on-chain commits and no blob is given back"),
          flush=True)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def contributor_lines(report: dict[str, Any], amount_text: Any, proved: list[str] | None = None) -> list[str]:
    """One line per submission of an evaluated round's report: its value ± standard error,
    pay factor, the scale the round's bound along the reference put on it (when < 1), amount
    and share of the round; copies (and, with `proved`, whether their owners get a copy
    proof) and rejections with their reason."""
    reward = int(report["reward"])
    lines = []
    for line in report["contributors"]:
        if line.get("copyOf"):
            proof = "" if proved is None else (
                "; its owner can fetch the copy proof" if line["address"] in proved else
                "; no copy proof (more links from the original than a proof opens), so its owner's "
                "wallet will say Mismatch")
            lines.append(f"  {line['address']}  copy of {line['copyOf']}: gets nothing{proof}")
            continue
        factor = line.get("payFactor")
        amount = int(line["amount"])
        lines.append(
            f"  {line['address']}  value {line['value']:+.5f} ± {line['stdErr']:.5f}  "
            + (f"pay factor {float(factor):.2f}  " if isinstance(factor, (int, float)) else "")
            + (f"scaled to {float(scale):.2f}  " if isinstance(scale := line.get("scale"), (int, float))
               and scale < 1.0 else "")
            + f"gets {amount_text(amount)}" + (f" ({amount / reward:.1%} of the round)" if reward > 0 else ""))
    lines += [f"  {line['address']}  rejected: {line['reason']}" for line in report["rejected"]]
    return lines


def credit_lines(report: dict[str, Any]) -> list[str]:
    """The closing round's leftover credits (its report's `credits`), one line per account
    with its share of the leftover; none before the closing round."""
    credits = {address: int(credit) for address, credit in (report.get("credits") or {}).items()}
    total = sum(credits.values())
    if total <= 0:
        return ["  (no account has a leftover credit: the leftover goes by pay, or equally per submission)"] \
            if "credits" in report else []
    return [f"  {address}  {credit / total:.1%} of the leftover"
            for address, credit in sorted(credits.items(), key=lambda item: (-item[1], item[0]))]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from practitioner.evaluate import check_evaluable, evaluate_round
    from practitioner.runner import uploads_to_wait_for

    session = build_session(args)  # evaluating signs nothing
    _bounty, info = check_evaluable(session, args.bounty, args.round)  # before the key's password
    awaited, until = (0, 0) if args.now else uploads_to_wait_for(session, args.bounty, args.round,
                                                                 info.deadline)
    if awaited:
        raise InvalidInput(
            f"{awaited} committed update(s) of this round are not uploaded yet; their owners may "
            f"still be sending them (`run` waits for them until {time.strftime('%H:%M:%S', time.localtime(until))}). Evaluate after "
            "that, or pass --now to reject them as unavailable.")
    with _cluster(args) as cluster:  # an unreachable cluster is said before the password too
        result = evaluate_round(session, args.bounty, args.round, _private_key(args, session),
                                cluster=cluster)
    report = result.report
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    token = session.client.bounty(args.bounty).token
    method = {"exact": "exact Shapley", "gtg": f"GTG-Shapley, seed {report['seed']}"}.get(report["method"])
    valued = f"{method}, {report['players']} player(s)" if method else "no update accepted"
    paid, reward = int(report["paid"]), int(report["reward"])
    # the board returns a round's reward only when nobody submitted; otherwise the rest is the
    # contributors' (carried into the next round's pot, shared at the end)
    submitted = report["contributors"] or report["rejected"]
    closing = "credits" in report  # the closing round: no next round to carry into
    rest = ("stay with the bounty's contributors: shared by the leftover's credits below when the bounty ends"
            if submitted and closing else
            "stay with the bounty's contributors: carried into the next round's pot, or shared by "
            "the leftover's credits once the bounty ends" if submitted else "go back to your claimable balance")
    print(f"bounty {args.bounty} {_round(session, args.bounty, args.round)}: {report['metric']} "
          f"{report['metricBefore']:.4f} -> {report['metricAfter']:.4f}, accuracy "
          f"{report['accuracyBefore']:.1%} -> {report['accuracyAfter']:.1%} ({valued}); "
          f"pays {session.amount_text(paid, token)} of {session.amount_text(reward, token)}"
          + (f" ({session.amount_text(reward - paid, token)} {rest})" if paid < reward else ""))
    for text in contributor_lines(report, lambda amount: session.amount_text(amount, token),
                                  result.record.get("copyProofs")):
        print(text)
    credited = credit_lines(report)
    if credited:  # the closing round: finalize records them first (assignCredits)
        print("the bounty's leftover credits (each account's value pooled over the bounty: what it demonstrates "
              "by lower bounds, the rest by estimates):")
        for text in credited:
            print(text)
    print(f"report {result.record['reportHash']} written; send it with "
          f"`quarry-practitioner finalize {args.bounty} {args.round}`")
    return 0


def cmd_finalize(args: argparse.Namespace) -> int:
    from practitioner.finalize import check_finalizable, finalize_round

    session = build_session(args)
    check_finalizable(session, args.bounty, args.round)  # before unlocking the wallet
    session.signer = _signer(args, session.home.root.parent, signs=True)
    tx_hash = finalize_round(session, args.bounty, args.round)
    if args.json:
        print(json.dumps({"bountyId": args.bounty, "round": args.round, "txHash": tx_hash}))
    else:
        print(f"bounty {args.bounty} {_round(session, args.bounty, args.round)} finalized: {tx_hash}")
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    from practitioner.reveal import check_revealable, reveal_validation

    session = build_session(args)
    check_revealable(session, args.bounty)  # before unlocking the wallet
    session.signer = _signer(args, session.home.root.parent, signs=True)
    revealed = reveal_validation(session, args.bounty)
    if args.json:
        print(json.dumps({"bountyId": args.bounty, "dataHash": revealed.data_hash, "uri": revealed.uri,
                          "txHash": revealed.tx_hash, "openedRounds": revealed.opened_rounds}))
    elif revealed.tx_hash is None:
        print(f"bounty {args.bounty}: the validation set was already revealed ({revealed.data_hash} at "
              f"{revealed.uri})")
    else:
        print(f"bounty {args.bounty}: validation set revealed ({revealed.data_hash} at {revealed.uri}): "
              f"{revealed.tx_hash}")
    if revealed.opened_rounds and not args.json:
        print(f"bounty {args.bounty}: the counted updates of {revealed.opened_rounds} round(s) are now open to "
              "their contributors (open_updates)")
    return 0


def _bounty_status(session: Session, bounty_id: int) -> dict[str, Any]:
    client = session.client
    bounty = client.bounty(bounty_id)
    info = client.round(bounty_id, bounty.current_round)
    now = client.now()
    local = session.bounty_dir(bounty_id) / "bounty.json"
    title = read_json(local).get("title", "") if local.is_file() else ""
    invited = codes = None  # by invitation: addresses this home invited; codes made, redeemed
    if local.is_file():
        from practitioner.evaluate import spec_of
        from practitioner.invitations import code_counts, invited_addresses

        found = invited_addresses(session, spec_of(session, bounty), bounty_id)
        if found is not None:
            invited = len(found)
            made, redeemed = code_counts(session, bounty_id)
            codes = {"made": made, "redeemed": redeemed}
    return {
        "bountyId": bounty_id, "title": title, "owner": bounty.owner, "token": bounty.token,
        "status": bounty.status, "rounds": bounty.rounds, "currentRound": bounty.current_round,
        "roundState": info.state_text, "deadline": info.deadline,
        "secondsLeft": max(0, info.deadline - now), "submissions": info.submissions,
        "rewardPerRound": str(bounty.reward_per_round), "escrow": str(bounty.escrow),
        "mine": local.is_file(), "invited": invited, "codes": codes,
    }


def cmd_status(args: argparse.Namespace) -> int:
    session = build_session(args)  # read-only: no account, no password
    if args.bounty is not None:
        ids = [args.bounty]
    else:
        ids = session.home.known_bounties(session.chain_id, session.board_address)
    rows = [_bounty_status(session, i) for i in ids]
    if args.json:
        print(json.dumps(rows if args.bounty is None else rows[0], indent=1))
        return 0
    if not rows:
        print(f"no bounties posted from this home on chain {session.chain_id} "
              f"(BountyBoard {session.board_address})")
    for row in rows:
        state = row["roundState"]
        if row["status"] != "open":
            timing = ""
        elif row["secondsLeft"]:
            timing = f", closes in {row['secondsLeft']} s"
        else:  # still "open" on chain until finalised, but past its deadline
            state, timing = "closed", ": evaluate and finalize it (`run` does)"
        held = session.amount_text(int(row["escrow"]), row["token"])
        # once a bounty has ended, what the board still holds is its leftover, owed to contributors
        held = f"{held} in escrow" if row["status"] == "open" else f"{held} not yet claimed by its contributors"
        print(f"#{row['bountyId']} {row['title']!s:.40} [{row['status']}] "
              f"{round_text(row['currentRound'], row['rounds'])} {state}{timing}, "
              f"{row['submissions']} submission(s), "
              f"{session.amount_text(int(row['rewardPerRound']), row['token'])} per round, {held}"
              + _invitation_text(row))
    return 0


def _invitation_text(row: dict[str, Any]) -> str:
    if row["invited"] is None:
        return ""
    codes = row["codes"] or {}
    redeemed = (f", {codes['redeemed']} of {codes['made']} codes redeemed" if codes.get("made") else "")
    return f", by invitation ({row['invited']} invited{redeemed})"


def _paid_lines(session: Session, bounty_id: int, round_index: int) -> list[str]:
    """What a round `run` finalised paid, from its evaluation record: the total, then each payee."""
    from practitioner.evaluate import round_record_path

    path = round_record_path(session, bounty_id, round_index)
    if not path.is_file():
        return []
    record = read_json(path)
    token = session.client.bounty(bounty_id).token
    pairs = [(str(a), int(m)) for a, m in zip(record.get("contributors", []), record.get("amounts", []), strict=False)]
    paid = [(a, m) for a, m in pairs if m > 0]
    lines = [f"  paid {session.amount_text(sum(m for _, m in paid), token)} to {len(paid)} of "
             f"{len(record.get('submitters', []))} submitter(s) (the report: {record.get('reportURI', '')})"]
    lines += [f"  {address}: {session.amount_text(amount, token)}" for address, amount in paid]
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from practitioner.runner import process_due_rounds, run

    session = build_session(args, signs=True)
    with _cluster(args) as cluster:
        private_key = _private_key(args, session)

        def say(done) -> None:
            print(f"bounty {done.bounty_id} {round_text(done.round_index, done.rounds)} "
                  f"{done.outcome}: {done.tx_hash}", flush=True)
            if done.outcome == "finalized":
                for line in _paid_lines(session, done.bounty_id, done.round_index):
                    print(line, flush=True)

        if args.once:
            for done in process_due_rounds(session, private_key, cluster):
                say(done)
            return 0
        mine = session.home.known_bounties(session.chain_id, session.board_address)
        print(f"watching {len(mine)} bounty(ies) posted from this home on chain {session.chain_id}; "
              "each round is evaluated and finalized as it closes"
              + (f" (on the cluster at {cluster.address})" if cluster else "") + " (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            run(session, private_key, stop, args.poll, on_done=say, cluster=cluster)
    return 0


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quarry-practitioner",
        description="Post bounties, collect encrypted updates, value contributions, pay out.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("keygen", help="create the Paillier key pair (private part encrypted)")
    _common(p)
    p.add_argument("--bits", type=int, default=DEFAULT_BITS, help="modulus size (default 2048)")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("spec-from", help="draft a spec from a data file (edit it, then post)",
                       description="Read a data file (CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, "
                       "JSON, .npz) and print a draft spec: its number columns as features, "
                       "the label column's values as classes, a model and training defaults.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--label", required=True, metavar="COL", help="the label column")
    p.add_argument("--sheet", metavar="NAME", help="the spreadsheet's sheet (default: the first)")
    p.add_argument("--title", help="the bounty's title (default: from the file name)")
    p.add_argument("--min-rows", type=int, default=20, metavar="N",
                   help="fewest rows an owner must train on (schema.min_rows; default 20)")
    p.add_argument("--out", metavar="SPEC.json", help="write the draft here instead of stdout")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_spec_from)

    p = sub.add_parser("post", help="post a bounty from a spec file, with its escrow")
    _common(p)
    _chain_options(p)
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument("--validation", nargs="+", required=True, metavar="FILE",
                   help="held-out validation data (CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON "
                        "or .npz; columns matched to the spec's by name); never published")
    p.add_argument("--reward", required=True, metavar="X", help="reward per round in tokens")
    p.add_argument("--rounds", required=True, type=int, metavar="R")
    p.add_argument("--round-seconds", required=True, type=int, metavar="S")
    p.add_argument("--not-verifiable", action="store_true",
                   help="the validation set must stay private: it is never revealed, so data owners "
                        "cannot check the scores (the spec and the bounty page say so)")
    p.add_argument("--open-updates", action="store_true",
                   help="once the validation set is revealed, open every counted update of each round "
                        "to that round's contributors, so every data owner's wallet recomputes every "
                        "value of the round, not only its own (the spec and the bounty page say so)")
    p.add_argument("--by-invitation", action="store_true",
                   help="value only the updates of data owners you invite (`invite`): strangers and "
                        "second addresses of one person are paid nothing")
    p.add_argument("--allow-revealed-validation", action="store_true",
                   help="post even when validation rows are ones another bounty of this home revealed "
                        "(refused otherwise: anyone could send them back as an update and be paid for "
                        "them); for rows that are public anyway")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_post)

    p = sub.add_parser("invite", help="invite data owners to a bounty posted --by-invitation: one "
                                      "signed invitation file per address, to send to its owner, or "
                                      "--codes N single-use codes they redeem at your inbox")
    _common(p)
    _chain_options(p)
    p.add_argument("bounty", type=int, metavar="BOUNTY")
    p.add_argument("addresses", nargs="*", metavar="ADDRESS", help="the owners' addresses (EIP-55)")
    p.add_argument("--codes", type=int, metavar="N",
                   help="instead of addresses: make N single-use invitation codes to hand out")
    p.add_argument("--out", default=".", metavar="DIR", help="where to write the files (default: here)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_invite)

    p = sub.add_parser("serve", help="run the inbox on 127.0.0.1")
    _common(p)
    _chain_options(p)
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--max-blob-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--relay-max-gas", type=int, default=500_000, metavar="GAS",
                   help="refuse to relay a submission estimated to need more gas (default 500000)")
    p.add_argument("--relay-per-address", type=int, default=5, metavar="N",
                   help="relay at most N submissions per contributor address per hour (default 5)")
    p.add_argument("--server", choices=("aiohttp", "stdlib"), default="aiohttp",
                   help="HTTP stack: aiohttp (default) or the standard library's http.server")
    p.add_argument("--record-bodies", metavar="FILE", help=argparse.SUPPRESS)  # tests: keep every body
    p.set_defaults(func=cmd_serve)

    for name, func, text in (
        ("evaluate", cmd_evaluate, "evaluate a closed round and write its report"),
        ("finalize", cmd_finalize, "pay an evaluated round on chain"),
    ):
        p = sub.add_parser(name, help=text)
        _common(p)
        _chain_options(p)
        p.add_argument("bounty", type=int, metavar="BOUNTY")
        p.add_argument("round", type=int, metavar="ROUND")
        p.add_argument("--json", action="store_true")
        if name == "evaluate":
            _cluster_options(p)
            p.add_argument("--now", action="store_true",
                           help="evaluate although committed updates are not uploaded yet (they are "
                                "rejected as unavailable; `run` waits for them within its upload window)")
        p.set_defaults(func=func)

    p = sub.add_parser("reveal", help="publish an ended bounty's validation set, so owners can check their pay")
    _common(p)
    _chain_options(p)
    p.add_argument("bounty", type=int, metavar="BOUNTY")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reveal)

    p = sub.add_parser("status", help="your bounties and their rounds")
    _common(p)
    _chain_options(p)
    p.add_argument("bounty", type=int, nargs="?", metavar="BOUNTY")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("run", help="evaluate and finalise rounds as they close")
    _common(p)
    _chain_options(p)
    p.add_argument("--poll", type=float, default=5.0, metavar="S")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    _cluster_options(p)
    p.set_defaults(func=cmd_run)
    return parser


class _LevelFormatter(logging.Formatter):
    """'warning: message' (the level in lower case), as the CLI prints its own notes."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reset_stdin()  # '-' reads one secret from standard input per run
    verbose = bool(getattr(args, "verbose", False))
    handler = logging.StreamHandler(sys.stderr)
    # without -v only warnings show: as one "warning: ..." line like the CLI's other notes
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s") if verbose
                         else _LevelFormatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    try:
        return int(args.func(args) or 0)
    except (QuarryError, TrainerError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or directory the OS refused (e.g. --record-bodies)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # as `quarry` does: one line, the shell's code for SIGINT
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
