"""The bounty client on eth-tester (py-evm, time travel): list, show with a hash-checked spec,
direct and gasless submissions (also through a real inbox), finalise, expire, rewards, claim."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import json
from functools import partial

import pytest
from eth_account import Account
from eth_utils import keccak

from practitioner.inbox import InboxServer
from tests.anvil import store  # noqa: F401 (fixtures)
from tests.chain_fixtures import GRACE_PERIOD, TOKEN_UNIT, funded_signer, new_market, send
from wallet.blob_store import LocalBlobStore, blob_hash
from wallet.bounties import BountyClient, relay_submission
from wallet.contracts import deploy
from wallet.errors import InvalidInput, NetworkError, NotFound, TransactionFailed
from wallet.history import load_history
from wallet.tx import wait_for_receipt

SPEC = {"version": 1, "title": "Iris species", "task": "classification", "metric": "accuracy"}


@pytest.fixture(scope="module")
def _market():
    market = new_market()
    return market, market.chain.snapshot()


@pytest.fixture
def market(_market):
    market, snapshot = _market
    market.chain.revert(snapshot)
    yield market
    market.chain.revert(snapshot)


@pytest.fixture
def client(market, store):
    return BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "tester", file_roots=None)


def _spec_bounty(market, tmp_path, *, tamper: bool = False) -> int:
    data = json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
    uri = LocalBlobStore(tmp_path / "blobs").put(data)
    committed = keccak(data + b" ") if tamper else keccak(data)
    bounty_id, _ = market.create_bounty(market.chain.accounts[1], spec_hash=committed, spec_uri=uri)
    return bounty_id


def test_list_and_show_check_the_spec_against_its_hash(market, client, tmp_path):
    good = _spec_bounty(market, tmp_path)
    bad = _spec_bounty(market, tmp_path, tamper=True)
    listed = client.list_bounties()
    assert [b.id for b in listed] == [bad, good]
    first = listed[1]
    assert first.phase == "accepting" and first.status == "open" and first.escrow == 200 * TOKEN_UNIT
    assert first.owner == market.chain.accounts[1] and first.token == market.token.address
    shown = client.show(good)
    assert shown.spec_ok and shown.spec == SPEC and shown.spec_problem is None
    assert [r["state"] for r in shown.rounds] == ["open", "not open"]
    tampered = client.show(bad)
    assert not tampered.spec_ok and tampered.spec is None
    assert "does not match the hash committed on chain" in tampered.spec_problem
    assert [b.id for b in client.list_bounties(refresh=False)] == [bad, good]  # from the cache
    with pytest.raises(NotFound):
        client.show(99)


def test_a_finished_bounty_is_re_read_while_its_leftover_is_claimed(market, client):
    """The list caches a finished bounty only once its escrow is empty: claiming its
    leftover still changes it (it showed the escrow from before the claims)."""
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner, rounds=1)
    signer = funded_signer(market.chain)
    client.submit(signer, bounty_id, blob_hash(b"update"), "file:///update.bin")
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    send(market.board.functions.finalize(bounty_id, 0, [signer.address], [60 * TOKEN_UNIT],
                                         keccak(b"model-1"), "file:///m1", keccak(b"report"), "file:///r"),
         practitioner)
    (listed,) = [b for b in client.list_bounties() if b.id == bounty_id]
    assert (listed.status, listed.escrow) == ("completed", 40 * TOKEN_UNIT)  # paid 60, 40 left over
    client.claim(signer)  # the pay and the leftover share: the escrow is empty
    (listed,) = [b for b in client.list_bounties() if b.id == bounty_id]
    assert listed.escrow == 0


def test_a_stranger_spec_uri_cannot_open_local_files(market, store, tmp_path):
    """A bounty whose specURI names a file outside the wallet's blob directories: never opened."""
    secret = tmp_path / "private.txt"
    secret.write_text("my own notes")
    bounty_id, _ = market.create_bounty(market.chain.accounts[1], spec_hash=keccak(b"my own notes"),
                                        spec_uri=secret.as_uri())
    roots = [tmp_path / "home"]
    guarded = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "tester",
                           file_roots=roots)
    shown = guarded.show(bounty_id)
    assert shown.spec is None and not shown.spec_ok
    assert "outside the directories" in shown.spec_problem and "my own notes" not in shown.spec_problem
    inside = _spec_bounty(market, tmp_path / "home")
    assert guarded.show(inside).spec == SPEC


def test_submit_finalise_rewards_and_claim(market, client, store):
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner)
    signer = funded_signer(market.chain)
    update = b"encrypted update"
    receipt = client.submit(signer, bounty_id, blob_hash(update), "file:///update.bin")
    assert receipt["status"] == 1
    with pytest.raises(TransactionFailed, match="already submitted"):
        client.submit(signer, bounty_id, blob_hash(update), "file:///update.bin")
    (row,) = client.rewards(signer.address).rows
    assert (row.bounty_id, row.round, row.status, row.amount, row.claim) == (bounty_id, 0, "pending", 0, "")
    assert row.blob_hash == blob_hash(update)

    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    assert client.bounty(bounty_id).phase == "awaiting finalisation"
    send(market.board.functions.finalize(bounty_id, 0, [signer.address], [60 * TOKEN_UNIT],
                                         keccak(b"model-1"), "file:///m1", keccak(b"report"), "file:///r"),
         practitioner)
    summary = client.rewards(signer.address)
    (row,) = summary.rows
    assert (row.status, row.amount, row.claim) == ("finalised", 60 * TOKEN_UNIT, "claimable")
    assert summary.claimable == {market.token.address: 60 * TOKEN_UNIT}

    (claimed,) = client.claim(signer)
    assert claimed[:2] == (market.token.address, 60 * TOKEN_UNIT)
    assert market.token.functions.balanceOf(signer.address).call() == 60 * TOKEN_UNIT
    summary = client.rewards(signer.address)
    assert summary.rows[0].claim == "claimed" and summary.claimed == {market.token.address: 60 * TOKEN_UNIT}
    assert summary.claimable == {market.token.address: 0}
    with pytest.raises(NotFound, match="nothing to claim"):
        client.claim(signer)
    history = load_history(store, market.w3, "tester", signer.address, market.token.address,
                           market.board.address)
    kinds = [row["kind"] for row in history]
    assert {"UpdateSubmitted", "RewardAssigned", "RewardClaimed", "Transfer"} <= set(kinds)
    assert any(r["amount_text"] == "+60 QDT" for r in history if r["kind"] == "Transfer")


def test_rewards_read_the_board_at_the_block_their_events_were_read_to(market, client, monkeypatch):
    """A round finalised between the event scan and the round's state read: the row says
    pending (what the scanned block shows), not "finalised" with no reward; the next refresh
    shows the reward."""
    from wallet.history import HistoryScanner

    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner)
    signer = funded_signer(market.chain)
    client.submit(signer, bounty_id, blob_hash(b"update"), "file:///update.bin")
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    real_sync = HistoryScanner.sync

    def sync_then_finalise(self, *args, **kwargs):
        added = real_sync(self, *args, **kwargs)
        monkeypatch.setattr(HistoryScanner, "sync", real_sync)  # once
        send(market.board.functions.finalize(bounty_id, 0, [signer.address], [60 * TOKEN_UNIT],
                                             keccak(b"model-1"), "file:///m1", keccak(b"report"),
                                             "file:///r"), practitioner)
        return added

    monkeypatch.setattr(HistoryScanner, "sync", sync_then_finalise)
    (row,) = client.rewards(signer.address).rows
    assert (row.status, row.amount) == ("pending", 0)
    assert client.rounds(client.bounty(bounty_id))[0]["state"] == "finalized"  # it did meanwhile
    (row,) = client.rewards(signer.address).rows
    assert (row.status, row.amount, row.claim) == ("finalised", 60 * TOKEN_UNIT, "claimable")
    # a node that does not have the scanned block (behind a load balancer): the latest state
    future = market.w3.eth.block_number + 1000
    assert client.rounds(client.bounty(bounty_id), future)[0]["state"] == "finalized"


def test_expired_round_is_split_among_submitters(market, client):
    bounty_id, _ = market.create_bounty(market.chain.accounts[1], reward=100 * TOKEN_UNIT)
    first, second = funded_signer(market.chain), funded_signer(market.chain)
    client.submit(first, bounty_id, blob_hash(b"a"), "file:///a")
    client.submit(second, bounty_id, blob_hash(b"b"), "file:///b")
    market.chain.travel_to(market.deadline(bounty_id, 0) + GRACE_PERIOD + 1)
    assert client.bounty(bounty_id).phase == "expirable"
    send(market.board.functions.expireRound(bounty_id, 0), market.chain.accounts[5])
    for signer in (first, second):
        summary = client.rewards(signer.address)
        (row,) = summary.rows
        assert (row.status, row.amount, row.claim) == ("expired", 50 * TOKEN_UNIT, "claimable")
        assert summary.claimable == {market.token.address: 50 * TOKEN_UNIT}  # to collect, then claim
    assert client.bounty(bounty_id).current_round == 1
    # claim collects the share on the board first (collectExpired), then pays it out
    (claimed,) = client.claim(first)
    assert claimed[:2] == (market.token.address, 50 * TOKEN_UNIT)
    assert market.token.functions.balanceOf(first.address).call() == 50 * TOKEN_UNIT
    summary = client.rewards(first.address)
    assert (summary.rows[0].amount, summary.rows[0].claim) == (50 * TOKEN_UNIT, "claimed")
    assert summary.claimable == {market.token.address: 0}
    with pytest.raises(NotFound, match="nothing to claim"):
        client.claim(first)


def test_claim_collects_the_leftover_of_an_ended_bounty(market, client):
    """A practitioner pays 60 of a round's 100 and ends the bounty: the 40 it kept back are the
    contributors', pro rata to their pay; the wallet counts them and claim collects them."""
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner, reward=100 * TOKEN_UNIT, rounds=1)
    first, second = funded_signer(market.chain), funded_signer(market.chain)
    client.submit(first, bounty_id, blob_hash(b"a"), "file:///a")
    client.submit(second, bounty_id, blob_hash(b"b"), "file:///b")
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    send(market.board.functions.finalize(bounty_id, 0, [first.address, second.address],
                                         [45 * TOKEN_UNIT, 15 * TOKEN_UNIT], keccak(b"m"), "file:///m",
                                         keccak(b"r"), "file:///r"), practitioner)
    summary = client.rewards(first.address)
    assert [(r.bounty_id, r.amount, r.claim) for r in summary.leftovers] == [(bounty_id, 30 * TOKEN_UNIT, "claimable")]
    assert summary.claimable == {market.token.address: 75 * TOKEN_UNIT}
    assert summary.as_dict()["leftovers"][0]["amount"] == str(30 * TOKEN_UNIT)
    assert summary.leftovers[0].basis == "in proportion to your pay (no credits were recorded)"
    (claimed,) = client.claim(first)
    assert claimed[1] == 75 * TOKEN_UNIT
    summary = client.rewards(first.address)
    assert [(r.amount, r.claim) for r in summary.leftovers] == [(30 * TOKEN_UNIT, "claimed")]
    assert [(r.amount, r.claim) for r in summary.rows] == [(45 * TOKEN_UNIT, "claimed")]
    assert client.claim(second)[0][1] == 25 * TOKEN_UNIT
    assert market.token.functions.balanceOf(practitioner).call() == 0  # nothing came back


def test_an_ended_bounty_whose_leftover_gives_nothing_says_so(market, client):
    """A submitter paid nothing in a bounty that ended with a leftover shared by pay: its
    rewards say it has no share, and why, instead of saying nothing."""
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner, reward=100 * TOKEN_UNIT, rounds=1)
    paid, unpaid = funded_signer(market.chain), funded_signer(market.chain)
    client.submit(paid, bounty_id, blob_hash(b"c"), "file:///c")
    client.submit(unpaid, bounty_id, blob_hash(b"d"), "file:///d")
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    send(market.board.functions.finalize(bounty_id, 0, [paid.address], [60 * TOKEN_UNIT], keccak(b"m"),
                                         "file:///m", keccak(b"r"), "file:///r"), practitioner)
    (row,) = client.rewards(unpaid.address).leftovers
    assert (row.bounty_id, row.amount, row.claim) == (bounty_id, 0, "none")
    assert row.sentence("0 QDT") == (
        f"Bounty {bounty_id} ended with a leftover; you have no share of it: it is shared in proportion "
        "to pay (no credits were recorded), and its rounds paid you nothing.")
    assert client.rewards(paid.address).leftovers[0].claim == "claimable"  # 40 by pay: all of it


def test_a_cancelled_bounty_still_accepts_its_current_round(market, client):
    practitioner = market.chain.accounts[1]
    bounty_id, _ = market.create_bounty(practitioner, rounds=3)
    send(market.board.functions.cancel(bounty_id), practitioner)
    bounty = client.bounty(bounty_id)
    assert (bounty.status, bounty.phase) == ("cancelled", "accepting")
    signer = funded_signer(market.chain)
    client.submit(signer, bounty_id, blob_hash(b"late"), "file:///late")
    market.chain.travel_to(market.deadline(bounty_id, 0) + 1)
    assert client.bounty(bounty_id).phase == "awaiting finalisation"
    with pytest.raises(TransactionFailed, match="does not accept submissions"):
        client.submit(funded_signer(market.chain), bounty_id, blob_hash(b"x"), "file:///x")


def test_gasless_submission_relayed_directly_and_through_an_inbox(market, client, tmp_path):
    bounty_id, _ = market.create_bounty(market.chain.accounts[1])
    newcomer = funded_signer(market.chain, eth=0)
    relayer = funded_signer(market.chain)
    payload = client.sign_gasless(newcomer, bounty_id, blob_hash(b"u1"), "http://inbox/blobs/u1")
    with pytest.raises(TransactionFailed, match="signature does not match"):
        relay_submission(market.w3, relayer, {**payload, "uri": "http://elsewhere"}, board=market.board.address)
    with pytest.raises(InvalidInput):
        relay_submission(market.w3, relayer, {**payload, "signature": "0x12"}, board=market.board.address)
    tx_hash = relay_submission(market.w3, relayer, payload, board=market.board.address)
    assert wait_for_receipt(market.w3, tx_hash)["status"] == 1
    assert client.submission(bounty_id, 0, newcomer.address)["blob_hash"] == blob_hash(b"u1")
    assert market.w3.eth.get_balance(newcomer.address) == 0

    inbox = InboxServer(tmp_path / "inbox", relay=partial(
        relay_submission, market.w3, relayer, board=market.board.address)).start()
    try:
        second = funded_signer(market.chain, eth=0)
        tx_hash = client.submit_gasless(second, bounty_id, blob_hash(b"u2"), "http://inbox/blobs/u2", inbox.url)
        assert client.submission(bounty_id, 0, second.address) is not None
        with pytest.raises(TransactionFailed, match="already submitted"):
            client.submit_gasless(second, bounty_id, blob_hash(b"u2"), "http://inbox/blobs/u2", inbox.url)
        # a replayed payload is refused by the relay's dry run, and the inbox says why
        from wallet.bounties import post_relay

        with pytest.raises(TransactionFailed, match="did not relay"):
            post_relay(inbox.url, payload)
    finally:
        inbox.stop()


def test_every_signature_checks_the_node_chain_id_first(market, store):
    """A client configured for another chain signs nothing: no gasless signature, no deploy."""
    bounty_id, _ = market.create_bounty(market.chain.accounts[1])
    node_chain = market.w3.eth.chain_id
    wrong = BountyClient(market.w3, market.board.address, node_chain + 1, store, "tester", file_roots=None)
    signer = Account.create()
    with pytest.raises(NetworkError, match=f"is on chain {node_chain}"):
        wrong.sign_gasless(signer, bounty_id, blob_hash(b"u"), "file:///u")
    deployer = funded_signer(market.chain)
    with pytest.raises(TransactionFailed, match="nothing was signed"):
        deploy(market.w3, deployer, "QuarryToken", deployer.address, expected_chain_id=node_chain + 1)
    assert market.w3.eth.get_transaction_count(deployer.address) == 0
    right = BountyClient(market.w3, market.board.address, node_chain, store, "tester", file_roots=None)
    payload = right.sign_gasless(signer, bounty_id, blob_hash(b"u"), "file:///u")
    assert payload["contributor"] == signer.address


def test_zero_value_transfers_from_strangers_do_not_poison_the_history(market, store):
    """Anyone may transferFrom(victim, look-alike, 0) without an allowance; such a row would
    invite copying the look-alike address from the history. Zero transfers are not listed."""
    victim, attacker = market.chain.accounts[2], market.chain.accounts[3]
    market.mint(victim, 5 * TOKEN_UNIT)
    receipt = send(market.token.functions.transferFrom(victim, attacker, 0), attacker)
    assert len(market.token.events.Transfer().process_receipt(receipt)) == 1  # the bait was logged
    history = load_history(store, market.w3, "tester", victim, market.token.address, None)
    assert [(r["kind"], r["amount_text"]) for r in history] == [("Transfer", "+5 QDT")]
