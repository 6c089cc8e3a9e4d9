"""The embedded network's node: the chain, its devnet-held keys and contracts, the server.

`devnet.launcher` runs it (`quarry devnet`, `python -m devnet`, or detached by
`ensure_running(home)`). The first start deploys QuarryToken and BountyBoard from a
devnet-held key. Plugins (entry point group "quarry.devnet") get a DevnetContext once the
server is up.

The devnet keys (`<home>/devnet/keys.json`) hold only test money on this local chain, so
they are stored in plain text (mode 0600), like anvil's well-known accounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_tester.utils.address import generate_contract_address
from eth_utils import to_canonical_address, to_checksum_address
from web3 import Web3

from common.atomic import atomic_write_text
from devnet.chain import DevnetChain
from devnet.config import (
    ACTIVE_CLIENT_SECONDS,
    CHAIN_ID,
    DEFAULT_PORT,
    ETHER,
    GRACE_PERIOD_SECONDS,
    IDLE_BLOCK_SECONDS,
    PLUGIN_GROUP,
    PRACTITIONER_TOKENS,
)
from devnet.errors import DevnetError
from devnet.faucet import Faucet
from devnet.rpc import DevnetHTTPServer, DevnetRPC
from devnet.server_info import read_server_info, write_server_info

log = logging.getLogger(__name__)


@dataclass
class DevnetContext:
    """What a devnet plugin (e.g. the demo practitioner) gets when the devnet is serving."""

    home: Path  # the devnet directory (<data home>/devnet)
    rpc_url: str
    chain_id: int
    token: str  # QuarryToken address (EIP-55)
    board: str  # BountyBoard address (EIP-55)
    first_start: bool  # True when this run created the chain and deployed the contracts
    practitioner_key: str = field(repr=False)  # hex private key of a devnet-funded account (ETH and QDT)
    stop: threading.Event = field(default_factory=threading.Event)  # set when shutting down


class Devnet:
    """The chain, its devnet-held keys and contracts, the faucet and the HTTP server."""

    def __init__(self, directory: Path, port: int = DEFAULT_PORT, chain_id: int = CHAIN_ID) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port = port
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self._lock_file = self._take_directory_lock()
        try:
            self.keys = self._load_or_create_keys()
            self.deployer = Account.from_key(self.keys["deployer"])
            self.practitioner = Account.from_key(self.keys["practitioner"])
            self.chain = DevnetChain(
                self.directory / "chain.sqlite",
                chain_id,
                {self.deployer.address: 10**9 * ETHER, self.practitioner.address: 10**6 * ETHER},
            )
            self.first_start = False
            with self.lock:
                if self.chain.get_meta("board") is None:
                    self._deploy_contracts()
                    self.first_start = True
        except BaseException:
            self._lock_file.close()  # another attempt may start once this one failed
            raise
        self.faucet_service = Faucet(self)
        self.rpc = DevnetRPC(self.chain, self.lock, client="Quarry devnet (py-evm)")
        self.rpc.extra_methods["quarry_faucet"] = lambda params: self.faucet(params[0] if params else None)
        self.rpc.extra_methods["quarry_contracts"] = lambda params: self.contracts()
        self.server: DevnetHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- set-up --------------------------------------------------------------------------

    def _take_directory_lock(self):
        handle = open(self.directory / "lock", "a+")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            running = read_server_info(self.directory)
            where = f" at {running['url']} (pid {running['pid']})" if running else ""
            raise DevnetError(f"A devnet is already running for {self.directory}{where}.") from None
        return handle

    def _load_or_create_keys(self) -> dict[str, str]:
        path = self.directory / "keys.json"
        if path.exists():
            try:
                keys = json.loads(path.read_text())
                Account.from_key(keys["deployer"])
                Account.from_key(keys["practitioner"])
                return keys
            except (ValueError, KeyError, TypeError) as exc:
                raise DevnetError(f"The devnet key file {path} is damaged: {exc}") from exc
        if (self.directory / "chain.sqlite").exists():
            raise DevnetError(f"The devnet key file {path} is missing; remove {self.directory} to start over.")
        keys = {"deployer": "0x" + secrets.token_hex(32), "practitioner": "0x" + secrets.token_hex(32)}
        atomic_write_text(path, json.dumps(keys), mode=0o600)
        return keys

    def _deploy_contracts(self) -> None:
        from common.artifacts import abi, bytecode

        w3 = Web3()
        token_factory = w3.eth.contract(abi=abi("QuarryToken"), bytecode=bytecode("QuarryToken"))
        board_factory = w3.eth.contract(abi=abi("BountyBoard"), bytecode=bytecode("BountyBoard"))
        deployer = to_canonical_address(self.deployer.address)
        first_nonce = self.chain.nonce(deployer, "pending")
        token_tx = self.send_internal(
            self.deployer, None, token_factory.constructor(self.deployer.address).data_in_transaction
        )
        board_tx = self.send_internal(
            self.deployer, None, board_factory.constructor(GRACE_PERIOD_SECONDS).data_in_transaction
        )
        # Both contracts and the practitioner's tokens in one block: the addresses are known
        # before mining (sender and nonce), and one block keeps the chain's time at the clock.
        token = to_checksum_address(generate_contract_address(deployer, first_nonce))
        board = to_checksum_address(generate_contract_address(deployer, first_nonce + 1))
        self.chain.set_meta("token", token)
        self.mint(self.practitioner.address, PRACTITIONER_TOKENS)
        self.chain.mine()
        receipts = [self.chain.receipt(tx_hash) for tx_hash in (token_tx, board_tx)]
        if any(receipt is None or receipt["status"] != 1 for receipt in receipts):
            raise DevnetError("Deploying the contracts on the embedded network failed.")
        self.chain.set_meta("board", board)
        # the token's block (a transaction is mined as soon as its second has come, so the
        # board may land a block later): no event of either contract is older
        self.chain.set_meta("deploy_block", str(min(receipt["block_number"] for receipt in receipts)))
        self.chain.commit()
        log.info("devnet: deployed QuarryToken at %s and BountyBoard at %s", self.token, self.board)

    def send_internal(self, signer, to: str | None, data: str | bytes = b"", value: int = 0) -> bytes:
        """Sign with a devnet-held key and execute into the pending block (caller holds the lock)."""
        transaction = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": self.chain.nonce(to_canonical_address(signer.address), "pending"),
            "value": value,
            "data": data,
            "gas": 5_000_000 if to is None or data else 21_000,
            "maxFeePerGas": 2 * self.chain.next_base_fee() + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        if to is not None:
            transaction["to"] = to
        return self.chain.send_raw_transaction(signer.sign_transaction(transaction).raw_transaction)

    def mint(self, to: str, amount: int) -> bytes:
        from common.artifacts import abi

        token = Web3().eth.contract(abi=abi("QuarryToken"))
        data = token.encode_abi("mint", [to_checksum_address(to), amount])
        return self.send_internal(self.deployer, self.token, data)

    # -- custom RPC methods ----------------------------------------------------------------

    @property
    def token(self) -> str:
        return self.chain.get_meta("token") or ""

    @property
    def board(self) -> str:
        return self.chain.get_meta("board") or ""

    def contracts(self) -> dict[str, Any]:
        return {"token": self.token, "board": self.board, "chainId": self.chain.chain_id,
                "deployBlock": self.deploy_block()}

    def deploy_block(self) -> int:
        """The block that deployed the contracts (history scans start there)."""
        with self.lock:
            recorded = self.chain.get_meta("deploy_block")
            if recorded is None:  # a chain made before it was recorded: find it once
                token = to_canonical_address(self.token)  # deployed first
                low, high = 0, self.chain.head().block_number
                while low < high:  # the first block whose state holds the token's code
                    middle = (low + high) // 2
                    if self.chain.code(token, middle):
                        high = middle
                    else:
                        low = middle + 1
                recorded = str(low)
                self.chain.set_meta("deploy_block", recorded)  # committed with the next block
            return int(recorded)

    def faucet(self, address: Any) -> dict[str, Any]:
        """Send test ETH and mint QDT to `address` (devnet.faucet: rate-limited)."""
        return self.faucet_service.pay(address)

    def wait_mined(self, tx_hash: bytes, timeout: float = 5) -> None:
        # Answer once the payment is mined, without mining early (that would push the
        # chain's time ahead of the clock).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                self.chain.mine_if_due()
                if self.chain.receipt(tx_hash) is not None:
                    return
            time.sleep(0.05)

    # -- serving ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, plugins: bool = True) -> None:
        """Serve on 127.0.0.1 in background threads; returns once the server accepts requests."""
        try:
            self.server = DevnetHTTPServer(self.port, self.rpc)
        except OSError as exc:
            self.close()
            raise DevnetError(f"Cannot listen on 127.0.0.1:{self.port}: {exc.strerror or exc}.") from exc
        self.port = self.server.server_address[1]
        self._spawn(lambda: self.server.serve_forever(poll_interval=0.1), "devnet-http")
        self._spawn(self._mine_loop, "devnet-miner")
        write_server_info(self.directory, {
            "pid": os.getpid(), "port": self.port, "url": self.url, "chainId": self.chain.chain_id,
            "board": self.board,  # running_url checks the node at the URL is this chain
        })
        log.info("devnet: serving chain %s at %s", self.chain.chain_id, self.url)
        if plugins:
            self.start_plugins()

    def _spawn(self, target, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _mine_loop(self) -> None:
        # Mines pending transactions as soon as their second has come, and an empty block
        # now and then while clients are active, so the latest block's time follows the clock.
        while not self.stop_event.wait(0.1):
            try:
                with self.lock:
                    if self.chain.mine_if_due():
                        continue
                    idle_for = time.time() - self.chain.head().timestamp
                    active = self.server is not None and (
                        time.monotonic() - self.server.last_request_at < ACTIVE_CLIENT_SECONDS
                    )
                    if active and idle_for >= IDLE_BLOCK_SECONDS:
                        self.chain.mine()
            except Exception:  # a failure here must not stop the chain from serving
                log.exception("devnet: mining failed")
        self._mine_what_is_pending()

    def _mine_what_is_pending(self, timeout: float = 3.0) -> None:
        # Stopping: a transaction already accepted (its effects visible to calls, its sender
        # waiting for the receipt) is mined once its second has come, not dropped with the
        # pending block.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.lock:
                    if not self.chain.has_pending() or self.chain.mine_if_due():
                        return
            except Exception:
                log.exception("devnet: mining the pending block at stop failed")
                return
            time.sleep(0.05)

    def context(self) -> DevnetContext:
        return DevnetContext(
            home=self.directory, rpc_url=self.url, chain_id=self.chain.chain_id,
            token=self.token, board=self.board, first_start=self.first_start,
            practitioner_key=self.keys["practitioner"], stop=self.stop_event,
        )

    def start_plugins(self) -> None:
        for entry_point in entry_points(group=PLUGIN_GROUP):
            self._spawn(lambda ep=entry_point: self._run_plugin(ep), f"devnet-plugin-{entry_point.name}")

    def _run_plugin(self, entry_point) -> None:
        try:
            plugin = entry_point.load()
            plugin(self.context())
        except Exception:  # a plugin's failure is logged and the devnet keeps serving
            log.exception("devnet: plugin %s failed", entry_point.name)

    def stop(self) -> None:
        self.stop_event.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for thread in self._threads:
            if thread.name in ("devnet-http", "devnet-miner"):
                thread.join(timeout=5)
        self.close()

    def close(self) -> None:
        with self.lock, contextlib.suppress(Exception):
            self.chain.close()
        info = read_server_info(self.directory)
        if info and info.get("pid") == os.getpid() and info.get("port") == self.port:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / "server.json").unlink()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


