"""The embedded network over real HTTP JSON-RPC: web3's HTTPProvider against the devnet."""

# fixtures imported from tests.anvil are "redefined" by test parameters
# ruff: noqa: F811

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError

from common.artifacts import abi
from devnet.config import CHAIN_ID, FAUCET_ETH, FAUCET_TOKENS
from devnet.errors import DevnetError
from devnet.launcher import ensure_running, running_url, stop_running
from devnet.node import Devnet, DevnetContext
from devnet.rpc import MAX_BATCH_REQUESTS, MAX_CONNECTIONS, MAX_REQUEST_BYTES
from devnet.server_info import read_server_info, write_server_info
from tests.anvil import (
    devnet,  # noqa: F401 (fixtures)
    devnet_w3,
    faucet_signer,
    free_port,
    start_devnet,
)


def _post(url: str, payload) -> object:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _transfer(w3: Web3, token, signer, to: str, amount: int, **overrides) -> bytes:
    tx = token.functions.transfer(to, amount).build_transaction({
        "from": signer.address,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "chainId": CHAIN_ID,
        **overrides,
    })
    return w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)


def test_serves_chain_id_and_deployed_contracts(devnet):
    w3 = devnet_w3(devnet)
    assert w3.eth.chain_id == CHAIN_ID == 1337
    contracts = w3.provider.make_request("quarry_contracts", [])["result"]
    deploy_block = contracts.pop("deployBlock")
    assert contracts == {"token": devnet.token, "board": devnet.board, "chainId": 1337}
    # the first block holding a contract: the token (the board follows in it or the next one)
    assert w3.eth.get_code(devnet.token, deploy_block - 1) == b"" != w3.eth.get_code(devnet.token, deploy_block)
    assert deploy_block in (1, 2) and len(w3.eth.get_code(devnet.board)) > 100
    assert len(w3.eth.get_code(devnet.token)) > 100
    assert len(w3.eth.get_code(devnet.board)) > 100
    board = w3.eth.contract(address=devnet.board, abi=abi("BountyBoard"))
    assert board.functions.bountyCount().call() == 0
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    practitioner = Account.from_key(devnet.context().practitioner_key)
    assert token.functions.balanceOf(practitioner.address).call() > 0
    assert w3.eth.get_balance(practitioner.address) > 0
    assert devnet.first_start is True


def test_faucet_funds_once_per_interval(devnet):
    w3 = devnet_w3(devnet)
    newcomer = Account.create().address
    answer = w3.provider.make_request("quarry_faucet", [newcomer])
    assert "result" in answer, answer
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    assert w3.eth.get_balance(newcomer) == FAUCET_ETH
    assert token.functions.balanceOf(newcomer).call() == FAUCET_TOKENS
    again = w3.provider.make_request("quarry_faucet", [newcomer])
    assert "already funded" in again["error"]["message"]
    assert w3.eth.get_balance(newcomer) == FAUCET_ETH
    bad = w3.provider.make_request("quarry_faucet", ["0x1234"])
    assert bad["error"]["code"] == -32602


def test_eip1559_transaction_is_mined_with_wall_clock_time(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    receiver = Account.create().address
    tx_hash = _transfer(w3, token, signer, receiver, 5 * 10**18)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
    assert receipt["status"] == 1
    sent = w3.eth.get_transaction(tx_hash)
    assert sent["type"] == 2 and sent["chainId"] == CHAIN_ID and sent["maxFeePerGas"] > 0
    block = w3.eth.get_block(receipt["blockNumber"])
    assert abs(block["timestamp"] - time.time()) <= 2
    assert token.functions.balanceOf(receiver).call() == 5 * 10**18
    logs = token.events.Transfer().get_logs(from_block=receipt["blockNumber"], argument_filters={"to": receiver})
    assert [entry["args"]["value"] for entry in logs] == [5 * 10**18]


def test_a_transaction_accepted_just_before_the_stop_is_still_mined(devnet):
    # A transaction's effects are visible to calls as soon as it is accepted; it is mined
    # when its block's second comes. Stopping in between must not drop it (its sender is
    # waiting for the receipt: the demo practitioner's thread hung there in CI).
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    receiver = Account.create().address
    for _ in range(20):  # send right after a block, inside its second
        w3.eth.wait_for_transaction_receipt(_transfer(w3, token, signer, receiver, 1), timeout=10,
                                            poll_latency=0.05)
        tx_hash = _transfer(w3, token, signer, receiver, 1)
        with devnet.lock:
            waiting = devnet.chain.has_pending()
            if waiting:
                devnet.stop_event.set()  # the miner stops with the transaction still pending
        if waiting:
            break
    assert waiting, "every transaction was mined at once: the race was not set up"
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
    assert receipt["status"] == 1 and not devnet.chain.has_pending()


def test_refuses_another_chain_id_and_bad_nonces(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    base = {"type": 2, "to": signer.address, "value": 1, "gas": 21000,
            "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    wrong_chain = signer.sign_transaction({**base, "chainId": 5, "nonce": 0}).raw_transaction
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x" + wrong_chain.hex()])
    assert "invalid chain id" in answer["error"]["message"]
    too_high = signer.sign_transaction({**base, "chainId": CHAIN_ID, "nonce": 7}).raw_transaction
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x" + too_high.hex()])
    assert answer["error"]["message"].startswith("nonce too high")
    poor = Account.create()
    broke = poor.sign_transaction({**base, "chainId": CHAIN_ID, "nonce": 0}).raw_transaction
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x" + broke.hex()])
    assert answer["error"]["message"] == "insufficient funds for gas * price + value"
    low_gas = signer.sign_transaction({**base, "chainId": CHAIN_ID, "nonce": 0, "gas": 20000}).raw_transaction
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x" + low_gas.hex()])
    assert answer["error"]["message"] == "intrinsic gas too low"
    answer = w3.provider.make_request("eth_sendRawTransaction", ["0x02beef"])
    assert answer["error"]["code"] == -32602 and "invalid transaction" in answer["error"]["message"]


def test_revert_data_reaches_the_client(devnet):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    transfer = token.functions.transfer(Account.create().address, 10**30)
    with pytest.raises(ContractCustomError) as call_error:
        transfer.call({"from": signer.address})
    assert call_error.value.data.startswith("0xe450d38c")  # ERC20InsufficientBalance selector
    with pytest.raises(ContractCustomError):
        transfer.estimate_gas({"from": signer.address})
    raw = _post(devnet.url, {"jsonrpc": "2.0", "id": 9, "method": "eth_call",
                             "params": [{"from": signer.address, "to": devnet.token,
                                         "data": transfer._encode_transaction_data()}, "latest"]})
    assert raw["error"]["code"] == 3 and raw["error"]["data"].startswith("0xe450d38c")


def test_batch_and_malformed_requests(devnet):
    answers = _post(devnet.url, [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0xnot-an-address", "latest"]},
    ])
    assert answers[0] == {"jsonrpc": "2.0", "id": 1, "result": "0x539"}
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32602
    request = urllib.request.Request(devnet.url, b"{not json", {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["error"]["code"] == -32700


def test_restart_keeps_balances_transactions_and_logs(tmp_path):
    directory = tmp_path / "devnet"
    receiver = Account.create().address
    with start_devnet(directory) as node:
        w3 = devnet_w3(node)
        signer = faucet_signer(node)
        token = w3.eth.contract(address=node.token, abi=abi("QuarryToken"))
        tx_hash = _transfer(w3, token, signer, receiver, 7)
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
        addresses = (node.token, node.board)
        height = w3.eth.block_number
    assert read_server_info(directory) is None  # a clean stop removes server.json
    with start_devnet(directory) as node:
        w3 = devnet_w3(node)
        assert node.first_start is False
        assert (node.token, node.board) == addresses
        assert w3.eth.block_number >= height
        token = w3.eth.contract(address=node.token, abi=abi("QuarryToken"))
        assert token.functions.balanceOf(receiver).call() == 7
        assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
        assert len(token.events.Transfer().get_logs(from_block=0, argument_filters={"to": receiver})) == 1
        assert "already funded" in w3.provider.make_request("quarry_faucet", [signer.address])["error"]["message"]
        assert w3.eth.get_transaction_count(signer.address) == 1


def test_a_second_devnet_on_the_same_directory_is_refused(devnet):
    with pytest.raises(DevnetError, match="already running"):
        Devnet(devnet.directory, port=0)


def test_plugins_get_a_context_and_a_failing_plugin_is_only_logged(devnet, caplog):
    received: list[DevnetContext] = []

    class FakeEntryPoint:
        def __init__(self, name, plugin):
            self.name = name
            self._plugin = plugin

        def load(self):
            return self._plugin

    def broken(context):
        raise RuntimeError("plugin bug")

    with caplog.at_level(logging.ERROR):
        devnet._run_plugin(FakeEntryPoint("broken", broken))
        devnet._run_plugin(FakeEntryPoint("good", received.append))
    assert "plugin broken failed" in caplog.text
    context = received[0]
    assert context.rpc_url == devnet.url and context.chain_id == CHAIN_ID
    assert context.board == devnet.board and context.token == devnet.token
    assert isinstance(context.stop, threading.Event) and not context.stop.is_set()
    assert Account.from_key(context.practitioner_key).address == devnet.practitioner.address
    assert devnet_w3(devnet).eth.chain_id == CHAIN_ID  # still serving


@pytest.mark.slow
def test_ensure_running_starts_a_detached_devnet_once_and_stop_running_stops_it(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    started = []
    url = ensure_running(home, port=port, plugins=False, on_start=started.append)
    info = read_server_info(home / "devnet")
    try:
        assert started == [url]  # the caller learns it started a background process
        assert url == f"http://127.0.0.1:{port}" == info["url"]
        assert Web3(Web3.HTTPProvider(url)).eth.chain_id == CHAIN_ID
        assert ensure_running(home, port=port, plugins=False, on_start=started.append) == url  # found, not started twice
        assert started == [url]
        assert running_url(home) == url
        assert stop_running(home) == url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info["pid"], signal.SIGTERM)
    assert running_url(home) is None and read_server_info(home / "devnet") is None
    assert stop_running(home) is None  # nothing left to stop


def test_running_url_trusts_only_the_recorded_live_devnet(devnet, tmp_path):
    other = tmp_path / "other"
    directory = other / "devnet"
    directory.mkdir(parents=True)
    recorded = {"pid": os.getpid(), "port": devnet.port, "url": devnet.url, "chainId": CHAIN_ID,
                "board": devnet.board}
    write_server_info(directory, recorded)
    assert running_url(other) == devnet.url
    # another program now answers at the recorded port: a different chain, or other contracts
    write_server_info(directory, dict(recorded, chainId=31337))
    assert running_url(other) is None
    write_server_info(directory, dict(recorded, board="0x" + "11" * 20))
    assert running_url(other) is None
    # the recorded process is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_server_info(directory, dict(recorded, pid=dead.pid))
    assert running_url(other) is None


def test_blocks_fee_history_and_log_filters(devnet, monkeypatch):
    w3 = devnet_w3(devnet)
    signer = faucet_signer(devnet)
    token = w3.eth.contract(address=devnet.token, abi=abi("QuarryToken"))
    receipt = w3.eth.wait_for_transaction_receipt(
        _transfer(w3, token, signer, devnet.board, 3), timeout=10, poll_latency=0.05)
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][0]["hash"] == receipt["transactionHash"]
    assert block["baseFeePerGas"] > 0 and block["hash"] == w3.eth.get_block(block["hash"])["hash"]
    history = w3.eth.fee_history(3, "latest", [50])
    assert len(history["baseFeePerGas"]) == len(history["gasUsedRatio"]) + 1 and history["reward"]
    transfer_topic = token.events.Transfer().topic
    to_board = "0x" + "00" * 12 + devnet.board[2:].lower()
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": devnet.token,
                            "topics": [transfer_topic, None, to_board]})
    assert [entry["transactionHash"] for entry in logs] == [receipt["transactionHash"]]
    assert w3.eth.get_logs({"fromBlock": 0, "address": devnet.board, "topics": [transfer_topic]}) == []
    missing = _post(devnet.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                 "params": [{"fromBlock": "0x0", "toBlock": hex(20_000)}]})
    assert "block 20000 not found" in missing["error"]["message"]
    monkeypatch.setattr("devnet.rpc.MAX_LOG_RANGE", 2)
    too_wide = _post(devnet.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                  "params": [{"fromBlock": "0x0", "toBlock": "latest"}]})
    assert "block range is too large" in too_wide["error"]["message"]


def test_start_plugins_runs_each_entry_point_in_its_own_thread(devnet, monkeypatch):
    seen: list[tuple[str, DevnetContext]] = []
    done = threading.Event()

    class FakeEntryPoint:
        name = "recorder"

        def load(self):
            def plugin(context):
                seen.append((threading.current_thread().name, context))
                done.set()
            return plugin

    monkeypatch.setattr("devnet.node.entry_points", lambda group: [FakeEntryPoint()] if group == "quarry.devnet" else [])
    devnet.start_plugins()
    assert done.wait(10)
    thread_name, context = seen[0]
    assert thread_name == "devnet-plugin-recorder" and context.first_start is True


@pytest.mark.slow
def test_a_killed_devnet_restarts_with_everything_mined_before(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    url = ensure_running(home, port=port, plugins=False)
    w3 = Web3(Web3.HTTPProvider(url))
    signer = Account.create()
    w3.provider.make_request("quarry_faucet", [signer.address])
    contracts = w3.provider.make_request("quarry_contracts", [])["result"]
    token = w3.eth.contract(address=contracts["token"], abi=abi("QuarryToken"))
    receiver = Account.create().address
    tx_hash = _transfer(w3, token, signer, receiver, 11)
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
    os.kill(read_server_info(home / "devnet")["pid"], signal.SIGKILL)  # no clean shutdown
    deadline = time.monotonic() + 10
    while running_url(home) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    url = ensure_running(home, port=port, plugins=False)  # a stale server.json does not fool it
    try:
        w3 = Web3(Web3.HTTPProvider(url))
        token = w3.eth.contract(address=contracts["token"], abi=abi("QuarryToken"))
        assert token.functions.balanceOf(receiver).call() == 11
        assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
        assert w3.provider.make_request("quarry_contracts", [])["result"] == contracts
    finally:
        os.kill(read_server_info(home / "devnet")["pid"], signal.SIGTERM)


@pytest.mark.slow
def test_ensure_running_takes_another_port_when_the_default_is_busy(tmp_path):
    import socket

    home = tmp_path / "home"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        url = ensure_running(home, port=busy, plugins=False)
    try:
        assert url != f"http://127.0.0.1:{busy}"
        assert Web3(Web3.HTTPProvider(url)).eth.chain_id == CHAIN_ID
    finally:
        os.kill(read_server_info(home / "devnet")["pid"], signal.SIGTERM)


# -- hardening: who may talk to the node, how much, and the faucet's budget -----------------------


def _raw_post(devnet, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", devnet.port, timeout=10)
    try:
        connection.putrequest("POST", "/", skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


CHAIN_ID_CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()


def test_listens_on_loopback_only_and_refuses_web_pages(devnet):
    assert devnet.server.server_address[0] == "127.0.0.1"
    json_type = {"Content-Type": "application/json", "Content-Length": str(len(CHAIN_ID_CALL))}
    assert _raw_post(devnet, CHAIN_ID_CALL, json_type) == (200, {"jsonrpc": "2.0", "id": 1, "result": "0x539"})
    for host in ("localhost", f"localhost:{devnet.port}", f"127.0.0.1:{devnet.port}"):
        assert _raw_post(devnet, CHAIN_ID_CALL, {**json_type, "Host": host})[0] == 200
    # DNS rebinding: a page's own host name resolved to 127.0.0.1
    status, answer = _raw_post(devnet, CHAIN_ID_CALL, {**json_type, "Host": f"evil.example:{devnet.port}"})
    assert status == 403 and "invalid host" in answer["error"]["message"]
    # a page's cross-origin request, and a "simple" text/plain POST that needs no pre-flight
    status, answer = _raw_post(devnet, CHAIN_ID_CALL, {**json_type, "Origin": "https://evil.example"})
    assert status == 403 and "web pages" in answer["error"]["message"]
    status, answer = _raw_post(devnet, CHAIN_ID_CALL, {**json_type, "Content-Type": "text/plain"})
    assert status == 415
    faucet = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "quarry_faucet",
                         "params": [Account.create().address]}).encode()
    refused = {"Content-Type": "text/plain", "Content-Length": str(len(faucet))}
    assert _raw_post(devnet, faucet, refused)[0] == 415
    assert devnet.chain.count_meta_since("faucet:", 0) == 0  # nothing was paid


def test_request_size_batch_and_nesting_limits(devnet):
    json_type = {"Content-Type": "application/json"}
    status, answer = _raw_post(devnet, CHAIN_ID_CALL, {**json_type, "Content-Length": "lots"})
    assert status == 411
    status, _ = _raw_post(devnet, b"", {**json_type, "Content-Length": str(MAX_REQUEST_BYTES + 1)})
    assert status == 413
    single = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    for count, accepted in ((MAX_BATCH_REQUESTS, True), (MAX_BATCH_REQUESTS + 1, False)):
        body = json.dumps([single] * count).encode()
        status, answer = _raw_post(devnet, body, {**json_type, "Content-Length": str(len(body))})
        assert status == 200
        if accepted:
            assert len(answer) == count and answer[0]["result"] == "0x539"
        else:
            assert "batch too large" in answer["error"]["message"]
    nested = b"[" * 200_000 + b"]" * 200_000
    status, answer = _raw_post(devnet, nested, {**json_type, "Content-Length": str(len(nested))})
    assert (status, answer["error"]["code"]) == (200, -32700)
    # the server still serves
    assert devnet_w3(devnet).eth.chain_id == CHAIN_ID


def test_faucet_cannot_be_drained_with_fresh_addresses(devnet):
    devnet.faucet_service.payments_per_interval = 2
    first, second, third = (Account.create().address for _ in range(3))
    devnet.faucet(first)
    devnet.faucet(second)
    w3 = devnet_w3(devnet)
    answer = w3.provider.make_request("quarry_faucet", [third])
    assert "its limit" in answer["error"]["message"]
    assert w3.eth.get_balance(third) == 0
    assert w3.eth.get_balance(second) == FAUCET_ETH


def test_the_devnet_context_does_not_show_its_key(devnet):
    context = devnet.context()
    assert context.practitioner_key[2:] not in repr(context)
    assert context.practitioner_key.startswith("0x")


def test_connections_beyond_the_cap_are_closed_and_the_server_recovers(devnet):
    import socket

    idle = [socket.create_connection(("127.0.0.1", devnet.port), timeout=5) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # each idle connection now holds a serving thread
        extra = socket.create_connection(("127.0.0.1", devnet.port), timeout=5)
        with extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert extra.recv(100) == b""  # closed at once, not served
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert devnet_w3(devnet).eth.chain_id == CHAIN_ID
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_get_logs_answers_are_capped(devnet, monkeypatch):
    import devnet.rpc as devnet_rpc

    w3 = devnet_w3(devnet)
    assert len(w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})) >= 2  # the deployment's
    monkeypatch.setattr(devnet_rpc, "MAX_LOG_RESULTS", 1)
    answer = w3.provider.make_request("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
    assert "more than 1 results" in answer["error"]["message"]


def test_evm_mine_cannot_push_the_chain_clock_ahead(devnet):
    w3 = devnet_w3(devnet)
    answers = [w3.provider.make_request("evm_mine", []) for _ in range(20)]
    refused = [a for a in answers if "error" in a]
    assert refused and "real time" in refused[0]["error"]["message"]
    # Block times are whole seconds and the machine's clock may be stepped back by a few
    # milliseconds (NTP on shared machines): allow that second, not the 19 of unguarded mining.
    assert w3.eth.get_block("latest")["timestamp"] <= time.time() + 1


def test_without_a_port_a_second_home_takes_a_free_one_and_says_so(monkeypatch):
    import socket

    import devnet.launcher as launcher

    with socket.socket() as held:  # "the default port", held by another home's devnet
        held.bind(("127.0.0.1", 0))
        held.listen()
        monkeypatch.setattr(launcher, "DEFAULT_PORT", held.getsockname()[1])
        said: list[str] = []
        assert launcher.choose_port(None, said.append) == 0  # 0: the OS picks a free port
        assert said and f"Port {held.getsockname()[1]} is in use" in said[0]
    said.clear()
    assert launcher.choose_port(None, said.append) == launcher.DEFAULT_PORT and said == []
    assert launcher.choose_port(4242, said.append) == 4242  # asked for: used or refused, never moved
