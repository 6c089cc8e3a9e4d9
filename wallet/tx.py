"""Transactions: build, estimate, sign and send EIP-1559 transactions, then follow them.

Only EIP-1559 (type 2) transactions are signed, always for the chain id the node reports
and the network expects (checked right before each signature). Nonces come from the node's
pending count, raised past any nonce this process handed out and a lock per sender, so two
sends from one process never reuse a nonce. `speed_up` and `cancel` replace a pending
transaction by reusing its nonce with higher fees. Failures become one-line QuarryErrors.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wallet.errors import InvalidInput, NetworkError, QuarryError, TransactionFailed

# requests, web3 and eth-account are imported by the functions that use them (web3 takes
# most of a second to load): pages that only format amounts must not pay for it.

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from wallet.store import Store

GWEI = 10**9
FALLBACK_PRIORITY_FEE = 1 * GWEI  # when the node has no eth_maxPriorityFeePerGas
GAS_BUFFER_NUMERATOR, GAS_BUFFER_DENOMINATOR = 6, 5  # estimates + 20 %
REPLACEMENT_BUMP_PERCENT = 20  # nodes require >= 10 % higher fees to replace
RECEIPT_TIMEOUT_SECONDS = 120

_nonce_locks: dict[tuple[str, str], threading.Lock] = {}
_next_nonces: dict[tuple[str, str], int] = {}
_registry_lock = threading.Lock()


@dataclass(frozen=True)
class FeeQuote:
    """What a transaction may cost: shown in the review step before sending."""

    gas: int
    base_fee_per_gas: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int

    @property
    def expected_cost_wei(self) -> int:
        """Gas at the current base fee plus the tip: what it will most likely cost."""
        return self.gas * min(self.max_fee_per_gas, self.base_fee_per_gas + self.max_priority_fee_per_gas)

    @property
    def max_cost_wei(self) -> int:
        """The most it can cost (gas limit at the max fee)."""
        return self.gas * self.max_fee_per_gas


def node_url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", "") or "the node")


def explain(exc: BaseException, w3: Web3 | None = None) -> QuarryError:
    """One user-facing error for what web3 or the node raised."""
    import requests
    from web3.exceptions import ContractCustomError, ContractLogicError

    from wallet.contracts import decode_revert

    if isinstance(exc, QuarryError):
        return exc
    url = node_url(w3) if w3 is not None else "the node"
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        reason = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "connection refused"
        return NetworkError(f"Cannot reach the Ethereum node at {url}: {reason}")
    if isinstance(exc, ContractCustomError | ContractLogicError):
        return TransactionFailed(decode_revert(exc))
    message = _rpc_message(exc)
    lowered = message.lower()
    for wording, explanation in _NODE_REFUSALS:
        if wording in lowered:
            return TransactionFailed(explanation)
    if "chain id" in lowered:
        return NetworkError(f"The node at {url} refused the chain id: {message}")
    if "revert" in lowered:
        return TransactionFailed(decode_revert(exc))
    return TransactionFailed(f"The node refused the transaction: {message}")


# What geth, anvil and the devnet say (lower case) when they refuse a transaction, in words;
# checked in order
_NODE_REFUSALS = (
    ("nonce too low", "Nonce too low: a transaction with this nonce was already mined from this account."),
    ("nonce too high", "Nonce too high: an earlier transaction from this account is missing."),
    ("insufficient funds",
     "Insufficient funds: the account lacks the ETH for the amount plus the network fee."),
    ("underpriced",
     "The replacement fee is too low: the node wants a higher fee to replace a pending transaction."),
    ("intrinsic gas", "The gas limit is below the minimum this transaction needs."),
    ("base fee", "The max fee is below the network's current base fee; try again."),
    ("already known", "The node already has this transaction."),
)


def _rpc_message(exc: BaseException) -> str:
    from web3.exceptions import Web3RPCError

    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    if exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("message", exc.args[0]))
    return str(exc)


def _is_revert(exc: BaseException) -> bool:
    from web3.exceptions import ContractCustomError, ContractLogicError

    if isinstance(exc, ContractCustomError | ContractLogicError):
        return True
    return "revert" in _rpc_message(exc).lower()


def checked_chain_id(w3: Web3, expected_chain_id: int) -> int:
    """The node's chain id, refused unless it is the one the network is configured for."""
    try:
        actual = int(w3.eth.chain_id)
    except Exception as exc:
        raise explain(exc, w3) from exc
    if actual != expected_chain_id:
        raise NetworkError(
            f"The node at {node_url(w3)} is on chain {actual}, but this network is configured "
            f"for chain {expected_chain_id}."
        )
    return actual


def suggest_fees(w3: Web3) -> tuple[int, int, int]:
    """(base fee, max priority fee, max fee) for a transaction sent now."""
    try:
        block = w3.eth.get_block("latest")
        base_fee = int(block.get("baseFeePerGas") or 0)
    except Exception as exc:
        raise explain(exc, w3) from exc
    if not block.get("baseFeePerGas") and block.get("baseFeePerGas") != 0:
        raise TransactionFailed("The node does not support EIP-1559 transactions.")
    try:
        priority = int(w3.eth.max_priority_fee)
    except Exception:  # some nodes lack eth_maxPriorityFeePerGas
        priority = FALLBACK_PRIORITY_FEE
    # two base fees of headroom: stays valid through ~6 full blocks of base-fee growth
    return base_fee, priority, 2 * base_fee + priority


def estimate_gas(w3: Web3, tx: dict[str, Any]) -> int:
    """The node's gas estimate plus a margin; reverts become their one-line reason."""
    request = {k: tx[k] for k in ("from", "to", "value", "data") if k in tx and tx[k] is not None}
    try:
        estimate = int(w3.eth.estimate_gas(request))
    except Exception as exc:
        explained = explain(exc, w3)
        plain_transfer = tx.get("to") and tx.get("value") and tx.get("data") in (None, "", "0x", b"")
        if plain_transfer and _is_revert(exc):
            # only a contract can revert a call without data: "execution reverted" says too little
            raise TransactionFailed(
                f"The recipient {tx['to']} refused the transfer (the contract reverted); nothing was sent."
            ) from exc
        raise explained from exc
    if estimate <= 21_000 and tx.get("data") in (None, "", "0x", b""):
        return 21_000  # a plain transfer costs exactly this
    return estimate * GAS_BUFFER_NUMERATOR // GAS_BUFFER_DENOMINATOR


def build_transaction(
    w3: Web3,
    sender: str,
    to: str | None,
    value: int = 0,
    data: bytes | str = b"",
    gas: int | None = None,
    chain_id: int | None = None,
) -> tuple[dict[str, Any], FeeQuote]:
    """An unsigned EIP-1559 transaction (no nonce yet) and its fee quote."""
    if value < 0:
        raise InvalidInput("The amount cannot be negative.")
    data_hex = data if isinstance(data, str) else "0x" + bytes(data).hex()
    tx: dict[str, Any] = {"type": 2, "from": sender, "value": value, "data": data_hex}
    if to is not None:
        tx["to"] = to
    base_fee, priority, max_fee = suggest_fees(w3)
    tx["gas"] = gas if gas is not None else estimate_gas(w3, tx)
    tx["maxPriorityFeePerGas"] = priority
    tx["maxFeePerGas"] = max_fee
    tx["chainId"] = chain_id if chain_id is not None else int(w3.eth.chain_id)
    return tx, FeeQuote(tx["gas"], base_fee, priority, max_fee)


def _nonce_key(w3: Web3, address: str) -> tuple[str, str]:
    # A node is its URL; an in-process chain (eth-tester) has none, and two of them in one
    # process must not share a nonce memory, so it is keyed by its provider object.
    endpoint = getattr(w3.provider, "endpoint_uri", None)
    node = str(endpoint) if endpoint else f"in-process provider {id(w3.provider):#x}"
    return (node, address.lower())


def _nonce_lock(key: tuple[str, str]) -> threading.Lock:
    with _registry_lock:
        return _nonce_locks.setdefault(key, threading.Lock())


def sign_and_send(
    w3: Web3,
    signer: LocalAccount,
    tx: dict[str, Any],
    expected_chain_id: int,
    *,
    nonce: int | None = None,
    store: Store | None = None,
    network: str = "",
    kind: str = "send",
    description: str = "",
) -> str:
    """Sign `tx` (a build_transaction result) with a fresh nonce, or `nonce`, and send it.

    The node's chain id is checked against `expected_chain_id` right before signing.
    Returns the transaction hash (0x hex) and records it in the store when given one.
    """
    import requests

    if tx.get("type", 2) != 2 or "gasPrice" in tx:
        raise InvalidInput("Only EIP-1559 transactions are signed.")
    if tx.get("from") and tx["from"].lower() != signer.address.lower():
        raise InvalidInput(f"The transaction is from {tx['from']}, not from {signer.address}.")
    key = _nonce_key(w3, signer.address)
    with _nonce_lock(key):
        chain_id = checked_chain_id(w3, expected_chain_id)
        if nonce is None:
            try:
                pending = int(w3.eth.get_transaction_count(signer.address, "pending"))
            except Exception as exc:
                raise explain(exc, w3) from exc
            use_nonce = max(pending, _next_nonces.get(key, 0))
        else:
            use_nonce = nonce
        unsigned = {k: v for k, v in tx.items() if k != "from"}
        unsigned.update({"nonce": use_nonce, "chainId": chain_id, "type": 2})
        signed = signer.sign_transaction(unsigned)
        hash_hex = "0x" + bytes(signed.hash).hex()
        # Recorded before sending: if the answer is lost (a read timeout), the node may still
        # have it, and the store must know it (history settles it later). A refusal removes it.
        recorded = store is not None and not _is_recorded(store, hash_hex)
        if recorded:
            record_sent(store, network, chain_id, signer.address, unsigned, hash_hex, kind, description)
        try:
            w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:
            if "nonce too low" in _rpc_message(exc).lower():
                _next_nonces.pop(key, None)  # our memory is stale; ask the node next time
            if isinstance(exc, requests.exceptions.ReadTimeout):
                raise NetworkError(
                    f"The node at {node_url(w3)} did not answer in time; transaction {hash_hex} may "
                    "still have been sent (the history will show what became of it)."
                ) from exc
            if recorded:
                store.db.execute("DELETE FROM sent_transactions WHERE hash = ?", [hash_hex])
            raise explain(exc, w3) from exc
        if nonce is None:
            _next_nonces[key] = use_nonce + 1
    return hash_hex


def _is_recorded(store: Store, tx_hash: str) -> bool:
    return bool(list(store.db.query("SELECT 1 FROM sent_transactions WHERE hash = ?", [tx_hash])))


def record_sent(store: Store, network: str, chain_id: int, sender: str, tx: dict[str, Any],
                tx_hash: str, kind: str, description: str) -> None:
    data = tx.get("data") or "0x"
    store.db["sent_transactions"].upsert({
        "hash": tx_hash, "network": network, "chain_id": chain_id, "sender": sender,
        "nonce": int(tx["nonce"]), "to_address": tx.get("to"), "value": str(int(tx.get("value", 0))),
        "data": data if isinstance(data, str) else "0x" + bytes(data).hex(),
        "kind": kind, "description": description,
        "max_fee_per_gas": str(int(tx["maxFeePerGas"])),
        "max_priority_fee_per_gas": str(int(tx["maxPriorityFeePerGas"])),
        "gas": int(tx["gas"]), "status": "pending", "block_number": None, "replaced_by": None,
        "created_at": time.time(),
    }, pk="hash")


def update_status(store: Store | None, tx_hash: str, receipt: dict[str, Any] | None) -> None:
    if store is None or receipt is None:
        return
    store.db.execute(
        "UPDATE sent_transactions SET status = ?, block_number = ? WHERE hash = ?",
        ["success" if receipt["status"] == 1 else "failed", int(receipt["blockNumber"]), tx_hash],
    )


def wait_for_receipt(
    w3: Web3,
    tx_hash: str,
    timeout: float = RECEIPT_TIMEOUT_SECONDS,
    store: Store | None = None,
    poll: float = 0.2,
) -> dict[str, Any]:
    """The mined receipt; TransactionFailed with the revert reason when it reverted."""
    from web3.exceptions import TimeExhausted

    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=poll)
    except TimeExhausted as exc:
        raise TransactionFailed(
            f"Transaction {tx_hash} was not mined within {timeout:.0f} s; it may still be pending "
            "(speed it up or cancel it)."
        ) from exc
    except Exception as exc:
        raise explain(exc, w3) from exc
    update_status(store, tx_hash, receipt)
    if receipt["status"] != 1:
        raise TransactionFailed(f"Transaction {tx_hash} reverted: {revert_reason(w3, tx_hash, receipt)}")
    return dict(receipt)


def revert_reason(w3: Web3, tx_hash: str, receipt: dict[str, Any]) -> str:
    """Why a mined transaction reverted: replay it as a call at its block."""
    from wallet.contracts import decode_revert

    tx: Any = {}  # stays empty if the node cannot give the transaction back
    try:
        tx = w3.eth.get_transaction(tx_hash)
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"],
                "gas": tx["gas"]}
        w3.eth.call(call, block_identifier=receipt["blockNumber"] - 1)
    except Exception as exc:
        if tx.get("to") and tx.get("value") and not bytes(tx.get("input") or b"") and _is_revert(exc):
            return (f"the recipient {tx['to']} refused the transfer (the contract reverted); "
                    "the ETH was not sent, only the fee was spent")
        return decode_revert(exc)
    return "it ran out of gas or failed without a reason"


def send_and_wait(
    w3: Web3, signer: LocalAccount, to: str | None, data: bytes | str = b"", value: int = 0, *,
    expected_chain_id: int, store: Store | None = None, network: str = "", kind: str = "send",
    description: str = "", gas: int | None = None, timeout: float = RECEIPT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Build, sign, send and wait: the receipt of a successful transaction."""
    tx, _ = build_transaction(w3, signer.address, to, value, data, gas, expected_chain_id)
    tx_hash = sign_and_send(w3, signer, tx, expected_chain_id, store=store, network=network,
                            kind=kind, description=description)
    return wait_for_receipt(w3, tx_hash, timeout, store)


def transact(w3: Web3, signer: LocalAccount, function_call: Any, *, expected_chain_id: int,
             store: Store | None = None, network: str = "", kind: str = "contract",
             description: str = "", timeout: float = RECEIPT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Send a bound contract function call (e.g. `board.functions.claim(token)`)."""
    data = function_call._encode_transaction_data()
    return send_and_wait(w3, signer, function_call.address, data, 0,
                         expected_chain_id=expected_chain_id, store=store, network=network,
                         kind=kind, description=description, timeout=timeout)


# -- speed-up and cancel: the same nonce with higher fees ------------------------------------


def _bumped(old: int, floor: int) -> int:
    return max(old * (100 + REPLACEMENT_BUMP_PERCENT) // 100 + 1, floor)


def replace_transaction(
    w3: Web3, signer: LocalAccount, tx_hash: str, expected_chain_id: int, *,
    cancel: bool = False, store: Store | None = None, network: str = "",
) -> str:
    """Re-send a pending transaction's nonce with >= 20 % higher fees; returns the new hash.

    With `cancel`, the replacement is a 0 ETH transfer to oneself, so only the fee is spent.
    """
    try:
        old = w3.eth.get_transaction(tx_hash)
    except Exception as exc:
        raise explain(exc, w3) from exc
    if old.get("blockNumber") is not None:
        raise TransactionFailed(f"Transaction {tx_hash} is already mined; it cannot be replaced.")
    if old["from"].lower() != signer.address.lower():
        raise InvalidInput(f"Transaction {tx_hash} was sent by {old['from']}, not {signer.address}.")
    base_fee, priority, max_fee = suggest_fees(w3)
    new_priority = _bumped(int(old["maxPriorityFeePerGas"]), priority)
    new_max = max(_bumped(int(old["maxFeePerGas"]), max_fee), new_priority + base_fee)
    if cancel:
        tx = {"type": 2, "to": signer.address, "value": 0, "data": "0x", "gas": 21_000}
    else:
        tx = {"type": 2, "to": old["to"], "value": int(old["value"]),
              "data": "0x" + bytes(old["input"]).hex(), "gas": int(old["gas"])}
    tx.update({"maxPriorityFeePerGas": new_priority, "maxFeePerGas": new_max})
    new_hash = sign_and_send(
        w3, signer, tx, expected_chain_id, nonce=int(old["nonce"]), store=store, network=network,
        kind="cancel" if cancel else "speed-up", description=f"replaces {tx_hash}",
    )
    if store is not None:
        store.db.execute(
            "UPDATE sent_transactions SET status = 'replaced', replaced_by = ? WHERE hash = ?",
            [new_hash, tx_hash],
        )
    return new_hash


def speed_up(w3: Web3, signer: LocalAccount, tx_hash: str, expected_chain_id: int, **kw: Any) -> str:
    return replace_transaction(w3, signer, tx_hash, expected_chain_id, cancel=False, **kw)


def cancel(w3: Web3, signer: LocalAccount, tx_hash: str, expected_chain_id: int, **kw: Any) -> str:
    return replace_transaction(w3, signer, tx_hash, expected_chain_id, cancel=True, **kw)


def sent_transactions(store: Store, network: str, sender: str) -> list[dict[str, Any]]:
    return list(store.db.query(
        "SELECT * FROM sent_transactions WHERE network = ? AND lower(sender) = lower(?) "
        "ORDER BY created_at DESC", [network, sender],
    ))
