"""An account's history from chain logs, cached in the store so a long history loads fast.

What is scanned, per (network, account, kind):
- kind "token:<address>": ERC-20 Transfer events from or to the account;
- kind "board:<address>": BountyBoard events concerning the account (its submissions, the
  rewards assigned to it, its claims, the bounties it created).
- kind "eth": plain ETH transfers from or to the account. They leave no log, so on nodes
  where reading every block is cheap (the embedded network, anvil, hardhat) blocks are read
  in JSON-RPC batches; elsewhere incoming ETH is not listed and `AccountHistory` says so.
Logs are read with eth_getLogs in chunks of at most CHUNK_BLOCKS blocks (providers cap the
range), stored in `history_events`, and a cursor remembers the next block to read, so a
second load asks the node only about new blocks. Scans start at the network's deploy block
(`networks.deploy_block`): nothing of the board is older. Our own sent transactions (the
store's `sent_transactions`) are merged in, and pending ones are re-checked.

Limits: ETH moved by contracts (internal transfers) is not listed; reorgs deeper than the
cursor are not undone (fine for the devnet and for confirmed blocks).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import TransactionNotFound

from common.artifacts import abi
from wallet.tx import explain, sent_transactions, update_status

if TYPE_CHECKING:
    from wallet.store import Store

CHUNK_BLOCKS = 2000
BATCH_SIZE = 100  # JSON-RPC requests per batch (the devnet accepts 256)
ETH_KIND = "eth"
ETH_TRANSFER = "EthTransfer"  # the `event` of a plain ETH transfer row
# nodes on which reading every block is cheap (local): their blocks are scanned for ETH
BLOCK_SCANNING_CLIENTS = ("quarry devnet", "anvil", "hardhat")
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

    def start_block(self) -> int:
        """The network's deploy block (0 when unknown): nothing to scan before it."""
        rows = list(self.store.db.query(
            "SELECT deploy_block FROM networks WHERE name = ?", [self.network]))
        return int(rows[0]["deploy_block"] or 0) if rows else 0

    def cursor(self, account: str, kind: str) -> int:
        rows = list(self.store.db.query(
            "SELECT next_block FROM history_cursors WHERE network = ? AND account = ? AND kind = ?",
            [self.network, account, kind],
        ))
        return int(rows[0]["next_block"]) if rows else self.start_block()

    def _scan(self, account: str, kind: str, read_chunk: Callable[[int, int], list[dict[str, Any]]],
              progress: Callable[[int, int], None] | None) -> int:
        """Rows of new blocks, chunk by chunk; each chunk's rows and cursor are stored together."""
        start = self.cursor(account, kind)
        try:
            head = int(self.w3.eth.block_number)
        except Exception as exc:
            raise explain(exc, self.w3) from exc
        added = 0
        for first in range(start, head + 1, self.chunk_blocks):
            last = min(first + self.chunk_blocks - 1, head)
            rows = read_chunk(first, last)
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

    def sync(self, account: str, kind: str, contract_name: str, queries: list[LogQuery],
             progress: Callable[[int, int], None] | None = None) -> int:
        """Read new blocks' logs for (account, kind); returns how many events were added."""
        account = to_checksum_address(account)
        events = _events(contract_name)

        def read_chunk(first: int, last: int) -> list[dict[str, Any]]:
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
            return [row for row in rows if row is not None]

        return self._scan(account, kind, read_chunk, progress)

    def sync_eth(self, account: str, progress: Callable[[int, int], None] | None = None) -> int:
        """Read new blocks' plain ETH transfers from or to the account (they leave no log):
        whole blocks in JSON-RPC batches, then the receipts of the matches (a reverted
        transaction moved nothing). Only for nodes where that is cheap (`lists_incoming_eth`)."""
        account = to_checksum_address(account)

        def read_chunk(first: int, last: int) -> list[dict[str, Any]]:
            matches = []
            for block in self._batched(lambda n: self.w3.eth.get_block(n, True), list(range(first, last + 1))):
                self._timestamps[int(block["number"])] = int(block["timestamp"])
                matches += [tx for tx in block["transactions"]
                            if int(tx["value"]) > 0 and account in (tx["from"], tx.get("to"))]
            receipts = self._batched(self.w3.eth.get_transaction_receipt, [tx["hash"] for tx in matches])
            return [self._eth_row(account, tx) for tx, receipt in zip(matches, receipts, strict=True)
                    if int(receipt["status"]) == 1]

        return self._scan(account, ETH_KIND, read_chunk, progress)

    def _batched(self, call: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """`call(item)` for every item, BATCH_SIZE requests per JSON-RPC batch (one by one
        when the node refuses batches)."""
        results: list[Any] = []
        for start in range(0, len(items), BATCH_SIZE):
            group = items[start:start + BATCH_SIZE]
            try:
                with self.w3.batch_requests() as batch:
                    for item in group:
                        batch.add(call(item))
                    answers = batch.execute()
                if len(answers) != len(group) or not all(hasattr(a, "get") for a in answers):
                    raise ValueError("incomplete batch answer")
            except Exception:  # no batch support, or a partial answer: ask one by one
                try:
                    answers = [call(item) for item in group]
                except Exception as exc:
                    raise explain(exc, self.w3) from exc
            results.extend(answers)
        return results

    def _fetch_timestamps(self, numbers: set[int]) -> None:
        """Block times of many blocks in JSON-RPC batches (one request per block otherwise)."""
        missing = sorted(n for n in numbers if n not in self._timestamps)
        for number, block in zip(missing, self._batched(self.w3.eth.get_block, missing), strict=True):
            self._timestamps[number] = int(block["timestamp"])

    def _eth_row(self, account: str, tx: Any) -> dict[str, Any]:
        incoming = tx.get("to") == account and tx["from"] != account
        return {
            "network": self.network, "account": account, "kind": ETH_KIND,
            "block_number": int(tx["blockNumber"]), "log_index": int(tx["transactionIndex"]),
            "tx_hash": "0x" + bytes(tx["hash"]).hex(), "event": ETH_TRANSFER, "contract": None,
            "direction": "in" if incoming else "out",
            "counterparty": tx["from"] if incoming else tx.get("to"), "amount": str(int(tx["value"])),
            "bounty_id": None, "round": None, "details": "{}",
            "timestamp": self._timestamps[int(tx["blockNumber"])],
        }

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
        if name == "Transfer" and args["value"] == 0:
            # anyone may transferFrom(you, a look-alike address, 0): "address poisoning", so
            # that you later copy the look-alike from your history. Zero transfers move nothing.
            return None
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
                     progress: Callable[[int, int], None] | None = None, eth: bool = False) -> int:
        added = 0
        if token:
            added += self.sync(account, f"token:{token}", "QuarryToken", self.token_queries(token, account), progress)
        if board:
            added += self.sync(account, f"board:{board}", "BountyBoard", self.board_queries(board, account), progress)
        if eth:
            added += self.sync_eth(account, progress)
        return added


def lists_incoming_eth(w3: Web3) -> bool:
    """Whether the node is one whose blocks are scanned for plain ETH transfers (local nodes)."""
    try:
        version = str(w3.client_version).strip().lower()
    except Exception:  # a node without web3_clientVersion is not one of ours
        return False
    return version.startswith(BLOCK_SCANNING_CLIENTS)


def refresh_pending(w3: Web3, store: Store, network: str, account: str) -> None:
    """Settle the store's pending sent transactions: mined ones get their status (a replaced
    one too, when it was mined instead of its replacement); a pending one whose nonce another
    transaction used (a replacement that lost the race) becomes 'dropped'."""
    pending = [row for row in sent_transactions(store, network, account) if row["status"] in ("pending", "replaced")]
    if not pending:
        return
    try:
        used_nonces = int(w3.eth.get_transaction_count(to_checksum_address(account), "latest"))
        for row in pending:
            try:
                receipt = w3.eth.get_transaction_receipt(row["hash"])
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                update_status(store, row["hash"], receipt)
            elif row["status"] == "pending" and int(row["nonce"]) < used_nonces:
                store.db.execute("UPDATE sent_transactions SET status = 'dropped' WHERE hash = ?", [row["hash"]])
    except Exception as exc:
        raise explain(exc, w3) from exc


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


def round_text(index: int, rounds: int | None) -> str:
    """A round as the CLI writes it: "round 0 (1 of 6)". The on-chain index is 0-based and is
    what CLI arguments and JSON use; the count in brackets is for people."""
    return f"round {index} ({index + 1} of {rounds})" if rounds else f"round {index}"


def round_title(index: int, rounds: int) -> str:
    """A round as the GUI writes it: "Round 1 of 6"."""
    return f"Round {index + 1} of {rounds}"


def _bounty_field_lookup(store: Store, w3: Web3 | None, network: str, board: str | None,
                         field: str, index: int, convert: Callable[[Any], Any]) -> Callable[[int], Any]:
    """bounty id -> one field of it (`field` in the bounty cache, `index` in getBounty's
    tuple), converted; from the cache, else asked from the board; None when neither answers."""
    found: dict[int, Any] = {}

    def lookup(bounty_id: int) -> Any:
        if bounty_id in found:
            return found[bounty_id]
        value = None
        if board:
            for row in store.db.query(
                    "SELECT data FROM bounty_cache WHERE network = ? AND board = ? AND bounty_id = ?",
                    [network, board, bounty_id]):
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    value = convert(json.loads(row["data"])[field])
            if value is None and w3 is not None:
                with contextlib.suppress(Exception):  # offline or odd node: the text goes without it
                    contract = w3.eth.contract(address=to_checksum_address(board), abi=abi("BountyBoard"))
                    value = convert(contract.functions.getBounty(bounty_id).call()[index])
        found[bounty_id] = value
        return value

    return lookup


def _rounds_lookup(store: Store, w3: Web3 | None, network: str,
                   board: str | None) -> Callable[[int], int | None]:
    """bounty id -> its number of rounds."""
    return _bounty_field_lookup(store, w3, network, board, "rounds", 3, int)


Unit = tuple[str, int]  # (the token as people read it, its decimals)
UnitOf = Callable[[dict[str, Any]], "Unit | None"]


def _token_units(store: Store, w3: Web3 | None, network: str, board: str | None,
                 token: str | None) -> UnitOf:
    """event -> (symbol text, decimals) of the token its amount is in, read from the token's
    contract (wallet.token.token_label: an unlisted token is marked with its address): the
    network's token for transfers, the bounty's token for bounty events, the claimed token
    for claims. None when it cannot be known (offline): the caller's default is used."""
    from wallet.token import token_label

    bounty_token = _bounty_field_lookup(store, w3, network, board, "token", 1, str)
    units: dict[str, Unit | None] = {}

    def unit_of(event: dict[str, Any]) -> Unit | None:
        name = event["event"]
        address = None
        if name == "Transfer":
            address = token
        elif name in ("RewardAssigned", "BountyCreated") and event["bounty_id"] is not None:
            address = bounty_token(int(event["bounty_id"]))
        elif name == "RewardClaimed":
            with contextlib.suppress(ValueError, TypeError, KeyError):
                address = str(json.loads(event["details"])["token"])
        if not address or w3 is None:
            return None
        if address not in units:
            try:
                label = token_label(w3, address, [token or ""])
                units[address] = (label.text, label.decimals)
            except Exception:  # offline: the default unit
                units[address] = None
        return units[address]

    return unit_of


def _describe(event: dict[str, Any], symbol: str,
              rounds_of: Callable[[int], int | None] = lambda _bounty_id: None,
              unit_of: UnitOf = lambda _event: None) -> tuple[str, str, int]:
    """(description, amount text, signed amount in base units for sorting)."""
    name = event["event"]
    amount = int(event["amount"]) if event["amount"] not in (None, "") else 0
    token_symbol, decimals = unit_of(event) or (symbol, 18)
    text = _format_units(amount, decimals)
    incoming = event["direction"] == "in"
    if name in ("Transfer", ETH_TRANSFER):
        if name == ETH_TRANSFER:
            token_symbol, text = "ETH", _format_units(amount)
        unit = token_symbol
        description = (f"Received {unit} from {event['counterparty']}" if incoming
                       else f"Sent {unit} to {event['counterparty'] or 'a new contract'}")
        return description, f"{'+' if incoming else '-'}{text} {unit}", amount if incoming else -amount
    bounty = f"bounty {event['bounty_id']}"
    if name in ("UpdateSubmitted", "RewardAssigned"):
        which = round_text(int(event["round"]), rounds_of(int(event["bounty_id"])))
        if name == "UpdateSubmitted":
            return f"Submitted an update to {bounty}, {which}", "", 0
        return f"Reward assigned: {bounty}, {which}", f"+{text} {token_symbol}", amount
    if name == "RewardClaimed":
        return "Claimed rewards", f"{text} {token_symbol}", 0
    if name == "BountyCreated":
        return f"Created {bounty}", f"-{text} {token_symbol}", -amount
    return name, text if event["amount"] not in (None, "") else "", 0


@dataclass(frozen=True)
class AccountHistory:
    rows: list[dict[str, Any]]  # newest first; see load_history
    incoming_eth_listed: bool  # False: this node's blocks are not scanned, ETH received is missing

    @property
    def note(self) -> str:
        """What the history view should say under the list ('' when nothing is missing)."""
        if self.incoming_eth_listed:
            return ""
        return ("ETH received from other accounts is not listed on this network "
                "(it leaves no log to find it by); the balance includes it.")


def load_account_history(store: Store, w3: Web3 | None, network: str, account: str,
                         token: str | None, board: str | None, symbol: str = "QDT",
                         refresh: bool = True,
                         progress: Callable[[int, int], None] | None = None) -> AccountHistory:
    """The account's history rows and whether ETH received is among them.

    With `refresh` and a node: new blocks are scanned first (logs; whole blocks for ETH on
    local nodes) and pending sent transactions are settled."""
    account = to_checksum_address(account)
    scanner = HistoryScanner(w3, store, network)
    if refresh and w3 is not None:
        eth = lists_incoming_eth(w3)
        scanner.sync_account(account, token, board, progress, eth=eth)
        refresh_pending(w3, store, network, account)
    else:  # offline: ETH is listed if its blocks were ever scanned for this account
        eth = bool(list(store.db.query(
            "SELECT 1 FROM history_cursors WHERE network = ? AND account = ? AND kind = ?",
            [network, account, ETH_KIND])))
    rows: list[dict[str, Any]] = []
    logged_hashes = set()
    rounds_of = _rounds_lookup(store, w3 if refresh else None, network, board)
    unit_of = _token_units(store, w3, network, board, token)
    for event in events(store, network, account):
        description, amount_text, amount_sort = _describe(event, symbol, rounds_of, unit_of)
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
        moved = sent["status"] in ("pending", "success")  # failed, replaced, dropped: nothing moved
        rows.append({
            "timestamp": sent["created_at"], "description": sent["description"] or sent["kind"],
            "amount_text": f"-{_format_units(value)} ETH" if value and moved else "",
            "amount_sort": -value if moved else 0, "status": sent["status"], "hash": sent["hash"],
            "kind": sent["kind"], "block_number": sent["block_number"],
            "bounty_id": None, "round": None,
        })
    rows.sort(key=lambda r: (r["block_number"] is not None, r["block_number"] or 0, r["timestamp"] or 0),
              reverse=True)
    # pending (no block yet) first, then newest blocks
    rows.sort(key=lambda r: r["block_number"] is not None)
    return AccountHistory(rows, eth)


def load_history(store: Store, w3: Web3 | None, network: str, account: str, token: str | None,
                 board: str | None, symbol: str = "QDT", refresh: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """History rows (newest first) with the keys the GUI shows: timestamp, description,
    amount_text, amount_sort (signed base units, an int), status, hash, kind, block_number.
    `load_account_history` also says whether ETH received is listed."""
    return load_account_history(store, w3, network, account, token, board, symbol, refresh, progress).rows
