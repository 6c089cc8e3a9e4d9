"""An account's history from chain logs, cached in the store so a long history loads fast.

What is scanned, per (network, account, kind):
- kind "token:<address>": ERC-20 Transfer events from or to the account;
- kind "board:<address>": BountyBoard events concerning the account (its submissions, the
  rewards assigned to it, its claims, the bounties it created).
Logs are read with eth_getLogs in chunks of at most CHUNK_BLOCKS blocks (providers cap the
range), stored in `history_events`, and a cursor remembers the next block to read, so a
second load asks the node only about new blocks. Our own sent transactions (the store's
`sent_transactions`, including plain ETH sends, which leave no log) are merged in.

Limits: ETH received from others leaves no log and is not listed (its balance is right);
reorgs deeper than the cursor are not undone (fine for the devnet and for confirmed blocks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data

from wallet.contracts import abi
from wallet.tx import explain, sent_transactions

if TYPE_CHECKING:
    from wallet.store import Store

CHUNK_BLOCKS = 2000
BOARD_EVENTS_FOR_CONTRIBUTOR = ("UpdateSubmitted", "RewardAssigned")  # contributor = topic 3


def _events(contract: str) -> dict[bytes, dict[str, Any]]:
    return {
        event_abi_to_log_topic(entry): entry
        for entry in abi(contract) if entry.get("type") == "event"
    }


def _topic_of(contract: str, name: str) -> str:
    for topic, entry in _events(contract).items():
        if entry["name"] == name:
            return "0x" + topic.hex()
    raise KeyError(name)


def _address_topic(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


@dataclass(frozen=True)
class LogQuery:
    address: str
    topics: list[Any]


class HistoryScanner:
    """Reads logs for one account into the store, chunk by chunk, from its cursor."""

    def __init__(self, w3: Web3, store: Store, network: str, chunk_blocks: int = CHUNK_BLOCKS) -> None:
        if not 1 <= chunk_blocks <= CHUNK_BLOCKS:
            raise ValueError("chunk_blocks must be within 1..2000")
        self.w3 = w3
        self.store = store
        self.network = network
        self.chunk_blocks = chunk_blocks
        self._timestamps: dict[int, int] = {}

    # -- what to ask for --------------------------------------------------------------------

    @staticmethod
    def token_queries(token: str, account: str) -> list[LogQuery]:
        transfer = _topic_of("QuarryToken", "Transfer")
        me = _address_topic(account)
        return [LogQuery(token, [transfer, me]), LogQuery(token, [transfer, None, me])]

    @staticmethod
    def board_queries(board: str, account: str) -> list[LogQuery]:
        me = _address_topic(account)
        for_contributor = [_topic_of("BountyBoard", name) for name in BOARD_EVENTS_FOR_CONTRIBUTOR]
        return [
            LogQuery(board, [for_contributor, None, None, me]),
            LogQuery(board, [_topic_of("BountyBoard", "RewardClaimed"), me]),
            LogQuery(board, [_topic_of("BountyBoard", "BountyCreated"), None, me]),
        ]

    # -- scanning ---------------------------------------------------------------------------

    def cursor(self, account: str, kind: str) -> int:
        rows = list(self.store.db.query(
            "SELECT next_block FROM history_cursors WHERE network = ? AND account = ? AND kind = ?",
            [self.network, account, kind],
        ))
        return int(rows[0]["next_block"]) if rows else 0

    def sync(self, account: str, kind: str, contract_name: str, queries: list[LogQuery],
             progress: Callable[[int, int], None] | None = None) -> int:
        """Read new blocks' logs for (account, kind); returns how many events were added."""
        account = to_checksum_address(account)
        start = self.cursor(account, kind)
        try:
            head = int(self.w3.eth.block_number)
        except Exception as exc:
            raise explain(exc, self.w3) from exc
        added = 0
        events = _events(contract_name)
        for first in range(start, head + 1, self.chunk_blocks):
            last = min(first + self.chunk_blocks - 1, head)
            logs = []
            for query in queries:
                try:
                    logs.extend(self.w3.eth.get_logs({
                        "address": query.address, "topics": query.topics,
                        "fromBlock": first, "toBlock": last,
                    }))
                except Exception as exc:
                    raise explain(exc, self.w3) from exc
            self._fetch_timestamps({int(entry["blockNumber"]) for entry in logs})
            rows = [self._row(account, kind, events, entry) for entry in logs]
            rows = [row for row in rows if row is not None]
            with self.store.transaction() as db:
                if rows:
                    db["history_events"].upsert_all(
                        rows, pk=("network", "account", "kind", "block_number", "log_index"))
                db["history_cursors"].upsert(
                    {"network": self.network, "account": account, "kind": kind, "next_block": last + 1},
                    pk=("network", "account", "kind"))
            added += len(rows)
            if progress is not None:
                progress(last - start + 1, head - start + 1)
        return added

    def _fetch_timestamps(self, numbers: set[int], batch_size: int = 100) -> None:
        """Block times of many blocks in JSON-RPC batches (one request per block otherwise)."""
        missing = sorted(n for n in numbers if n not in self._timestamps)
        for start in range(0, len(missing), batch_size):
            group = missing[start:start + batch_size]
            try:
                with self.w3.batch_requests() as batch:
                    for number in group:
                        batch.add(self.w3.eth.get_block(number))
                    blocks = batch.execute()
            except Exception:  # a node without batch support: _timestamp asks one by one
                return
            for number, block in zip(group, blocks, strict=False):
                if isinstance(block, dict) or hasattr(block, "get"):
                    self._timestamps[number] = int(block["timestamp"])

    def _timestamp(self, block_number: int) -> int:
        if block_number not in self._timestamps:
            self._timestamps[block_number] = int(self.w3.eth.get_block(block_number)["timestamp"])
        return self._timestamps[block_number]

    def _row(self, account: str, kind: str, events: dict[bytes, dict[str, Any]],
             entry: Any) -> dict[str, Any] | None:
        topics = entry["topics"]
        event_abi = events.get(bytes(topics[0])) if topics else None
        if event_abi is None:
            return None
        decoded = get_event_data(self.w3.codec, event_abi, entry)
        args = dict(decoded["args"])
        name = event_abi["name"]
        row: dict[str, Any] = {
            "network": self.network, "account": account, "kind": kind,
            "block_number": int(entry["blockNumber"]), "log_index": int(entry["logIndex"]),
            "tx_hash": "0x" + bytes(entry["transactionHash"]).hex(), "event": name,
            "contract": to_checksum_address(entry["address"]), "direction": None,
            "counterparty": None, "amount": None, "bounty_id": args.get("bountyId"),
            "round": args.get("round"), "timestamp": self._timestamp(int(entry["blockNumber"])),
        }
        if name == "Transfer":
            incoming = args["to"].lower() == account.lower()
            row["direction"] = "in" if incoming else "out"
            row["counterparty"] = args["from"] if incoming else args["to"]
            row["amount"] = str(args["value"])
        elif name in ("RewardAssigned", "RewardClaimed"):
            row["direction"] = "in"
            row["amount"] = str(args["amount"])
        elif name == "BountyCreated":
            row["amount"] = str(args["rewardPerRound"] * args["rounds"])
        details = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in args.items()
                   if k not in ("bountyId", "round", "amount", "value", "from", "to")}
        row["details"] = json.dumps(details, default=str)
        return row

    def sync_account(self, account: str, token: str | None, board: str | None,
                     progress: Callable[[int, int], None] | None = None) -> int:
        added = 0
        if token:
            added += self.sync(account, f"token:{token}", "QuarryToken", self.token_queries(token, account), progress)
        if board:
            added += self.sync(account, f"board:{board}", "BountyBoard", self.board_queries(board, account), progress)
        return added


def events(store: Store, network: str, account: str, kind_prefix: str = "") -> list[dict[str, Any]]:
    """Cached events of an account, oldest first."""
    return list(store.db.query(
        "SELECT * FROM history_events WHERE network = ? AND account = ? AND kind LIKE ? "
        "ORDER BY block_number, log_index",
        [network, to_checksum_address(account), kind_prefix + "%"],
    ))


def _format_units(units: int, decimals: int = 18) -> str:
    from wallet.token import format_amount

    return format_amount(units, decimals, 6)


def _describe(event: dict[str, Any], symbol: str) -> tuple[str, str, float]:
    name = event["event"]
    amount = int(event["amount"]) if event["amount"] not in (None, "") else None
    text = _format_units(amount) if amount is not None else ""
    if name == "Transfer":
        sign = "+" if event["direction"] == "in" else "-"
        where = "from" if event["direction"] == "in" else "to"
        return (f"{'Received' if sign == '+' else 'Sent'} {symbol} {where} {event['counterparty']}",
                f"{sign}{text} {symbol}", (amount or 0) * (1 if sign == "+" else -1) / 1e18)
    bounty = f"bounty {event['bounty_id']}"
    if name == "UpdateSubmitted":
        return f"Submitted an update to {bounty}, round {event['round']}", "", 0.0
    if name == "RewardAssigned":
        return f"Reward assigned: {bounty}, round {event['round']}", f"+{text} {symbol}", (amount or 0) / 1e18
    if name == "RewardClaimed":
        return "Claimed rewards", f"{text} {symbol}", 0.0
    if name == "BountyCreated":
        return f"Created {bounty}", f"-{text} {symbol}", -(amount or 0) / 1e18
    return name, text, 0.0


def load_history(store: Store, w3: Web3 | None, network: str, account: str, token: str | None,
                 board: str | None, symbol: str = "QDT", refresh: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """History rows (newest first) with the keys the GUI shows: timestamp, description,
    amount_text, amount_sort, status, hash, kind, block_number."""
    account = to_checksum_address(account)
    if refresh and w3 is not None:
        HistoryScanner(w3, store, network).sync_account(account, token, board, progress)
    rows: list[dict[str, Any]] = []
    logged_hashes = set()
    for event in events(store, network, account):
        description, amount_text, amount_sort = _describe(event, symbol)
        logged_hashes.add(event["tx_hash"])
        rows.append({
            "timestamp": event["timestamp"], "description": description, "amount_text": amount_text,
            "amount_sort": amount_sort, "status": "confirmed", "hash": event["tx_hash"],
            "kind": event["event"], "block_number": event["block_number"],
            "bounty_id": event["bounty_id"], "round": event["round"],
        })
    for sent in sent_transactions(store, network, account):
        if sent["hash"] in logged_hashes and sent["status"] == "success":
            continue  # already listed through its events
        value = int(sent["value"] or 0)
        rows.append({
            "timestamp": sent["created_at"], "description": sent["description"] or sent["kind"],
            "amount_text": f"-{_format_units(value)} ETH" if value else "",
            "amount_sort": -value / 1e18, "status": sent["status"], "hash": sent["hash"],
            "kind": sent["kind"], "block_number": sent["block_number"],
            "bounty_id": None, "round": None,
        })
    rows.sort(key=lambda r: (r["block_number"] is not None, r["block_number"] or 0, r["timestamp"] or 0),
              reverse=True)
    # pending (no block yet) first, then newest blocks
    rows.sort(key=lambda r: r["block_number"] is not None)
    return rows
