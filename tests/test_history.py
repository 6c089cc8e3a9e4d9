"""History from chain logs: chunked eth_getLogs, cached in the store, second load reads only new blocks."""

from __future__ import annotations

import collections

import pytest
from eth_account import Account
from web3 import Web3

from tests.anvil import ANVIL_CHAIN_ID, ANVIL_KEY_0, start_anvil
from wallet.contracts import abi, deploy
from wallet.history import CHUNK_BLOCKS, HistoryScanner, events, load_history
from wallet.store import Store
from wallet.tx import send_and_wait, transact

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


@pytest.fixture(scope="module")
def anvil():
    with start_anvil() as url:
        yield url


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "home") as opened:
        yield opened


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
    assert len(cached) == 5 and sum(provider.calls.values()) == 0
