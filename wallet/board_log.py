"""Every BountyBoard event of a board (not only the account's), cached in the store: what the
wallet checks a round report against (all of a round's RewardAssigned) and what a
practitioner's track record is counted from (bounties, rounds finalised or expired,
reveals, leftovers).

The scan is wallet.history's HistoryScanner (eth_getLogs in chunks, a cursor, rows in
`history_events`), run for the pseudo-account = the board's address under the kind
`boardlog:<board>`; nobody's own history reads those rows. Claims (`RewardClaimed`) are
left out: they say nothing about a practitioner and are the most numerous.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3

from common.artifacts import abi
from wallet.history import HistoryScanner, LogQuery, events

if TYPE_CHECKING:
    from wallet.store import Store

SKIPPED_EVENTS = ("RewardClaimed",)


def kind_of(board: str) -> str:
    return f"boardlog:{to_checksum_address(board)}"


def _topics() -> list[str]:
    return ["0x" + event_abi_to_log_topic(entry).hex() for entry in abi("BountyBoard")
            if entry.get("type") == "event" and entry["name"] not in SKIPPED_EVENTS]


def sync_board_log(w3: Web3, store: Store, network: str, board: str,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Read the board's new blocks; returns the last block read (the log holds every
    event up to it)."""
    board = to_checksum_address(board)
    scanner = HistoryScanner(w3, store, network)
    scanner.sync(board, kind_of(board), "BountyBoard", [LogQuery(board, [_topics()])], progress)
    return max(0, scanner.cursor(board, kind_of(board)) - 1)


def board_events(store: Store, network: str, board: str, names: Iterable[str] | None = None,
                 bounty_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Cached events of the board, oldest first, each with `args` (its decoded details)."""
    wanted = set(names) if names is not None else None
    ids = set(bounty_ids) if bounty_ids is not None else None
    found = []
    for row in events(store, network, to_checksum_address(board), kind_of(board)):
        if wanted is not None and row["event"] not in wanted:
            continue
        if ids is not None and row["bounty_id"] not in ids:
            continue
        row = dict(row)
        try:
            row["args"] = json.loads(row["details"] or "{}")
        except ValueError:
            row["args"] = {}
        found.append(row)
    return found


def round_payouts(store: Store, network: str, board: str, bounty_id: int,
                  round_index: int) -> dict[str, int]:
    """address (lower case) -> the amount RewardAssigned gave it in that round (summed over
    batches)."""
    paid: dict[str, int] = {}
    for row in board_events(store, network, board, ["RewardAssigned"], [bounty_id]):
        if row["round"] != round_index:
            continue
        who = str(row["args"].get("contributor", "")).lower()
        paid[who] = paid.get(who, 0) + int(row["amount"] or 0)
    return paid
