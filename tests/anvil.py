"""Test helpers for real nodes: the embedded devnet served in-process, and anvil.

Import what you need: ``from tests.anvil import start_devnet, start_anvil``, or the fixtures
``store`` (a Store in tmp_path/home), ``devnet`` (its embedded network, in tmp_path/home/devnet,
without plugins) and ``anvil`` (one per module) by importing them into the test module.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.node import Devnet
from wallet.store import Store

REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
ANVIL_CHAIN_ID = 31337
# anvil's first well-known development key (public knowledge, test money only)
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def start_devnet(directory: Path, port: int = 0) -> Iterator[Devnet]:
    """The embedded network on a free port, without plugins; stopped at the end."""
    node = Devnet(directory, port=port)
    node.start(plugins=False)
    try:
        yield node
    finally:
        node.stop()


def devnet_w3(node: Devnet) -> Web3:
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))


def faucet_signer(node: Devnet) -> LocalAccount:
    """A fresh account funded by the devnet's faucet (10 ETH, 1000 QDT)."""
    signer = Account.create()
    node.faucet(signer.address)
    return signer


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except OSError:
        return False


@contextmanager
def start_anvil(timeout: float = 30) -> Iterator[str]:
    """anvil from node_modules on a free port; yields its URL and kills it at the end."""
    if not ANVIL.exists():
        pytest.fail(f"anvil is missing at {ANVIL}: run scripts/setup.sh (it installs the npm packages).")
    port = free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--silent", "--chain-id", str(ANVIL_CHAIN_ID)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        # node_modules/.bin/anvil is a node wrapper that spawns the real binary: a session of
        # its own lets us kill both, or the binary outlives the test holding its port.
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None:
                pytest.fail(f"anvil exited: {process.stderr.read().decode(errors='replace')[-500:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"anvil did not answer within {timeout} s")
            time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


# -- fixtures shared by the chain tests (import them into a test module to use them) -----------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "home") as opened:
        yield opened


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with start_devnet(tmp_path / "home" / "devnet") as node:
        yield node


@pytest.fixture(scope="module")
def anvil() -> Iterator[str]:
    with start_anvil() as url:
        yield url


@dataclass
class ChainIdOnlyNode:
    """A real JSON-RPC server on 127.0.0.1 answering eth_chainId only (every other method:
    -32601, as geth and anvil answer a method they lack); `calls` lists the methods asked."""

    url: str
    calls: list[str]


@contextmanager
def chain_id_only_node(chain_id: int) -> Iterator[ChainIdOnlyNode]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(request["method"])
            answer: dict = {"jsonrpc": "2.0", "id": request.get("id")}
            if request["method"] == "eth_chainId":
                answer["result"] = hex(chain_id)
            else:
                answer["error"] = {"code": -32601, "message": f"the method {request['method']} does not exist"}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ChainIdOnlyNode(f"http://127.0.0.1:{server.server_address[1]}", calls)
    finally:
        server.shutdown()
        server.server_close()
