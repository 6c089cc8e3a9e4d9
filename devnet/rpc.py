"""JSON-RPC 2.0 over HTTP for the embedded network: decoding, the method table, the server.

Answers in the shapes geth and anvil use (hex quantities, camelCase keys, revert data in
error.data) so web3.py's HTTPProvider, and any other client, treat it as a normal node.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_utils import is_hex_address, to_canonical_address, to_checksum_address

from devnet.chain import CallRequest, ChainError, DevnetChain
from trainer import jsonsafe

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_BATCH_REQUESTS = 256  # requests per JSON-RPC batch (geth allows 1000; ours hold one lock each)
SOCKET_TIMEOUT_SECONDS = 30  # a client that stops sending mid-request frees its thread
MAX_CONNECTIONS = 64  # threads serving connections at once
MAX_LOG_RESULTS = 10_000  # logs per eth_getLogs answer, like hosted providers
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_LOG_RANGE = 10_000  # blocks per eth_getLogs, like hosted providers' caps
DEFAULT_PRIORITY_FEE = 10**9  # 1 gwei

_RENAMED = {
    "coinbase": "miner",
    "sha3_uncles": "sha3Uncles",
    "logs_bloom": "logsBloom",
}


def _camel(key: str) -> str:
    if key in _RENAMED:
        return _RENAMED[key]
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def to_rpc(value: Any, key: str = "") -> Any:
    """eth-tester's dicts (ints, bytes, snake_case) to JSON-RPC (hex, camelCase)."""
    if isinstance(value, dict):
        return {_camel(k): to_rpc(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_rpc(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        if key in ("from", "to", "address", "coinbase", "contract_address") and len(value) == 20:
            return to_checksum_address(value)
        if key == "to" and not value:
            return None
        return "0x" + bytes(value).hex()
    return value


def _transaction_to_rpc(transaction: dict[str, Any] | None) -> dict[str, Any] | None:
    if transaction is None:
        return None
    renamed = dict(transaction)
    renamed["input"] = renamed.pop("data", b"")
    return to_rpc(renamed)


def _block_to_rpc(block: dict[str, Any], full: bool) -> dict[str, Any]:
    rpc = to_rpc({k: v for k, v in block.items() if k != "transactions"})
    if full:
        rpc["transactions"] = [_transaction_to_rpc(tx) for tx in block["transactions"]]
    else:
        rpc["transactions"] = to_rpc(block["transactions"])
    return rpc


def _receipt_to_rpc(receipt: dict[str, Any] | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    receipt = {k: v for k, v in receipt.items() if k != "state_root"}
    for entry in receipt["logs"]:
        entry.pop("type", None)
        entry["removed"] = False
    return to_rpc(receipt)


# -- decoding parameters -------------------------------------------------------------------


class InvalidParams(ChainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=-32602)


def _param(params: list[Any], index: int, default: Any = None) -> Any:
    return params[index] if len(params) > index else default


def _address(value: Any) -> bytes:
    if not isinstance(value, str) or not is_hex_address(value):
        raise InvalidParams(f"invalid address: {value!r}")
    return to_canonical_address(value)


def _quantity(value: Any, name: str = "quantity") -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidParams(f"invalid {name}: {value!r}")


def _data(value: Any, name: str = "data") -> bytes:
    if value is None:
        return b""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise InvalidParams(f"invalid {name}: {value!r}")


def _hash32(value: Any) -> bytes:
    data = _data(value, "hash")
    if len(data) != 32:
        raise InvalidParams(f"invalid hash: {value!r}")
    return data


def _tag(value: Any) -> str | int:
    if value is None:
        return "latest"
    if isinstance(value, dict):  # EIP-1898 {"blockNumber": ...}
        value = value.get("blockNumber", "latest")
    if value in ("latest", "pending", "earliest", "safe", "finalized"):
        return value
    return _quantity(value, "block number")


def _call_request(value: Any) -> CallRequest:
    if not isinstance(value, dict):
        raise InvalidParams("the call object must be a JSON object")
    sender = _address(value["from"]) if value.get("from") else bytes(20)
    to = _address(value["to"]) if value.get("to") else b""
    data = _data(value.get("input", value.get("data")))
    gas = _quantity(value["gas"], "gas") if value.get("gas") is not None else None
    amount = _quantity(value["value"], "value") if value.get("value") is not None else 0
    return CallRequest(sender=sender, to=to, data=data, value=amount, gas=gas)


# -- the method table ----------------------------------------------------------------------


class DevnetRPC:
    """Dispatches JSON-RPC requests to a DevnetChain under one lock (py-evm is not thread-safe)."""

    def __init__(self, chain: DevnetChain, lock: threading.RLock, client: str) -> None:
        self.chain = chain
        self.lock = lock
        self.client = client
        self.extra_methods: dict[str, Callable[[list[Any]], Any]] = {}
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda p: self.client,
            "net_version": lambda p: str(self.chain.chain_id),
            "net_listening": lambda p: True,
            "eth_chainId": lambda p: hex(self.chain.chain_id),
            "eth_syncing": lambda p: False,
            "eth_accounts": lambda p: [],
            "eth_blockNumber": lambda p: hex(self.chain.head().block_number),
            "eth_getBalance": lambda p: hex(self.chain.balance(_address(_param(p, 0)), _tag(_param(p, 1)))),
            "eth_getTransactionCount": lambda p: hex(self.chain.nonce(_address(_param(p, 0)), _tag(_param(p, 1)))),
            "eth_getCode": lambda p: "0x" + self.chain.code(_address(_param(p, 0)), _tag(_param(p, 1))).hex(),
            "eth_getStorageAt": self._get_storage_at,
            "eth_gasPrice": lambda p: hex(self.chain.next_base_fee() + DEFAULT_PRIORITY_FEE),
            "eth_maxPriorityFeePerGas": lambda p: hex(DEFAULT_PRIORITY_FEE),
            "eth_feeHistory": self._fee_history,
            "eth_getBlockByNumber": self._block_by_number,
            "eth_getBlockByHash": self._block_by_hash,
            "eth_sendRawTransaction": lambda p: "0x" + self.chain.send_raw_transaction(_data(_param(p, 0))).hex(),
            "eth_sendTransaction": self._no_unlocked_accounts,
            "eth_call": lambda p: "0x" + self.chain.call(_call_request(_param(p, 0)), _tag(_param(p, 1))).hex(),
            "eth_estimateGas": lambda p: hex(self.chain.estimate_gas(_call_request(_param(p, 0)))),
            "eth_getTransactionByHash": lambda p: _transaction_to_rpc(self.chain.transaction(_hash32(_param(p, 0)))),
            "eth_getTransactionReceipt": lambda p: _receipt_to_rpc(self.chain.receipt(_hash32(_param(p, 0)))),
            "eth_getLogs": self._get_logs,
            "evm_mine": self._mine,
        }

    # each request is one call under the lock; a batch is several
    def handle(self, request: Any) -> Any:
        if isinstance(request, list):
            if not request:
                return _error(None, -32600, "empty batch")
            if len(request) > MAX_BATCH_REQUESTS:
                return _error(None, -32600, f"batch too large (at most {MAX_BATCH_REQUESTS} requests)")
            answers = [self.handle_one(item) for item in request]
            return [answer for answer in answers if answer is not None]
        return self.handle_one(request)

    def handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "invalid request")
        request_id = request.get("id")
        method = request["method"]
        params = request.get("params") or []
        if not isinstance(params, list):
            return _error(request_id, -32602, "params must be a list")
        handler = self.extra_methods.get(method) or self.methods.get(method)
        if handler is None:
            return _error(request_id, -32601, f"the method {method} does not exist/is not available")
        try:
            with self.lock:
                result = handler(params)
        except ChainError as exc:
            return _error(request_id, exc.code, str(exc), exc.data)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(request_id, -32602, f"invalid params: {exc}")
        except Exception as exc:  # keep serving; the client gets the message
            log.exception("devnet: %s failed", method)
            return _error(request_id, -32603, f"internal error: {exc}")
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _get_storage_at(self, params: list[Any]) -> str:
        value = self.chain.storage(
            _address(_param(params, 0)), _quantity(_param(params, 1), "slot"), _tag(_param(params, 2))
        )
        return "0x" + value.to_bytes(32, "big").hex()

    def _block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        tag = _tag(_param(params, 0))
        full = bool(_param(params, 1, False))
        try:
            number = self.chain.block_number(tag)
        except ChainError:
            return None
        return _block_to_rpc(self.chain.block_by_number(number, full), full)

    def _block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        full = bool(_param(params, 1, False))
        block = self.chain.block_by_hash(_hash32(_param(params, 0)), full)
        return None if block is None else _block_to_rpc(block, full)

    def _fee_history(self, params: list[Any]) -> dict[str, Any]:
        count = min(max(_quantity(_param(params, 0, 1), "block count"), 1), 1024)
        newest = self.chain.block_number(_tag(_param(params, 1)))
        oldest = max(0, newest - count + 1)
        fees, ratios = [], []
        for number in range(oldest, newest + 1):
            header = self.chain.chain.get_canonical_block_header_by_number(number)
            fees.append(hex(header.base_fee_per_gas))
            ratios.append(header.gas_used / header.gas_limit)
        fees.append(hex(self.chain.next_base_fee()))
        percentiles = _param(params, 2) or []
        reward = [[hex(DEFAULT_PRIORITY_FEE)] * len(percentiles) for _ in ratios]
        answer = {"oldestBlock": hex(oldest), "baseFeePerGas": fees, "gasUsedRatio": ratios}
        if percentiles:
            answer["reward"] = reward
        return answer

    def _get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        query = _param(params, 0, {}) or {}
        if not isinstance(query, dict):
            raise InvalidParams("the filter must be a JSON object")
        if query.get("blockHash"):
            block = self.chain.block_by_hash(_hash32(query["blockHash"]), False)
            if block is None:
                raise ChainError("unknown block")
            first = last = block["number"]
        else:
            first = self.chain.block_number(_tag(query.get("fromBlock")))
            last = self.chain.block_number(_tag(query.get("toBlock")))
        if last - first >= MAX_LOG_RANGE:
            raise ChainError(f"block range is too large (at most {MAX_LOG_RANGE} blocks per query)")
        address = query.get("address")
        addresses = [address] if isinstance(address, str) else list(address or [])
        topics: list[list[bytes] | None] = []
        for wanted in query.get("topics") or []:
            if wanted is None:
                topics.append(None)
            elif isinstance(wanted, str):
                topics.append([_hash32(wanted)])
            else:
                topics.append([_hash32(item) for item in wanted])
        found = self.chain.logs(first, last, [_address(a) for a in addresses], topics,
                                limit=MAX_LOG_RESULTS + 1)
        if len(found) > MAX_LOG_RESULTS:
            raise ChainError(f"query returned more than {MAX_LOG_RESULTS} results; ask for fewer blocks",
                             code=-32005)
        return to_rpc(found)

    def _mine(self, params: list[Any]) -> str:
        # Each block is at least a second after the last: mining faster would push the chain's
        # clock ahead of real time, and round deadlines and grace periods would pass early.
        if self.chain.head().timestamp >= int(time.time()):
            raise ChainError("the embedded network mines in real time: at most one block per second")
        return "0x" + self.chain.mine().hex()

    def _no_unlocked_accounts(self, params: list[Any]) -> None:
        raise ChainError("this node holds no unlocked accounts: sign locally and use eth_sendRawTransaction")


def _error(request_id: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


# -- HTTP ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: DevnetHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_SECONDS

    def _refusal(self) -> tuple[int, str] | None:
        """Why a request is refused before it is read: web pages must not reach the node.

        A page in the user's browser may POST to 127.0.0.1 (a "simple" text/plain request
        needs no CORS pre-flight) or rebind its own host name to 127.0.0.1. So the Host must
        be a loopback name, no Origin may be present (browsers send one, RPC clients do not),
        and the body must be declared application/json (which forces a pre-flight that this
        server never grants), as geth's --http.vhosts and CORS defaults do.
        """
        host = (self.headers.get("Host") or "127.0.0.1").strip().lower()
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname not in LOCAL_HOSTS:
            return 403, f"invalid host {host!r}: the embedded network answers only on 127.0.0.1"
        if self.headers.get("Origin") is not None:
            return 403, "requests from web pages (with an Origin header) are refused"
        return None

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        refusal = self._refusal()
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if refusal is None and content_type != "application/json":
            refusal = 415, "the body must be sent as Content-Type: application/json"
        if refusal is not None:
            self.close_connection = True
            self._reply(refusal[0], _error(None, -32600, refusal[1]))
            return
        declared = (self.headers.get("Content-Length") or "").strip()
        length = int(declared) if declared.isdigit() else -1
        if length <= 0 or length > MAX_REQUEST_BYTES:
            # a body we will not read stays in the socket: close the connection after answering
            self.close_connection = True
            status = 413 if length > MAX_REQUEST_BYTES else 411 if length < 0 else 400
            self._reply(status, _error(None, -32600,
                                       f"bad request size (a Content-Length of 1..{MAX_REQUEST_BYTES} bytes)"))
            return
        try:
            request = jsonsafe.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError, RecursionError):
            self._reply(200, _error(None, -32700, "parse error"))
            return
        self.server.last_request_at = time.monotonic()
        self._reply(200, self.server.rpc.handle(request))

    def do_GET(self) -> None:  # noqa: N802
        refusal = self._refusal()
        if refusal is not None:
            self.close_connection = True
            self._reply(refusal[0], {"error": refusal[1]})
            return
        self._reply(200, {"quarry": "devnet", "chainId": self.server.rpc.chain.chain_id})

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("devnet http: " + format, *args)


class DevnetHTTPServer(ThreadingHTTPServer):
    """One thread per connection, at most MAX_CONNECTIONS at once: more are closed at once
    (each idle keep-alive connection holds a thread until SOCKET_TIMEOUT_SECONDS)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, rpc: DevnetRPC) -> None:
        self.rpc = rpc
        self.last_request_at = time.monotonic()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 (socketserver's API)
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
