"""History from chain logs: chunked eth_getLogs, cached in the store, second load reads only new blocks."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import collections

import pytest
from eth_account import Account
from web3 import Web3

from common.artifacts import abi
from devnet.config import CHAIN_ID
from tests.anvil import (  # noqa: F401 (fixtures)
    ANVIL_CHAIN_ID,
    ANVIL_KEY_0,
    anvil,
    devnet,
    faucet_signer,
    start_anvil,
    start_devnet,
    store,
)
from wallet.contracts import deploy
from wallet.errors import TransactionFailed
from wallet.history import (
    CHUNK_BLOCKS,
    ETH_KIND,
    HistoryScanner,
    events,
    lists_incoming_eth,
    load_account_history,
    load_history,
)
from wallet.network import resolve_embedded
from wallet.tx import (
    build_transaction,
    record_sent,
    send_and_wait,
    sent_transactions,
    sign_and_send,
    transact,
)

UNIT = 10**18
# anvil slows down past a few thousand blocks, so the chunks are smaller than the default
# (CHUNK_BLOCKS, the 2000-block cap of hosted providers) to make many of them.
GAP = 300
CHUNK = 100


class CountingProvider(Web3.HTTPProvider):
    """An HTTPProvider that counts the JSON-RPC methods it sends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: collections.Counter[str] = collections.Counter()

    def make_request(self, method, params):
        self.calls[method] += 1
        return super().make_request(method, params)

    def make_batch_request(self, requests):
        self.calls["batch"] += 1
        return super().make_batch_request(requests)


def test_default_chunk_respects_provider_caps():
    assert CHUNK_BLOCKS <= 2000
    with pytest.raises(ValueError):
        HistoryScanner(None, None, "x", chunk_blocks=5000)


@pytest.mark.slow
def test_long_history_is_scanned_in_chunks_once_then_only_new_blocks(anvil, store):
    provider = CountingProvider(anvil)
    w3 = Web3(provider)
    owner = Account.from_key(ANVIL_KEY_0)
    account = Account.create()
    token_address = deploy(w3, owner, "QuarryToken", owner.address)
    token = w3.eth.contract(address=token_address, abi=abi("QuarryToken"))
    send_and_wait(w3, owner, account.address, value=UNIT, expected_chain_id=ANVIL_CHAIN_ID)
    minted = []
    for batch in range(3):
        amount = (batch + 1) * UNIT
        transact(w3, owner, token.functions.mint(account.address, amount), expected_chain_id=ANVIL_CHAIN_ID)
        minted.append(amount)
        w3.provider.make_request("anvil_mine", [hex(GAP)])  # a long gap of empty blocks
    transact(w3, account, token.functions.transfer(owner.address, UNIT), expected_chain_id=ANVIL_CHAIN_ID)
    head = w3.eth.block_number
    assert head > 3 * GAP

    provider.calls.clear()
    scanner = HistoryScanner(w3, store, "anvil", chunk_blocks=CHUNK)
    added = scanner.sync_account(account.address, token_address, None)
    chunks = -(-(head + 1) // CHUNK)
    assert chunks >= 9
    assert added == 4
    assert provider.calls["eth_getLogs"] == 2 * chunks  # in and out per chunk
    # block times come in one batch per chunk that has events, not one request per block
    assert provider.calls["eth_getBlockByNumber"] == 0 and provider.calls["batch"] <= 4
    rows = events(store, "anvil", account.address)
    assert [(r["direction"], int(r["amount"])) for r in rows] == [("in", m) for m in minted] + [("out", UNIT)]
    assert scanner.cursor(account.address, f"token:{token_address}") == head + 1

    provider.calls.clear()
    history = load_history(store, w3, "anvil", account.address, token_address, None)
    assert provider.calls["eth_getLogs"] <= 2  # only the blocks since the first load
    assert sum(1 for r in history if r["kind"] == "Transfer") == 4
    assert history[0]["amount_text"] == "-1 QDT"  # newest first

    transact(w3, owner, token.functions.mint(account.address, 7 * UNIT), expected_chain_id=ANVIL_CHAIN_ID)
    provider.calls.clear()
    history = load_history(store, w3, "anvil", account.address, token_address, None)
    assert provider.calls["eth_getLogs"] == 2
    assert history[0]["amount_text"] == "+7 QDT"

    provider.calls.clear()
    cached = load_history(store, None, "anvil", account.address, token_address, None, refresh=False)
    assert len(cached) == 6 and sum(provider.calls.values()) == 0
    # anvil's blocks are scanned too: the 1 ETH sent to the account before its tokens is listed
    assert [r["amount_text"] for r in cached if r["kind"] == "EthTransfer"] == ["+1 ETH"]


# -- plain ETH transfers (no logs) on the embedded network, and where scans start --------------


def test_incoming_eth_is_listed_on_the_devnet_from_the_deploy_block(devnet, store, tmp_path):
    provider = CountingProvider(devnet.url, request_kwargs={"timeout": 30})
    w3 = Web3(provider)
    deploy_block = devnet.contracts()["deployBlock"]
    assert deploy_block >= 1  # after genesis
    network = resolve_embedded(store, tmp_path / "home", start=False)  # the devnet serving that home
    assert (network.board, network.deploy_block) == (devnet.board, deploy_block)
    me, friend = faucet_signer(devnet), faucet_signer(devnet)
    send_and_wait(w3, friend, me.address, value=3 * UNIT // 2, expected_chain_id=CHAIN_ID)
    send_and_wait(w3, me, friend.address, value=UNIT // 4, expected_chain_id=CHAIN_ID, store=store,
                  network="embedded")
    # ETH sent with a call that reverts (the token has no receive function) moved nothing
    with pytest.raises(TransactionFailed):
        send_and_wait(w3, friend, devnet.token, value=UNIT, gas=60_000, expected_chain_id=CHAIN_ID)
    with pytest.raises(TransactionFailed):
        send_and_wait(w3, me, devnet.token, value=UNIT, gas=60_000, expected_chain_id=CHAIN_ID,
                      store=store, network="embedded")

    scanner = HistoryScanner(w3, store, "embedded")
    assert scanner.cursor(me.address, ETH_KIND) == deploy_block  # not block 0
    provider.calls.clear()
    history = load_account_history(store, w3, "embedded", me.address, devnet.token, devnet.board)
    assert history.incoming_eth_listed and history.note == ""
    assert provider.calls["eth_getBlockByNumber"] == 0 and provider.calls["batch"] >= 1
    eth_rows = [(r["description"], r["amount_text"], r["amount_sort"]) for r in history.rows
                if r["kind"] == "EthTransfer"]
    assert eth_rows == [
        (f"Sent ETH to {friend.address}", "-0.25 ETH", -UNIT // 4),
        (f"Received ETH from {friend.address}", "+1.5 ETH", 3 * UNIT // 2),
        (f"Received ETH from {devnet.deployer.address}", "+10 ETH", 10 * UNIT),  # the faucet
    ]
    assert all(isinstance(r["amount_sort"], int) for r in history.rows)  # no float in amounts
    (failed,) = [r for r in history.rows if r["status"] == "failed"]
    assert failed["amount_text"] == "" and failed["amount_sort"] == 0
    provider.calls.clear()
    again = load_account_history(store, w3, "embedded", me.address, devnet.token, devnet.board)
    assert provider.calls["batch"] <= 2 and len(again.rows) == len(history.rows)

    # pending sent transactions are settled: mined -> its status; nonce used by another -> dropped
    tx, _ = build_transaction(w3, me.address, friend.address, 5)
    unwaited = sign_and_send(w3, me, tx, CHAIN_ID, store=store, network="embedded")
    lost = "0x" + "ab" * 32
    record_sent(store, "embedded", CHAIN_ID, me.address, dict(tx, nonce=0), lost, "eth-transfer", "lost")
    w3.eth.wait_for_transaction_receipt(unwaited, timeout=10)
    load_account_history(store, w3, "embedded", me.address, devnet.token, devnet.board)
    statuses = {row["hash"]: row["status"] for row in sent_transactions(store, "embedded", me.address)}
    assert (statuses[unwaited], statuses[lost]) == ("success", "dropped")


def test_nodes_whose_blocks_are_not_scanned_say_incoming_eth_is_missing(store):
    from tests.chain_fixtures import new_market

    market = new_market()
    assert not lists_incoming_eth(market.w3)  # eth-tester stands in for a remote node here
    history = load_account_history(store, market.w3, "remote", market.chain.accounts[1],
                                   market.token.address, market.board.address)
    assert not history.incoming_eth_listed and "not listed" in history.note


def test_a_devnet_chain_without_a_recorded_deploy_block_finds_it(devnet):
    recorded = int(devnet.chain.get_meta("deploy_block"))
    assert recorded in (1, 2)  # the token's block: the first block after genesis, or the next
    with devnet.lock:
        devnet.chain.connection.execute("DELETE FROM meta WHERE key = 'deploy_block'")
    assert devnet.deploy_block() == recorded
