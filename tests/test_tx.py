"""Transactions against real nodes: the devnet over HTTP, and anvil for replacements."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import threading

import pytest
import requests
from eth_account import Account
from web3 import Web3

from common.artifacts import abi
from devnet.config import CHAIN_ID
from tests.anvil import (  # noqa: F401 (fixtures)
    ANVIL_CHAIN_ID,
    ANVIL_KEY_0,
    devnet,
    devnet_w3,
    faucet_signer,
    free_port,
    start_anvil,
    start_devnet,
    store,
)
from wallet.errors import NetworkError, TransactionFailed
from wallet.tx import (
    build_transaction,
    cancel,
    send_and_wait,
    sent_transactions,
    sign_and_send,
    speed_up,
    transact,
    wait_for_receipt,
)


def test_sends_eip1559_and_records_it(devnet, store):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    receiver = Account.create().address
    receipt = send_and_wait(w3, signer, receiver, value=12345, expected_chain_id=CHAIN_ID,
                            store=store, network="embedded", description="test")
    sent = w3.eth.get_transaction(receipt["transactionHash"])
    assert sent["type"] == 2 and sent["chainId"] == CHAIN_ID
    assert sent["maxPriorityFeePerGas"] == 10**9
    assert sent["maxFeePerGas"] >= sent["maxPriorityFeePerGas"]
    assert "gasPrice" not in sent or sent["gasPrice"] <= sent["maxFeePerGas"]
    assert w3.eth.get_balance(receiver) == 12345
    rows = sent_transactions(store, "embedded", signer.address)
    assert [(row["status"], row["value"], row["nonce"]) for row in rows] == [("success", "12345", 0)]


def test_chain_id_is_checked_before_signing(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    tx, _ = build_transaction(w3, signer.address, signer.address, 1)
    with pytest.raises(NetworkError, match="on chain 1337, but this network is configured for chain 5"):
        sign_and_send(w3, signer, tx, expected_chain_id=5)
    assert w3.eth.get_transaction_count(signer.address, "pending") == 0


def test_concurrent_sends_from_one_process_use_distinct_nonces(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    hashes: list[str] = []
    errors: list[Exception] = []

    def send_one():
        try:
            tx, _ = build_transaction(w3, signer.address, Account.create().address, 1, gas=21000)
            hashes.append(sign_and_send(w3, signer, tx, CHAIN_ID))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    receipts = [wait_for_receipt(w3, h, timeout=20) for h in hashes]
    assert all(r["status"] == 1 for r in receipts)
    assert sorted(w3.eth.get_transaction(h)["nonce"] for h in hashes) == [0, 1, 2, 3]


def test_revert_reasons_are_one_line(devnet, store):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    board = w3.eth.contract(address=devnet.board, abi=abi("BountyBoard"))
    with pytest.raises(TransactionFailed) as estimated:
        transact(w3, signer, board.functions.claim(devnet.token), expected_chain_id=CHAIN_ID)
    assert str(estimated.value) == "There is nothing to claim in this token."
    # with a fixed gas limit the node mines it, and the reason comes from replaying it
    data = board.functions.claim(devnet.token)._encode_transaction_data()
    with pytest.raises(TransactionFailed) as mined:
        send_and_wait(w3, signer, devnet.board, data, gas=100_000, expected_chain_id=CHAIN_ID,
                      store=store, network="embedded")
    assert "reverted: There is nothing to claim in this token." in str(mined.value)
    assert sent_transactions(store, "embedded", signer.address)[0]["status"] == "failed"


def test_sending_eth_to_a_contract_that_refuses_it_says_so(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    before = w3.eth.get_balance(signer.address)
    # the token contract has no receive function: it reverts a plain ETH transfer
    with pytest.raises(TransactionFailed) as refused:
        send_and_wait(w3, signer, devnet.token, value=10**15, expected_chain_id=CHAIN_ID)
    assert str(refused.value) == (
        f"The recipient {devnet.token} refused the transfer (the contract reverted); nothing was sent.")
    assert w3.eth.get_balance(signer.address) == before
    # with a fixed gas limit the node mines it: the replay says the same
    with pytest.raises(TransactionFailed) as mined:
        send_and_wait(w3, signer, devnet.token, value=10**15, gas=50_000, expected_chain_id=CHAIN_ID)
    assert str(mined.value).endswith(
        f"reverted: the recipient {devnet.token} refused the transfer (the contract reverted); "
        "the ETH was not sent, only the fee was spent")


def test_insufficient_funds_and_nonce_too_low(devnet):
    w3 = devnet_w3(devnet)
    poor = Account.create()
    with pytest.raises(TransactionFailed, match="^Insufficient funds"):
        send_and_wait(w3, poor, poor.address, value=1, expected_chain_id=CHAIN_ID)
    signer = faucet_signer(devnet)
    send_and_wait(w3, signer, poor.address, value=1, expected_chain_id=CHAIN_ID)
    tx, _ = build_transaction(w3, signer.address, poor.address, 1)
    with pytest.raises(TransactionFailed, match="^Nonce too low"):
        sign_and_send(w3, signer, tx, CHAIN_ID, nonce=0)


def test_rpc_down_is_a_network_error():
    url = f"http://127.0.0.1:{free_port()}"
    w3 = Web3(Web3.HTTPProvider(url))
    signer = Account.create()
    with pytest.raises(NetworkError, match=f"^Cannot reach the Ethereum node at {url}: connection refused"):
        send_and_wait(w3, signer, signer.address, value=1, expected_chain_id=1)


@pytest.mark.slow
def test_speed_up_and_cancel_reuse_the_nonce_with_higher_fees(store):
    with start_anvil() as url:
        w3 = Web3(Web3.HTTPProvider(url))
        signer = Account.from_key(ANVIL_KEY_0)
        w3.provider.make_request("evm_setAutomine", [False])
        receiver = Account.create().address
        tx, _ = build_transaction(w3, signer.address, receiver, 1000)
        first = sign_and_send(w3, signer, tx, ANVIL_CHAIN_ID, store=store, network="anvil")
        old = w3.eth.get_transaction(first)
        faster = speed_up(w3, signer, first, ANVIL_CHAIN_ID, store=store, network="anvil")
        new = w3.eth.get_transaction(faster)
        assert new["nonce"] == old["nonce"]
        assert new["maxPriorityFeePerGas"] > old["maxPriorityFeePerGas"] * 1.1
        assert new["maxFeePerGas"] > old["maxFeePerGas"] * 1.1
        w3.provider.make_request("evm_mine", [])
        assert wait_for_receipt(w3, faster, timeout=10)["status"] == 1
        assert w3.eth.get_balance(receiver) == 1000
        statuses = {row["hash"]: row["status"] for row in sent_transactions(store, "anvil", signer.address)}
        assert statuses[first] == "replaced"

        tx, _ = build_transaction(w3, signer.address, receiver, 5000)
        doomed = sign_and_send(w3, signer, tx, ANVIL_CHAIN_ID)
        cancelled = cancel(w3, signer, doomed, ANVIL_CHAIN_ID)
        w3.provider.make_request("evm_mine", [])
        replacement = wait_for_receipt(w3, cancelled, timeout=10)
        assert w3.eth.get_transaction(cancelled)["to"] == signer.address
        assert replacement["status"] == 1
        assert w3.eth.get_balance(receiver) == 1000  # the 5000 never arrived
        with pytest.raises(TransactionFailed, match="already mined"):
            speed_up(w3, signer, cancelled, ANVIL_CHAIN_ID)


class LosesSendAnswers(Web3.HTTPProvider):
    """Forwards eth_sendRawTransaction to the node, then acts as if the answer timed out."""

    def make_request(self, method, params):
        answer = super().make_request(method, params)
        if method == "eth_sendRawTransaction":
            raise requests.exceptions.ReadTimeout("read timed out")
        return answer


def test_the_store_knows_every_send_the_node_may_have_and_no_refused_one(devnet, store):
    from wallet.history import refresh_pending

    w3 = devnet_w3(devnet)
    poor = Account.create()
    tx, _ = build_transaction(w3, poor.address, poor.address, 1, gas=21_000)
    with pytest.raises(TransactionFailed, match="^Insufficient funds"):
        sign_and_send(w3, poor, tx, CHAIN_ID, store=store, network="embedded")
    assert sent_transactions(store, "embedded", poor.address) == []  # refused: not recorded

    signer = faucet_signer(devnet)
    lossy = Web3(LosesSendAnswers(devnet.url, request_kwargs={"timeout": 30}))
    tx, _ = build_transaction(lossy, signer.address, poor.address, 5)
    with pytest.raises(NetworkError, match="may still have been sent"):
        sign_and_send(lossy, signer, tx, CHAIN_ID, store=store, network="embedded")
    (row,) = sent_transactions(store, "embedded", signer.address)
    assert row["status"] == "pending"
    w3.eth.wait_for_transaction_receipt(row["hash"], timeout=10)  # the node did get it
    refresh_pending(w3, store, "embedded", signer.address)
    assert sent_transactions(store, "embedded", signer.address)[0]["status"] == "success"
    assert w3.eth.get_balance(poor.address) == 5


def test_two_in_process_chains_keep_separate_nonces():
    # Two eth-tester chains in one process (as the test suite and a screenshot tour make)
    # have no URL: one chain's nonces must not be used on the other.
    from eth_tester import EthereumTester
    from web3 import EthereumTesterProvider

    chains = [Web3(EthereumTesterProvider(EthereumTester())) for _ in range(2)]
    key = chains[0].eth.account.create()
    for w3 in chains:  # fund the same address on both
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": key.address, "value": 10**18})
    chain_id = chains[0].eth.chain_id
    for _ in range(2):  # nonces 0 and 1 on the first chain
        send_and_wait(chains[0], key, key.address, value=1, expected_chain_id=chain_id)
    receipt = send_and_wait(chains[1], key, key.address, value=1, expected_chain_id=chain_id)
    assert receipt["status"] == 1
    assert chains[1].eth.get_transaction(receipt["transactionHash"])["nonce"] == 0
