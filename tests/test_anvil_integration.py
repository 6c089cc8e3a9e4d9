"""The same client code against anvil over JSON-RPC: networks, deployment, tokens, the whole
bounty lifecycle (direct and gasless submissions, finalise, expire, rewards, claim), history.

anvil comes from npm (@foundry-rs/anvil, installed by scripts/setup.sh); without it these
tests fail and say so.
"""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_utils import keccak

from common.artifacts import abi
from tests.anvil import ANVIL_CHAIN_ID, ANVIL_KEY_0, anvil, start_anvil, store  # noqa: F401 (fixtures)
from wallet.blob_store import LocalBlobStore, blob_hash
from wallet.bounties import BountyClient, relay_submission
from wallet.errors import NetworkError, NotFound
from wallet.history import load_history
from wallet.network import connect, deploy_contracts, use_network
from wallet.token import balances, preview_send, send
from wallet.tx import send_and_wait, transact, wait_for_receipt

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

# anvil's second well-known development key (test money only)
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
UNIT = 10**18
GRACE = 600
DURATION = 3600
SPEC = {"version": 1, "title": "Anvil bounty", "metric": "accuracy"}


def _advance(w3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def test_chain_id_is_checked_against_anvil(anvil, store):
    network = use_network(store, anvil, chain_id=1337, name="anvil-wrong")
    with pytest.raises(NetworkError, match=f"is on chain {ANVIL_CHAIN_ID}, but this network is configured for chain 1337"):
        connect(network)


def test_market_lifecycle_on_anvil(anvil, store, tmp_path):
    network = use_network(store, anvil, name="anvil")
    assert network.chain_id == ANVIL_CHAIN_ID
    w3 = connect(network)
    deployer, practitioner = Account.from_key(ANVIL_KEY_0), Account.from_key(ANVIL_KEY_1)
    owner, newcomer = Account.create(), Account.create()
    network = deploy_contracts(store, network, w3, deployer, grace_period=GRACE)
    token = w3.eth.contract(address=network.token, abi=abi("QuarryToken"))
    board = w3.eth.contract(address=network.board, abi=abi("BountyBoard"))
    chain = network.chain_id
    transact(w3, deployer, token.functions.mint(practitioner.address, 1000 * UNIT), expected_chain_id=chain)
    send_and_wait(w3, deployer, owner.address, value=UNIT, expected_chain_id=chain)

    # a token transfer with the review step's preview
    preview = preview_send(w3, practitioner.address, owner.address, "5", network.token)
    wait_for_receipt(w3, send(w3, practitioner, preview, chain, store=store, network="anvil"))
    assert [(b.symbol, b.text) for b in balances(w3, owner.address, [network.token])] == [("ETH", "1"), ("QDT", "5")]

    # the practitioner posts a bounty whose spec is a content-addressed file
    spec_bytes = json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
    spec_uri = LocalBlobStore(tmp_path / "blobs").put(spec_bytes)
    transact(w3, practitioner, token.functions.approve(board.address, 200 * UNIT), expected_chain_id=chain)
    transact(w3, practitioner, board.functions.createBounty(
        token.address, 100 * UNIT, 2, DURATION, 5, keccak(spec_bytes), spec_uri, keccak(b"m0"), "file:///m0"),
        expected_chain_id=chain)
    client = BountyClient(w3, network.board, chain, store, "anvil", file_roots=None)
    (bounty,) = client.list_bounties()
    assert (bounty.id, bounty.phase, bounty.escrow) == (1, "accepting", 200 * UNIT)
    details = client.show(1)
    assert details.spec_ok and details.spec == SPEC

    # round 0: one direct submission, one gasless (relayed by the deployer), finalised
    client.submit(owner, 1, blob_hash(b"owner-0"), "file:///owner-0")
    payload = client.sign_gasless(newcomer, 1, blob_hash(b"new-0"), "file:///new-0")
    wait_for_receipt(w3, relay_submission(w3, deployer, payload, board=network.board))
    assert board.functions.getSubmitters(1, 0).call() == [owner.address, newcomer.address]
    assert w3.eth.get_balance(newcomer.address) == 0
    _advance(w3, DURATION + 1)
    transact(w3, practitioner, board.functions.finalize(
        1, 0, [owner.address, newcomer.address], [70 * UNIT, 20 * UNIT], keccak(b"m1"), "file:///m1",
        keccak(b"r0"), "file:///r0"), expected_chain_id=chain)

    # round 1: only the owner submits; the practitioner vanishes and anyone expires it
    client.submit(owner, 1, blob_hash(b"owner-1"), "file:///owner-1")
    _advance(w3, DURATION + GRACE + 1)
    assert client.bounty(1).phase == "expirable"
    transact(w3, deployer, board.functions.expireRound(1, 1), expected_chain_id=chain)

    # round 1's pot: its 100 and the 10 round 0 left unassigned; its only submitter's share
    # waits on the board until the wallet's claim collects it (collectExpired)
    summary = client.rewards(owner.address)
    assert [(r.round, r.status, r.amount, r.claim) for r in summary.rows] == [
        (0, "finalised", 70 * UNIT, "claimable"), (1, "expired", 110 * UNIT, "claimable")]
    assert summary.claimable == {token.address: 180 * UNIT}
    ((claimed_token, amount, _),) = client.claim(owner)
    assert (claimed_token, amount) == (token.address, 180 * UNIT)
    assert token.functions.balanceOf(owner.address).call() == 185 * UNIT
    assert {r.claim for r in client.rewards(owner.address).rows} == {"claimed"}
    with pytest.raises(NotFound):
        client.claim(owner)
    assert client.bounty(1).status == "completed"

    history = load_history(store, w3, "anvil", owner.address, network.token, network.board)
    kinds = [row["kind"] for row in history]
    assert kinds.count("UpdateSubmitted") == 2 and kinds.count("RewardAssigned") == 2
    assert "RewardClaimed" in kinds and kinds.count("Transfer") == 2  # the 5 QDT in, the 180 claimed
