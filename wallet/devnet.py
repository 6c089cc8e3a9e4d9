"""The embedded network: a persistent py-evm chain served as JSON-RPC on 127.0.0.1.

`quarry devnet` (or `python -m wallet.devnet`) runs it in the foreground; `ensure_running(home)`
starts it detached when nothing answers. State lives in `<home>/devnet/chain.sqlite`, so a
restart continues the same chain. The first start deploys QuarryToken and BountyBoard from a
devnet-held key. Plugins (entry point group "quarry.devnet") get a DevnetContext once the
server is up.

The devnet keys (`<home>/devnet/keys.json`) hold only test money on this local chain, so
they are stored in plain text (mode 0600), like anvil's well-known accounts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_tester.utils.address import generate_contract_address
from eth_utils import is_hex_address, to_canonical_address, to_checksum_address
from web3 import Web3

from trainer import jsonsafe
from wallet.atomic import atomic_write_text
from wallet.devnet_chain import ChainError, DevnetChain
from wallet.devnet_rpc import DevnetHTTPServer, DevnetRPC
from wallet.errors import NetworkError, QuarryError
from wallet.paths import data_home

log = logging.getLogger(__name__)

DEFAULT_PORT = 18545
CHAIN_ID = 1337
PLUGIN_GROUP = "quarry.devnet"
GRACE_PERIOD_SECONDS = 3600
ETHER = 10**18
TOKEN_UNIT = 10**18
FAUCET_ETH = 10 * ETHER
FAUCET_TOKENS = 1_000 * TOKEN_UNIT
FAUCET_INTERVAL_SECONDS = 3600  # one faucet payment per address per hour
# Fresh addresses cost nothing, so the per-address limit alone does not stop a loop from
# draining the deployer (and filling the disk with blocks): at most this many payments per
# interval in all. A person funds a handful of accounts; the demo needs none.
FAUCET_PAYMENTS_PER_INTERVAL = 100
FAUCET_RESERVE_ETH = 1_000 * ETHER  # the deployer keeps this for minting and deploying
PRACTITIONER_TOKENS = 1_000_000 * TOKEN_UNIT
IDLE_BLOCK_SECONDS = 5  # an empty block this often while clients are active keeps "latest" fresh
ACTIVE_CLIENT_SECONDS = 60
START_TIMEOUT_SECONDS = 60
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # of a JSON-RPC answer read by rpc_request


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


class DevnetError(QuarryError):
    """The devnet cannot start (port taken, already running, damaged files)."""


def devnet_dir(home: str | os.PathLike[str] | None = None) -> Path:
    directory = data_home(home) / "devnet"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


class Devnet:
    """The chain, its devnet-held keys and contracts, the faucet and the HTTP server."""

    def __init__(self, directory: Path, port: int = DEFAULT_PORT, chain_id: int = CHAIN_ID) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port = port
        self.faucet_payments_per_interval = FAUCET_PAYMENTS_PER_INTERVAL
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
        from wallet.contracts import abi, bytecode

        w3 = Web3()
        token_factory = w3.eth.contract(abi=abi("QuarryToken"), bytecode=bytecode("QuarryToken"))
        board_factory = w3.eth.contract(abi=abi("BountyBoard"), bytecode=bytecode("BountyBoard"))
        deployer = to_canonical_address(self.deployer.address)
        first_nonce = self.chain.nonce(deployer, "pending")
        token_tx = self._send_internal(
            self.deployer, None, token_factory.constructor(self.deployer.address).data_in_transaction
        )
        board_tx = self._send_internal(
            self.deployer, None, board_factory.constructor(GRACE_PERIOD_SECONDS).data_in_transaction
        )
        # Both contracts and the practitioner's tokens in one block: the addresses are known
        # before mining (sender and nonce), and one block keeps the chain's time at the clock.
        token = to_checksum_address(generate_contract_address(deployer, first_nonce))
        board = to_checksum_address(generate_contract_address(deployer, first_nonce + 1))
        self.chain.set_meta("token", token)
        self._mint(self.practitioner.address, PRACTITIONER_TOKENS)
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

    def _send_internal(self, signer, to: str | None, data: str | bytes = b"", value: int = 0) -> bytes:
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

    def _mint(self, to: str, amount: int) -> bytes:
        from wallet.contracts import abi

        token = Web3().eth.contract(abi=abi("QuarryToken"))
        data = token.encode_abi("mint", [to_checksum_address(to), amount])
        return self._send_internal(self.deployer, self.token, data)

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
        """Send test ETH and mint QDT to `address`, at most once per address per interval."""
        if not isinstance(address, str) or not is_hex_address(address):
            raise ChainError(f"invalid address: {address!r}", code=-32602)
        address = to_checksum_address(address)
        with self.lock:
            last = self.chain.get_meta(f"faucet:{address}")
            now = time.time()
            if last is not None and now - float(last) < FAUCET_INTERVAL_SECONDS:
                minutes = int((FAUCET_INTERVAL_SECONDS - (now - float(last))) // 60) + 1
                raise ChainError(
                    f"The faucet already funded {address}; try again in {minutes} minutes.", code=-32005
                )
            recent = self.chain.count_meta_since("faucet:", now - FAUCET_INTERVAL_SECONDS)
            if recent >= self.faucet_payments_per_interval:
                raise ChainError(
                    f"The faucet has paid {recent} accounts in the last hour, its limit; try again later.",
                    code=-32005,
                )
            deployer = to_canonical_address(self.deployer.address)
            if self.chain.balance(deployer, "pending") < FAUCET_ETH + FAUCET_RESERVE_ETH:
                raise ChainError("The faucet is empty.", code=-32005)
            eth_tx = self._send_internal(self.deployer, address, b"", FAUCET_ETH)
            token_tx = self._mint(address, FAUCET_TOKENS)
            self.chain.set_meta(f"faucet:{address}", repr(now))
        self._wait_mined(token_tx)
        return {
            "eth": hex(FAUCET_ETH),
            "tokens": hex(FAUCET_TOKENS),
            "ethTx": "0x" + eth_tx.hex(),
            "tokenTx": "0x" + token_tx.hex(),
        }

    def _wait_mined(self, tx_hash: bytes, timeout: float = 5) -> None:
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


# -- finding or starting a devnet ------------------------------------------------------------


def write_server_info(directory: Path, info: dict[str, Any]) -> None:
    atomic_write_text(directory / "server.json", json.dumps(info), mode=0o600)


def read_server_info(directory: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((Path(directory) / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("url"), str) else None


def rpc_request(url: str, method: str, params: list[Any] | None = None, timeout: float = 5) -> Any:
    """One JSON-RPC call with urllib; NetworkError when the node is unreachable or refuses."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = jsonsafe.loads(response.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(f"Cannot reach the Ethereum node at {url}: {reason}") from exc
    if not isinstance(answer, dict):
        raise NetworkError(f"The node at {url} answered something that is not JSON-RPC.")
    if "error" in answer:
        message = answer["error"].get("message", "error") if isinstance(answer["error"], dict) else answer["error"]
        raise NetworkError(f"The node at {url} refused {method}: {message}")
    return answer.get("result")


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's: not our devnet
        return False
    return True


def running_url(home: str | os.PathLike[str] | None = None) -> str | None:
    """The URL of the devnet serving this home, if one answers as that devnet.

    server.json may outlive its devnet (killed, crashed) and another program may have taken
    its port since: the recorded process must be alive and the node at the URL must report
    the recorded chain id and BountyBoard address."""
    info = read_server_info(devnet_dir(home))
    if info is None or not _pid_alive(info.get("pid")):
        return None
    try:
        contracts = rpc_request(info["url"], "quarry_contracts", timeout=2)
    except NetworkError:
        return None
    if not isinstance(contracts, dict) or contracts.get("chainId") != info.get("chainId"):
        return None
    if "board" in info and contracts.get("board") != info["board"]:
        return None
    return info["url"]


def stop_running(home: str | os.PathLike[str] | None = None, timeout: float = 30) -> str | None:
    """Stop this home's running devnet (SIGTERM, then wait); its URL, or None if none ran."""
    import signal

    directory = devnet_dir(home)
    url = running_url(home)
    if url is None:
        return None
    pid = read_server_info(directory)["pid"]
    if pid == os.getpid():
        raise DevnetError("The embedded network runs inside this process; it stops when the process ends.")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid) or read_server_info(directory) is None:
            return url
        time.sleep(0.1)
    raise DevnetError(f"The embedded network (pid {pid}) did not stop within {timeout:.0f} s.")


def ensure_running(home: str | os.PathLike[str] | None = None, port: int = DEFAULT_PORT,
                   timeout: float = START_TIMEOUT_SECONDS, plugins: bool = True,
                   on_start: Callable[[str], None] | None = None) -> str:
    """The URL of this home's devnet; starts `python -m wallet.devnet` detached if none answers
    (with its plugins, e.g. the demo practitioner, unless `plugins` is False). `on_start` is
    called with the URL when this call started it, so the caller can say so."""
    url = running_url(home)
    if url is not None:
        return url
    directory = devnet_dir(home)
    if not _port_is_free(port):
        port = 0  # another program (or another home's devnet) has it: take any free port
    log_file = open(directory / "devnet.log", "ab")  # noqa: SIM115 (handed to the child)
    with log_file:
        command = [sys.executable, "-m", "wallet.devnet", "--home", str(data_home(home)), "--port", str(port)]
        process = subprocess.Popen(
            command + ([] if plugins else ["--no-plugins"]),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True,  # outlives the app that started it
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = running_url(home)
        if url is not None:
            if on_start is not None:
                on_start(url)
            return url
        if process.poll() is not None:
            tail = (directory / "devnet.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise DevnetError(f"The embedded network did not start: {tail[0] if tail else 'no output'}")
        time.sleep(0.2)
    raise DevnetError(f"The embedded network did not answer within {timeout:.0f} s (see {directory / 'devnet.log'}).")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve_forever(home: str | os.PathLike[str] | None, port: int, plugins: bool = True,
                  announce=print) -> None:
    """Run the devnet in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    import signal

    # the handler comes first: a SIGTERM sent as soon as server.json appears stops it cleanly
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    devnet = Devnet(devnet_dir(home), port)
    devnet.start(plugins=plugins)
    announce(f"Embedded network (chain {devnet.chain.chain_id}) serving at {devnet.url}")
    announce(f"QuarryToken {devnet.token}, BountyBoard {devnet.board}")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        devnet.stop()
        announce("Embedded network stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wallet.devnet", description="Run the embedded network.")
    parser.add_argument("--home", help="data directory")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--no-plugins", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        serve_forever(args.home, args.port, plugins=not args.no_plugins)
    except QuarryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
