"""`quarry devnet|network|wallet balance|wallet send|bounties|rewards|claim` against a real devnet."""

# fixtures imported from tests.cli_fixtures are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from common.artifacts import abi
from devnet.config import CHAIN_ID, FAUCET_ETH, FAUCET_TOKENS
from devnet.server_info import read_server_info
from tests.anvil import chain_id_only_node, devnet_w3, free_port
from tests.cli_fixtures import devnet, fast_scrypt, home, run, wallet_files  # noqa: F401 (fixtures)
from wallet.blob_store import LocalBlobStore, blob_hash
from wallet.bounties import BountyClient
from wallet.store import Store
from wallet.tx import transact

REPO = Path(__file__).resolve().parents[1]
UNIT = 10**18
# the title carries a terminal escape (clear screen) and a right-to-left override: shown defused
SPEC = {"version": 1, "title": "Heart disease\x1b[2J\u202e", "task": "classification", "metric": "accuracy"}


def test_balance_funds_a_new_account_once_and_send_tokens(devnet, home, wallet_files, capsys):
    me = wallet_files["account"].address
    assert run(home, "wallet", "balance", "--json") == 0
    out, err = capsys.readouterr()
    assert "funded" in err and "faucet" in err
    data = json.loads(out)
    assert data["account"] == me
    assert [(b["symbol"], b["amount"]) for b in data["balances"]] == [("ETH", "10"), ("QDT", "1000")]
    assert run(home, "wallet", "balance") == 0
    out, err = capsys.readouterr()
    assert "funded" not in out + err and "1000 QDT" in out

    receiver = Account.create().address
    assert run(home, "wallet", "send", "--to", receiver, "--amount", "1.5", "--token", "QDT",
               "--yes", "--password-file", wallet_files["pw"]) == 0
    out, _ = capsys.readouterr()
    assert "Send 1.5 QDT to" in out and "network fee about" in out and "Mined in block" in out
    token = devnet_w3(devnet).eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    assert token.functions.balanceOf(receiver).call() == 1_500_000_000_000_000_000
    assert run(home, "wallet", "history", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert any(row["amount_text"] == "-1.5 QDT" for row in history)

    # typed addresses must carry their EIP-55 checksum: no checksum, or a typo in it, sends nothing
    typo = receiver[:-1] + ("0" if receiver[-1] != "0" else "1")
    for bad, message in ((receiver.lower(), "has no EIP-55 checksum"), (typo, "wrong EIP-55 checksum")):
        assert run(home, "wallet", "send", "--to", bad, "--amount", "1", "--token", "QDT", "--yes",
                   "--password-file", wallet_files["pw"]) == 1
        assert message in capsys.readouterr().err
    assert run(home, "rewards", "--account", me.lower()) == 1
    assert "has no EIP-55 checksum" in capsys.readouterr().err

    # without --yes and without a terminal, nothing is sent
    assert run(home, "wallet", "send", "--to", receiver, "--amount", "1", "--password-file", wallet_files["pw"]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert token.functions.balanceOf(receiver).call() == 1_500_000_000_000_000_000


def test_network_list_use_and_clear_errors(devnet, home, wallet_files, capsys):
    assert run(home, "network", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(n["name"], n["current"]) for n in listed] == [("embedded", True)]
    wrong_chain = f"The node at {devnet.url} is on chain {CHAIN_ID}, but this network is configured for chain 5."
    # checked on `use`: a wrong chain or a node that is down changes nothing
    assert run(home, "network", "use", devnet.url, "--chain-id", "5", "--name", "wrong") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {wrong_chain} Nothing was changed (--offline saves it without checking).")
    down = f"http://127.0.0.1:{free_port()}"
    assert run(home, "network", "use", down, "--chain-id", "1") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: Cannot reach the Ethereum node at {down}: connection refused. "
        "Nothing was changed (--offline saves it without checking).")
    assert run(home, "network", "list", "--json") == 0
    assert [n["name"] for n in json.loads(capsys.readouterr().out)] == ["embedded"]
    # --offline saves it anyway; the check then comes when it is used
    assert run(home, "network", "use", devnet.url, "--chain-id", "5", "--name", "wrong", "--offline") == 0
    capsys.readouterr()
    assert run(home, "wallet", "balance") == 1
    assert capsys.readouterr().err.strip() == f"error: {wrong_chain}"
    assert run(home, "network", "use", down, "--chain-id", "1", "--offline") == 0
    capsys.readouterr()
    assert run(home, "wallet", "balance") == 1
    assert capsys.readouterr().err.strip() == f"error: Cannot reach the Ethereum node at {down}: connection refused"
    down_name = down.split("://")[1]
    assert run(home, "network", "use", "nosuchname") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: No network named 'nosuchname' (known: embedded, {down_name}, wrong).")
    assert run(home, "network", "use", devnet.url, "--name", "other", "--offline") == 1
    assert "is already the network 'wrong'" in capsys.readouterr().err
    assert run(home, "network", "use", "embedded") == 0
    assert run(home, "network", "list") == 0
    out = capsys.readouterr().out
    assert "* " in out and "wrong" in out
    # the devnet runs on its own port: the list shows where, not the default "on demand"
    assert f"{devnet.url}  0x" in out and "started on demand" not in out


def _post_bounty(devnet, w3, tmp_path, duration: int) -> int:
    practitioner = Account.from_key(devnet.context().practitioner_key)
    data = json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
    uri = LocalBlobStore(tmp_path / "home" / "blobs").put(data)  # inside the wallet's home
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    board = w3.eth.contract(address=devnet.board, abi=abi("BountyBoard"))
    transact(w3, practitioner, token.functions.approve(devnet.board, 200 * UNIT), expected_chain_id=CHAIN_ID)
    transact(w3, practitioner, board.functions.createBounty(
        devnet.token, 100 * UNIT, 2, duration, 5, keccak(data), uri, keccak(b"m0"), "file:///m0"),
        expected_chain_id=CHAIN_ID)
    return int(board.functions.bountyCount().call())


@pytest.mark.slow
def test_bounties_rewards_and_claim(devnet, home, wallet_files, tmp_path, capsys):
    w3 = devnet_w3(devnet)
    me = wallet_files["account"]
    assert run(home, "wallet", "balance") == 0  # funds the account
    bounty_id = _post_bounty(devnet, w3, tmp_path, duration=8)
    with Store(home) as store:
        client = BountyClient(w3, devnet.board, CHAIN_ID, store, "embedded", file_roots=None)
        client.submit(me, bounty_id, blob_hash(b"update"), "file:///update")
    capsys.readouterr()
    assert run(home, "bounties", "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["phase"], listed["escrow"]) == (bounty_id, "accepting", str(200 * UNIT))
    assert listed["round_submissions"] == 1 and listed["current_round"] == 0  # JSON: the on-chain index
    assert run(home, "bounties", "list") == 0
    assert "accepting  0 (1 of 2)" in capsys.readouterr().out
    assert run(home, "bounties", "show", str(bounty_id), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["spec_ok"] is True and shown["spec"] == SPEC and shown["verifiable"] is True
    assert shown["track_record"]["bounties_posted"] >= 1 and bounty_id in shown["track_record"]["bounty_ids"]
    assert run(home, "bounties", "show", str(bounty_id)) == 0
    out = capsys.readouterr().out
    assert "spec verified against its on-chain hash" in out
    assert "practitioner's track record" in out and "rounds finalised: 0" in out
    assert "; round 0 (1 of 2), deadline" in out and "  round 1 (2 of 2): " in out
    assert "Heart disease\ufffd[2J\ufffd" in out and "\x1b" not in out and "\u202e" not in out
    assert run(home, "bounties", "show", "42") == 1
    assert "no bounty 42" in capsys.readouterr().err

    assert run(home, "rewards", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)["submissions"]
    assert (row["status"], row["claim"]) == ("pending", "")

    board = w3.eth.contract(address=devnet.board, abi=abi("BountyBoard"))
    deadline = board.functions.getRound(bounty_id, 0).call()[0]
    while time.time() < deadline + 1:
        time.sleep(0.2)
    practitioner = Account.from_key(devnet.context().practitioner_key)
    report_path = home / "reports" / "r.json"  # inside the wallet's home: a place it reads
    transact(w3, practitioner, board.functions.finalize(
        bounty_id, 0, [me.address], [40 * UNIT], keccak(b"m1"), "file:///m1", keccak(b"r"),
        report_path.as_uri()), expected_chain_id=CHAIN_ID)
    assert run(home, "rewards") == 0
    out = capsys.readouterr().out
    assert "finalised" in out and "claimable" in out and "Claimable now: 40 QDT ('quarry claim')." in out
    assert f"{bounty_id}       0 (1 of 2)  finalised" in out
    # the report it committed to is nowhere to be found: said, and nothing counted as verified
    assert run(home, "rewards", "--verify") == 0
    out = capsys.readouterr().out
    assert f"Bounty {bounty_id}, round 0 (1 of 2): Not verifiable" in out and "cannot be fetched" in out
    assert run(home, "rewards", "--verify", "--json") == 0
    (checked,) = json.loads(capsys.readouterr().out)["rounds"]
    assert (checked["bounty_id"], checked["status"]) == (bounty_id, "not verifiable")
    # then bytes appear there that are not the report the chain names: a Mismatch, exit status 3
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_bytes(b"another report")
    assert run(home, "rewards", "--verify") == 3
    out = capsys.readouterr().out
    assert f"Bounty {bounty_id}, round 0 (1 of 2): Mismatch" in out
    assert "does not match the hash on chain" in out
    # a restored wallet asks for its blob back: this one's file is nowhere, said, exit status 1
    assert run(home, "recover-sent", "--password-file", wallet_files["pw"]) == 1
    out = capsys.readouterr().out
    assert f"Bounty {bounty_id}, round 0 (1 of 2): its blob could not be had:" in out
    assert out.rstrip().endswith("Nothing to get back.")
    assert run(home, "claim", "--password-file", wallet_files["pw"]) == 0
    assert capsys.readouterr().out.startswith("Claimed 40 QDT (0x")
    assert run(home, "wallet", "history") == 0
    out = capsys.readouterr().out
    assert f"Submitted an update to bounty {bounty_id}, round 0 (1 of 2)" in out
    assert f"Reward assigned: bounty {bounty_id}, round 0 (1 of 2)" in out
    assert run(home, "rewards", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)["submissions"]
    assert (row["status"], row["amount"], row["claim"]) == ("finalised", str(40 * UNIT), "claimed")
    assert run(home, "claim", "--password-file", wallet_files["pw"]) == 0
    assert capsys.readouterr().out.startswith(f"Nothing to claim: {me.address} has nothing to claim")


@pytest.mark.slow
def test_quarry_devnet_command_serves_until_terminated(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "wallet.cli", "--home", str(home), "devnet", "--port", str(port), "--no-plugins"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while read_server_info(home / "devnet") is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.2)
        info = read_server_info(home / "devnet")
        assert info["url"] == f"http://127.0.0.1:{port}" and info["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0
    assert f"serving at http://127.0.0.1:{port}" in output and "Embedded network stopped." in output
    assert read_server_info(home / "devnet") is None


def test_network_deploy_to_an_rpc_network(devnet, home, wallet_files, capsys):
    me = wallet_files["account"].address
    devnet.faucet(me)  # added --offline, the node is not known to have a faucet: fund by hand
    # --offline: the node is not asked for its contracts (a Quarry devnet would name them)
    assert run(home, "network", "use", devnet.url, "--name", "local", "--offline", "--chain-id", str(CHAIN_ID)) == 0
    assert "No BountyBoard is set" in capsys.readouterr().out
    assert run(home, "bounties", "list") == 1
    assert "No BountyBoard is configured for the network local" in capsys.readouterr().err
    assert run(home, "network", "deploy", "--grace-period", "60", "--password-file", wallet_files["pw"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Deployed on local: QuarryToken 0x")
    assert f"Minted 1000000 QDT to the deployer {me}" in out
    assert run(home, "network", "list", "--json") == 0
    local = next(n for n in json.loads(capsys.readouterr().out) if n["name"] == "local")
    assert local["current"] and local["board"] and local["board"] != devnet.board
    assert len(devnet_w3(devnet).eth.get_code(local["board"])) > 100
    assert run(home, "bounties", "list") == 0
    assert "No bounties on local yet." in capsys.readouterr().out
    assert run(home, "network", "use", "embedded") == 0
    assert run(home, "network", "deploy", "--password-file", wallet_files["pw"]) == 1
    assert "deploys its own contracts" in capsys.readouterr().err


def _import_account(home: Path, tmp_path: Path, password_file: str) -> str:
    account = Account.create()
    key_file = tmp_path / f"key-{account.address}"
    key_file.write_text(account.key.hex() + "\n")
    assert run(home, "wallet", "import", "--private-key-file", str(key_file), "--password-file", password_file) == 0
    return account.address


def test_a_second_home_joins_another_homes_devnet(devnet, home, tmp_path, capsys):
    """Owners sharing one machine: the second home gives only the first home's devnet URL;
    the contracts and the faucet come from the node."""
    w3 = devnet_w3(devnet)
    bounty_id = _post_bounty(devnet, w3, tmp_path, duration=600)
    second = tmp_path / "second"
    (tmp_path / "pw").write_text("pw-2\n")
    me = _import_account(second, tmp_path, str(tmp_path / "pw"))
    capsys.readouterr()
    name = devnet.url.split("://")[1]

    assert run(second, "network", "use", devnet.url) == 0
    assert capsys.readouterr().out.strip() == (
        f"Now using {name} (chain {CHAIN_ID}, {devnet.url}). Found on the node (a Quarry devnet): "
        f"QuarryToken {devnet.token}, BountyBoard {devnet.board}. Its faucet funds a new account the "
        "first time it is used ('quarry network faucet' asks again).")
    assert run(second, "network", "list", "--json") == 0
    joined = next(n for n in json.loads(capsys.readouterr().out) if n["current"])
    assert (joined["name"], joined["kind"], joined["token"], joined["board"], joined["deploy_block"]) == (
        name, "rpc", devnet.token, devnet.board, devnet.deploy_block())
    assert run(second, "bounties", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["id"], b["token"], b["token_known"]) for b in listed] == [(bounty_id, devnet.token, True)]

    # the node's faucet funds the second home's new account once, as on the embedded network
    assert run(second, "wallet", "balance", "--json") == 0
    out, err = capsys.readouterr()
    assert f"New account on {name}: funded {me} from the faucet with 10 ETH and 1000 QDT." in err
    assert [(b["symbol"], b["amount"]) for b in json.loads(out)["balances"]] == [("ETH", "10"), ("QDT", "1000")]
    assert w3.eth.get_balance(me) == FAUCET_ETH
    assert run(second, "wallet", "balance") == 0
    assert "funded" not in capsys.readouterr().out
    assert run(second, "network", "faucet") == 1  # asked again by name: the faucet's own limit
    err = capsys.readouterr().err
    assert err.startswith(f"error: The node at {devnet.url} refused quarry_faucet: The faucet already funded {me}")
    assert err.count("\n") == 1

    # a faucet at its hourly limit (several homes share it): a note, the command still runs,
    # and the faucet is asked again next time
    limited = _import_account(second, tmp_path, str(tmp_path / "pw"))
    capsys.readouterr()
    allowed, devnet.faucet_service.payments_per_interval = devnet.faucet_service.payments_per_interval, 0
    assert run(second, "wallet", "balance", "--account", limited, "--json") == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"The faucet of {name} did not fund {limited}: ") and "its limit" in err
    assert [b["amount"] for b in json.loads(out)["balances"]] == ["0", "0"]
    devnet.faucet_service.payments_per_interval = allowed
    assert run(second, "wallet", "balance", "--account", limited) == 0
    assert f"New account on {name}: funded {limited}" in capsys.readouterr().out
    assert w3.eth.get_balance(limited) == FAUCET_ETH

    # another account, funded by name (no automatic payment first), and not again by itself
    other = _import_account(second, tmp_path, str(tmp_path / "pw"))
    capsys.readouterr()
    assert run(second, "network", "faucet", "--account", other, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "account": other, "network": name, "eth": str(FAUCET_ETH), "qdt": str(FAUCET_TOKENS)}
    qdt = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    assert qdt.functions.balanceOf(other).call() == FAUCET_TOKENS
    assert run(second, "wallet", "balance", "--account", other) == 0
    assert "funded" not in capsys.readouterr().out

    # --token/--board given: they win over what the node names
    board = "0x" + "12" * 20
    assert run(tmp_path / "third", "network", "use", devnet.url, "--board", board, "--json") == 0
    chosen = json.loads(capsys.readouterr().out)
    assert (chosen["board"], chosen["token"], chosen["found_on_node"]) == (board, devnet.token, {"token": devnet.token})


def test_a_node_without_quarry_methods_is_used_as_before(home, wallet_files, capsys):
    """anvil, a public node: no quarry_contracts, so no contracts and no faucet, said plainly."""
    with chain_id_only_node(CHAIN_ID) as node:
        name = node.url.split("://")[1]
        assert run(home, "network", "use", node.url) == 0
        assert capsys.readouterr().out.strip() == (
            f"Now using {name} (chain {CHAIN_ID}, {node.url}). No BountyBoard is set: give --board ADDRESS "
            "or run 'quarry network deploy'.")
        assert "quarry_contracts" in node.calls  # asked, and it did not answer
        assert run(home, "bounties", "list") == 1
        assert f"No BountyBoard is configured for the network {name}" in capsys.readouterr().err
        assert run(home, "network", "faucet") == 1
        assert capsys.readouterr().err == (
            f"error: The network {name} has no faucet: its node at {node.url} is not a Quarry devnet (it does "
            "not answer quarry_contracts or quarry_faucet). Ask whoever runs it for test ETH and tokens.\n")
        assert "quarry_faucet" not in node.calls
    with chain_id_only_node(CHAIN_ID) as quiet:
        assert run(home, "network", "use", quiet.url, "--chain-id", str(CHAIN_ID), "--offline") == 0
        assert "No BountyBoard is set" in capsys.readouterr().out
        assert quiet.calls == []  # --offline: the node is not contacted at all


def test_devnet_stop_when_nothing_runs_and_the_start_notice(home, capsys):
    from wallet.cli.chain_cmd import announce_devnet_start

    assert run(home, "devnet", "--stop") == 0
    assert capsys.readouterr().out.strip() == "The embedded network is not running."
    announce_devnet_start("http://127.0.0.1:18545")
    assert capsys.readouterr().err.strip() == (
        "Started the embedded network at http://127.0.0.1:18545 (it keeps running in the background; "
        "stop it with 'quarry devnet --stop').")
