"""The owner's CLI against a real devnet: each bounty's own token (symbol, decimals, unlisted
tokens marked), `quarry bounties expire`, and `quarry train` refusing an update whose round
moved on while it was being built."""

# fixtures imported from tests.cli_fixtures are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_utils import keccak

from common.artifacts import abi
from devnet.config import CHAIN_ID
from practitioner.keys import generate_keypair, save_private_key
from practitioner.post import post_bounty
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.anvil import devnet_w3, faucet_signer
from tests.cli_fixtures import devnet, fast_scrypt, home, run, wallet_files  # noqa: F401 (fixtures)
from tests.token_fixtures import deploy_test_token
from wallet.blob_store import LocalBlobStore, blob_hash
from wallet.bounties import BountyClient
from wallet.contracts import deploy
from wallet.token import short_address
from wallet.tx import transact

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
UNIT = 10**18
GRACE = 5  # seconds: the board deployed for these tests lets anyone expire a round soon
SPEC = {"version": 1, "title": "Tokens", "task": "classification", "metric": "accuracy"}


def _create(w3, signer, board: str, token, reward: int, rounds: int, duration: int, spec_uri: str,
            spec_hash: bytes) -> int:
    transact(w3, signer, token.functions.approve(board, reward * rounds), expected_chain_id=CHAIN_ID)
    contract = w3.eth.contract(address=board, abi=abi("BountyBoard"))
    transact(w3, signer, contract.functions.createBounty(
        token.address, reward, rounds, duration, 5, spec_hash, spec_uri, keccak(b"m0"), "file:///m0"),
        expected_chain_id=CHAIN_ID)
    return int(contract.functions.bountyCount().call())


def _wait_until(client: BountyClient, when: int) -> None:
    while client.now() < when:
        time.sleep(0.2)


@pytest.mark.slow
def test_each_bounty_shows_its_own_token_and_a_round_expires_from_the_cli(devnet, home, wallet_files, capsys):
    w3 = devnet_w3(devnet)
    me = wallet_files["account"]
    devnet.faucet(me.address)
    deployer = faucet_signer(devnet)  # 1,000 QDT of the network's own token
    board = deploy(w3, deployer, "BountyBoard", GRACE, expected_chain_id=CHAIN_ID)
    dollars = deploy_test_token(w3, deployer, "Test Dollar", "TUSD", 6)
    lookalike = deploy_test_token(w3, deployer, "Quarry Data Token", "QDT", 18)
    for token in (dollars, lookalike):
        transact(w3, deployer, token.functions.mint(deployer.address, 1000 * UNIT), expected_chain_id=CHAIN_ID)
    qdt = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    data = json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
    spec_uri = LocalBlobStore(home / "blobs").put(data)
    real = _create(w3, deployer, board, qdt, 10 * UNIT, 1, 600, spec_uri, keccak(data))
    fake = _create(w3, deployer, board, lookalike, 10 * UNIT, 1, 600, spec_uri, keccak(data))
    assert run(home, "network", "use", devnet.url, "--chain-id", str(CHAIN_ID), "--board", board,
               "--token", devnet.token, "--name", "short-grace") == 0
    capsys.readouterr()

    # round 0 of a bounty in a 6-decimals token: scored and paid 1.25 TUSD
    tusd = _create(w3, deployer, board, dollars, 2_500_000, 2, 4, spec_uri, keccak(data))
    client = BountyClient(w3, board, CHAIN_ID, file_roots=None)
    client.submit(me, tusd, blob_hash(b"u0"), "file:///u0")
    _wait_until(client, client.bounty(tusd).round_deadline)
    contract = w3.eth.contract(address=board, abi=abi("BountyBoard"))
    transact(w3, deployer, contract.functions.finalize(
        tusd, 0, [me.address], [1_250_000], keccak(b"m1"), "file:///m1", keccak(b"r"), "file:///r"),
        expected_chain_id=CHAIN_ID)
    # round 1: the practitioner goes silent; the owner expires the round after the grace period
    client.submit(me, tusd, blob_hash(b"u1"), "file:///u1")
    assert run(home, "bounties", "expire", str(tusd), "1", "--password-file", wallet_files["pw"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Round 1 of bounty {tusd} cannot be expired yet") and err.count("\n") == 1
    _wait_until(client, client.bounty(tusd).round_deadline + GRACE + 1)
    assert run(home, "bounties", "expire", str(tusd), "1", "--password-file", wallet_files["pw"]) == 0
    assert capsys.readouterr().out.startswith(f"Expired bounty {tusd}, round 1 (2 of 2) (0x")
    assert client.rounds(client.bounty(tusd))[1]["state"] == "expired"
    assert run(home, "bounties", "expire", str(tusd), "1", "--password-file", wallet_files["pw"]) == 1
    assert "cannot be expired" in capsys.readouterr().err

    assert run(home, "bounties", "list") == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "10 QDT" in rows[str(real)] and "unverified" not in rows[str(real)]
    assert f"2.5 TUSD (unverified token {short_address(dollars.address)})" in rows[str(tusd)]
    assert f"10 QDT (unverified token {short_address(lookalike.address)})" in rows[str(fake)]
    assert run(home, "bounties", "list", "--json") == 0
    listed = {b["id"]: b for b in json.loads(capsys.readouterr().out)}
    assert (listed[tusd]["token_symbol"], listed[tusd]["token_decimals"], listed[tusd]["token_known"]) == (
        "TUSD", 6, False)
    assert (listed[real]["token_symbol"], listed[real]["token_known"]) == ("QDT", True)
    assert run(home, "bounties", "show", str(fake)) == 0
    out = capsys.readouterr().out
    assert "WARNING: this bounty pays in a token this network does not list" in out
    assert f"10 QDT (unverified token {short_address(lookalike.address)}) per round" in out

    assert run(home, "rewards") == 0
    out = capsys.readouterr().out
    assert f"1.25 TUSD (unverified token {short_address(dollars.address)})" in out and "expired" in out
    # the expired round's pot: its 2.5 and the 1.25 round 0 left unassigned, all the only
    # submitter's; `quarry claim` collects that share on the board, then pays everything
    assert "3.75 TUSD" in out and "Claimable now: 5 TUSD" in out
    # without --token: every token something may be claimable in is checked
    assert run(home, "claim", "--password-file", wallet_files["pw"]) == 0
    assert "Claimed 5 TUSD" in capsys.readouterr().out
    assert dollars.functions.balanceOf(me.address).call() == 5_000_000
    # nothing left: an answer on stdout and exit 0, not an error
    assert run(home, "claim", "--token", dollars.address, "--password-file", wallet_files["pw"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Nothing to claim: {me.address} has nothing to claim in TUSD (unverified token")
    assert out.count("\n") == 1 and err == ""
    assert run(home, "claim", "--token", dollars.address, "--password-file", wallet_files["pw"], "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run(home, "wallet", "history") == 0
    assert "+1.25 TUSD (unverified token" in capsys.readouterr().out


@pytest.mark.slow
def test_train_refuses_an_update_whose_round_moved_on(devnet, home, wallet_files, tmp_path):
    """The owner's `quarry train` is held (its progress pipe is full, a real OS pipe) after
    training started; the round closes and is finalised meanwhile; the finished update is
    refused with one error line and nothing is submitted."""
    w3 = devnet_w3(devnet)
    me = wallet_files["account"]
    devnet.faucet(me.address)
    practitioner_home = PractitionerHome.at(home / "other")  # file:// blobs inside the wallet's home
    _, private_key = generate_keypair(512)
    save_private_key(practitioner_home.key_path, private_key, "pw")
    session = Session(home=practitioner_home, w3=w3, chain_id=CHAIN_ID, board_address=devnet.board,
                      token_address=devnet.token, signer=faucet_signer(devnet))
    bounty_id = post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                            reward_per_round=UNIT, rounds=2, round_seconds=20, min_round_seconds=20).bounty_id
    env = dict(os.environ, PYTHONPATH=str(REPO), QUARRY_SCRYPT_N="4096")
    trainer = subprocess.Popen(
        [sys.executable, "-m", "wallet.cli", "--home", str(home), "train", str(bounty_id),
         "--data", str(DEMO / "wine_owner_a.csv"), "--epochs", "10000", "--password-file", wallet_files["pw"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # one line per epoch: once training has started, stop reading; the pipe fills and holds it
        # (the round is long enough for `quarry train` to start on a loaded machine; what it
        # said before training is kept for the failure message)
        said = []
        while not (line := trainer.stderr.readline()).startswith("[train] Epoch"):
            said.append(line)
            assert line, ("".join(said), trainer.communicate(timeout=60))
        client = BountyClient(w3, devnet.board, CHAIN_ID, file_roots=None)
        _wait_until(client, client.bounty(bounty_id).round_deadline)
        session.client.finalize(bounty_id, 0, [], [], "0x" + "11" * 32, "file:///next", "0x" + "22" * 32,
                                "file:///report")
        assert client.bounty(bounty_id).current_round == 1
        out, err = trainer.communicate(timeout=180)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert trainer.returncode == 1, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: This update was built for round 0 (1 of 2) of bounty {bounty_id}, which is no "
                      "longer current (round 1 (2 of 2) is); nothing was sent. Train again for the current "
                      "round."], err[-2000:]
    assert "Traceback" not in err and out == ""
    assert client.submission(bounty_id, 0, me.address) is None
    assert client.submission(bounty_id, 1, me.address) is None


def test_quarry_upload_publishes_committed_updates_and_drops_the_rest(devnet, home, wallet_files, capsys):
    from wallet.outbox import Outbox, PendingUpload, blob_uri

    w3 = devnet_w3(devnet)
    me = wallet_files["account"]
    devnet.faucet(me.address)
    assert run(home, "upload") == 0
    assert capsys.readouterr().out.strip() == "Nothing waits to be uploaded."
    practitioner = faucet_signer(devnet)
    data = json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
    qdt = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    bounty_id = _create(w3, practitioner, devnet.board, qdt, UNIT, 1, 600,
                        LocalBlobStore(home / "blobs").put(data), keccak(data))
    outbox = Outbox(home / "outbox")
    committed, never = b"an update committed on chain", b"an update whose commit never happened"
    for blob in (committed, never):
        digest = blob_hash(blob)
        outbox.keep(blob, PendingUpload(digest, bounty_id, 0, me.address, "", str(home / "blobs"),
                                        blob_uri(digest, "", home / "blobs")))
    BountyClient(w3, devnet.board, CHAIN_ID, file_roots=None).submit(me, bounty_id, blob_hash(committed),
                                                    blob_uri(blob_hash(committed), "", home / "blobs"))
    assert run(home, "rewards") == 0
    assert "2 submitted update(s) not uploaded yet: run 'quarry upload'." in capsys.readouterr().out
    assert run(home, "upload") == 0
    out = capsys.readouterr().out
    assert f"{blob_hash(committed)[:12]}…: uploaded to file://" in out
    assert f"{blob_hash(never)[:12]}…: its hash was never committed on chain; dropped" in out
    assert (home / "blobs" / blob_hash(committed)).read_bytes() == committed
    assert not (home / "blobs" / blob_hash(never)).exists() and outbox.pending() == []
