"""The embedded network's chain: py-evm over SQLite, mined in wall-clock time.

Why not eth-tester's backend as is: its chain id is fixed, its database lives in memory,
and it finds a receipt by scanning every block backwards (and logs by reading every
receipt), which gets slow once the chain has a few thousand blocks. Here py-evm's key-value
database is an SQLite file (so a restart continues the same chain), transactions are found
through py-evm's own hash index and logs through an SQL index table, all committed together
after each mined block. eth-tester's serializers turn blocks, transactions and receipts
into dicts.

Not thread-safe: DevnetChain's callers hold one lock around every call.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth.vm.forks import PragueVM
from eth.vm.forks.cancun import get_total_blob_gas
from eth.vm.spoof import SpoofTransaction
from eth_tester.backends.pyevm.main import get_default_genesis_params
from eth_tester.backends.pyevm.serializers import (
    serialize_block,
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_utils import ValidationError, to_canonical_address

from devnet.storage import SQLiteKeyValue


class ChainError(Exception):
    """A request the chain refuses; `code` and `data` become the JSON-RPC error."""

    def __init__(self, message: str, code: int = -32000, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


@dataclass(frozen=True)
class CallRequest:
    """A call or gas estimate, decoded from JSON-RPC."""

    sender: bytes
    to: bytes  # b"" for contract creation
    data: bytes
    value: int
    gas: int | None


def _chain_class(chain_id: int) -> type[MiningChain]:
    class QuarryDevnetChain(MiningChain):
        vm_configuration = ((0, PragueVM),)

        def create_header_from_parent(self, parent_header, **header_params):  # type: ignore[override]
            # A constant gas limit, as eth-tester's chain: block space is not scarce here.
            header_params["gas_limit"] = parent_header.gas_limit
            return super().create_header_from_parent(parent_header, **header_params)

    QuarryDevnetChain.chain_id = chain_id
    return QuarryDevnetChain


class DevnetChain:
    """A persistent py-evm chain where every transaction is mined at once, at the current time."""

    def __init__(self, db_path: Path, chain_id: int, genesis_balances: dict[str, int]) -> None:
        self.db_path = Path(db_path)
        self.chain_id = chain_id
        self.connection = sqlite3.connect(self.db_path, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.kv = SQLiteKeyValue(self.connection)
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS logs (block_number INTEGER, tx_index INTEGER, "
            "log_index INTEGER, address BLOB, topic0 BLOB, topic1 BLOB, topic2 BLOB, "
            "topic3 BLOB, data BLOB, tx_hash BLOB, block_hash BLOB, "
            "PRIMARY KEY (block_number, log_index))"
        )
        for column in ("address", "topic0", "topic1", "topic2", "topic3"):
            self.connection.execute(
                f"CREATE INDEX IF NOT EXISTS logs_{column} ON logs ({column}, block_number)"
            )
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self.connection.commit()
        chain_class = _chain_class(chain_id)
        self.atomic_db = AtomicDB(self.kv)
        stored_chain_id = self.get_meta("chain_id")
        self.created = stored_chain_id is None
        if self.created:
            genesis_state = {
                to_canonical_address(address): {
                    "balance": balance, "nonce": 0, "code": b"", "storage": {},
                }
                for address, balance in genesis_balances.items()
            }
            params = get_default_genesis_params()
            self.chain = chain_class.from_genesis(self.atomic_db, params, genesis_state)
            self.set_meta("chain_id", str(chain_id))
            self.commit()
        else:
            if int(stored_chain_id) != chain_id:
                raise ChainError(
                    f"The devnet database {db_path} is for chain {stored_chain_id}, not {chain_id}."
                )
            self.chain = chain_class(self.atomic_db)

    # -- bookkeeping -------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )

    def count_meta_since(self, prefix: str, since: float) -> int:
        """How many meta entries under `prefix` hold a unix time after `since`."""
        row = self.connection.execute(
            "SELECT COUNT(*) FROM meta WHERE key >= ? AND key < ? AND CAST(value AS REAL) > ?",
            (prefix, prefix + "\uffff", since),
        ).fetchone()
        return int(row[0])

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.commit()
        self.connection.close()

    # -- reading -----------------------------------------------------------------------

    def head(self) -> BlockHeaderAPI:
        return self.chain.get_canonical_head()

    def block_number(self, tag: str | int | None) -> int:
        """Resolve a JSON-RPC block tag to a mined block number."""
        head = self.head().block_number
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        number = int(tag, 16) if isinstance(tag, str) else int(tag)
        if number < 0 or number > head:
            raise ChainError(f"block {number} not found (the head is {head})")
        return number

    def header_at(self, tag: str | int | None) -> BlockHeaderAPI:
        return self.chain.get_canonical_block_header_by_number(self.block_number(tag))

    def state_at(self, tag: str | int | None):
        if tag == "pending":
            return self.chain.get_vm(at_header=self.chain.header).state
        return self.chain.get_vm(at_header=self.header_at(tag)).state

    def block_by_number(self, number: int, full: bool) -> dict[str, Any]:
        block = self.chain.get_canonical_block_by_number(number)
        return serialize_block(block, full, False)

    def block_by_hash(self, block_hash: bytes, full: bool) -> dict[str, Any] | None:
        try:
            block = self.chain.get_block_by_hash(block_hash)
        except (HeaderNotFound, KeyError):
            return None
        return serialize_block(block, full, False)

    def _locate(self, tx_hash: bytes):
        try:
            number, index = self.chain.chaindb.get_transaction_index(tx_hash)
        except (TransactionNotFound, KeyError):
            return None
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self._locate(tx_hash)
        if found is not None:
            return serialize_transaction(*found, False)
        pending = self.chain.get_block()
        for index, transaction in enumerate(pending.transactions):
            if transaction.hash == tx_hash:
                return serialize_transaction(pending, transaction, index, True)
        return None

    def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self._locate(tx_hash)
        if found is None:
            return None
        block, transaction, index = found
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(
            block, receipts, transaction, index, False, self.chain.get_vm()
        )

    def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: list[bytes],
        topics: list[list[bytes] | None],
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Logs in [from_block, to_block]; topics as in eth_getLogs (None = any); at most `limit`."""
        clauses = ["block_number BETWEEN ? AND ?"]
        args: list[Any] = [from_block, to_block]
        if addresses:
            clauses.append(f"address IN ({','.join('?' * len(addresses))})")
            args.extend(addresses)
        for position, wanted in enumerate(topics[:4]):
            if wanted:
                clauses.append(f"topic{position} IN ({','.join('?' * len(wanted))})")
                args.extend(wanted)
        rows = self.connection.execute(
            "SELECT block_number, tx_index, log_index, address, topic0, topic1, topic2, topic3,"
            " data, tx_hash, block_hash FROM logs WHERE " + " AND ".join(clauses)
            + " ORDER BY block_number, log_index" + (" LIMIT ?" if limit is not None else ""),
            [*args, limit] if limit is not None else args,
        ).fetchall()
        return [
            {
                "removed": False,
                "log_index": row[2],
                "transaction_index": row[1],
                "transaction_hash": row[9],
                "block_hash": row[10],
                "block_number": row[0],
                "address": row[3],
                "data": row[8],
                "topics": [topic for topic in row[4:8] if topic is not None],
            }
            for row in rows
        ]

    def balance(self, address: bytes, tag: str | int | None = "latest") -> int:
        return self.state_at(tag).get_balance(address)

    def nonce(self, address: bytes, tag: str | int | None = "latest") -> int:
        return self.state_at(tag).get_nonce(address)

    def code(self, address: bytes, tag: str | int | None = "latest") -> bytes:
        return self.state_at(tag).get_code(address)

    def storage(self, address: bytes, slot: int, tag: str | int | None = "latest") -> int:
        return self.state_at(tag).get_storage(address, slot)

    def next_base_fee(self) -> int:
        return self.chain.header.base_fee_per_gas

    # -- time --------------------------------------------------------------------------

    def _pending_is_empty(self) -> bool:
        return not self.chain.get_block().transactions

    def has_pending(self) -> bool:
        """Whether transactions wait in the pending block."""
        return not self._pending_is_empty()

    def _refresh_pending_timestamp(self) -> None:
        # The pending header was made when the previous block was mined; the next block
        # must carry the time it is mined at, so deadlines pass in real time. Once it holds
        # transactions its time is fixed (they executed at that time).
        if not self._pending_is_empty():
            return
        timestamp = max(int(time.time()), self.head().timestamp + 1)
        if self.chain.header.timestamp != timestamp:
            self.chain.header = self.chain.header.copy(timestamp=timestamp)

    def mine_if_due(self) -> bool:
        """Mine the pending transactions once the clock has reached their block's time."""
        if self._pending_is_empty() or self.chain.header.timestamp > time.time():
            return False
        self.mine()
        return True

    # -- executing ---------------------------------------------------------------------

    def _call_header(self, tag: str | int | None) -> BlockHeaderAPI:
        # Calls see the chain as a block mined now would; base fee 0 so that an account
        # without ETH can still call views (as geth does for eth_call).
        if tag in (None, "latest", "pending"):
            self._refresh_pending_timestamp()
            header = self.chain.header
        else:
            # a historical call executes on top of that block's state
            header = self.chain.create_header_from_parent(self.header_at(tag))
        return header.copy(base_fee_per_gas=0)

    def _spoof(self, request: CallRequest, gas: int, header: BlockHeaderAPI):
        vm = self.chain.get_vm(at_header=header)
        nonce = vm.state.get_nonce(request.sender)
        unsigned = vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
            chain_id=self.chain_id, nonce=nonce, max_priority_fee_per_gas=0,
            max_fee_per_gas=0, gas=gas, to=request.to, value=request.value,
            data=request.data, access_list=(),
        )
        return vm, SpoofTransaction(unsigned, from_=request.sender)

    def call(self, request: CallRequest, tag: str | int | None = "latest") -> bytes:
        header = self._call_header(tag)
        gas = request.gas or header.gas_limit
        vm, transaction = self._spoof(request, gas, header)
        state = vm.state
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(transaction)
        except ValidationError as exc:
            raise ChainError(node_message(str(exc))) from exc
        finally:
            state.revert(snapshot)
        if computation.is_error:
            raise revert_error(computation)
        return computation.output

    def estimate_gas(self, request: CallRequest) -> int:
        # Run once first so that a revert answers with its data, like geth and anvil do.
        self.call(request)
        header = self._call_header("latest")
        vm, transaction = self._spoof(request, request.gas or header.gas_limit, header)
        try:
            # py-evm's chain.estimate_gas would run in a child of `header` (a second later,
            # without the pending transactions); estimate in exactly the state calls see.
            return self.chain.gas_estimator(vm.state, transaction)
        except ValidationError as exc:
            raise ChainError(node_message(str(exc))) from exc

    def decode_raw_transaction(self, raw: bytes) -> SignedTransactionAPI:
        try:
            transaction = self.chain.get_vm().get_transaction_builder().decode(raw)
        except Exception as exc:  # rlp and py-evm raise many types for garbage bytes
            raise ChainError(f"invalid transaction: {exc}", code=-32602) from exc
        chain_id = getattr(transaction, "chain_id", None)
        if chain_id is None:
            raise ChainError(
                "only replay-protected (EIP-155) transactions allowed over RPC"
            )
        if chain_id != self.chain_id:
            raise ChainError(f"invalid chain id {chain_id} for signer (this chain is {self.chain_id})")
        return transaction

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Validate and execute a signed transaction into the pending block; returns its hash.

        The block is mined at once when the clock allows (one block per second at most,
        as block times must increase), else by `mine_if_due` within a second.
        """
        transaction = self.decode_raw_transaction(raw)
        if self._locate(transaction.hash) is not None or any(
            pending.hash == transaction.hash for pending in self.chain.get_block().transactions
        ):
            raise ChainError("already known")
        self._refresh_pending_timestamp()
        try:
            transaction.validate()
            # py-evm validates before it writes anything, so a refusal leaves no trace
            self.chain.apply_transaction(transaction)
        except ValidationError as exc:
            raise ChainError(node_message(str(exc))) from exc
        self.mine_if_due()
        return transaction.hash

    def mine(self) -> bytes:
        """Mine the pending block (empty if nothing is pending) at the current time."""
        self._refresh_pending_timestamp()
        transactions = self.chain.get_block().transactions
        block = self.chain.mine_block(
            mix_hash=os.urandom(32),
            blob_gas_used=sum(get_total_blob_gas(tx) for tx in transactions),
        )
        self._index_logs(block)
        self.commit()
        return block.hash

    def _index_logs(self, block) -> None:
        receipts = block.get_receipts(self.chain.chaindb)
        log_index = 0
        rows = []
        for tx_index, (transaction, receipt) in enumerate(
            zip(block.transactions, receipts, strict=True)
        ):
            for log in receipt.logs:
                topics = [topic.to_bytes(32, "big") for topic in log.topics]
                topics += [None] * (4 - len(topics))
                rows.append((
                    block.number, tx_index, log_index, log.address, *topics[:4],
                    log.data, transaction.hash, block.hash,
                ))
                log_index += 1
        self.connection.executemany(
            "INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
        )


def revert_error(computation) -> ChainError:
    """A JSON-RPC error for a failed execution, carrying the revert data as geth does."""
    output = bytes(computation.output or b"")
    error = computation.error
    if type(error).__name__ == "Revert":
        reason = ""
        if output[:4] == bytes.fromhex("08c379a0"):  # Error(string)
            from eth_abi import decode

            try:
                reason = ": " + decode(["string"], output[4:])[0]
            except Exception:  # a malformed reason string: keep the raw data
                reason = ""
        return ChainError("execution reverted" + reason, code=3, data="0x" + output.hex())
    return ChainError(f"execution failed: {error}", code=-32015)


def node_message(py_evm_message: str) -> str:
    """py-evm's validation messages in the wording clients expect from geth."""
    text = py_evm_message
    if "Invalid transaction nonce" in text:
        expected = text.split("Expected ")[-1].split(",")[0]
        got = text.rsplit(" ", 1)[-1]
        if expected.isdigit() and got.isdigit() and int(got) > int(expected):
            return f"nonce too high: next nonce {expected}, tx nonce {got}"
        return f"nonce too low: next nonce {expected}, tx nonce {got}"
    if "cannot afford" in text or "enough balance" in text:
        return "insufficient funds for gas * price + value"
    if "lower than block's base fee" in text:
        return "max fee per gas less than block base fee"
    if "Insufficient gas" in text or "intrinsic" in text.lower() or "gas cannot be negative" in text:
        return "intrinsic gas too low"
    return text
