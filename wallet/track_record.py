"""A practitioner's track record, from the chain: what an owner should know before
working for it. Counted from the board's events (wallet/board_log.py, cached in the store)
plus the specs of its bounties and this wallet's own verification results:

- bounties posted, and the escrow they put up;
- rounds finalised by the practitioner vs expired (it did not finalise in the grace period);
- the share of the escrow of its closed rounds that had submissions that reached
  contributors: what finalisation assigned, expired rounds' equal shares, and what is
  carried or left over for them (on this board's contract that is all of it by construction;
  a practitioner can only get back rounds nobody submitted to and rounds never opened);
- validation reveals made, missed (its bounty ended more than the grace period ago without
  one) or still due; bounties posted as not verifiable (never revealed, by choice);
- the mismatches this wallet saw in its reports (`quarry rewards --verify`).

What no contract can stop (a practitioner paying its own sybil addresses) is not visible
here as such; the numbers show its history, the verification its honesty on the rounds this
wallet took part in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from wallet.board_log import board_events, sync_board_log
from wallet.verify import MISMATCH, recorded_results

if TYPE_CHECKING:
    from wallet.bounties import BountyClient


@dataclass
class TrackRecord:
    practitioner: str
    bounties_posted: int = 0
    escrowed: int = 0  # token base units, summed over tokens (the GUI shows the bounty's token)
    rounds_finalised: int = 0
    rounds_expired: int = 0
    rounds_closed_with_submissions: int = 0
    escrow_of_those_rounds: int = 0
    reached_contributors: int = 0  # assigned, expiry shares, carry and leftover for them
    returned_unused: int = 0  # rounds nobody submitted to and rounds a cancel withdrew
    reveals_made: int = 0
    reveals_missed: int = 0
    reveals_due: int = 0  # ended recently; the practitioner may still reveal
    not_verifiable: int = 0
    mismatches_seen: int = 0  # rounds whose report this wallet found wrong
    mismatch_bounties: list[int] = field(default_factory=list)
    bounty_ids: list[int] = field(default_factory=list)

    @property
    def share_to_contributors(self) -> float | None:
        if self.escrow_of_those_rounds == 0:
            return None
        return self.reached_contributors / self.escrow_of_those_rounds

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("escrowed", "escrow_of_those_rounds", "reached_contributors", "returned_unused"):
            data[key] = str(data[key])  # token amounts: decimal strings, like the rest of the JSON
        data["share_to_contributors"] = self.share_to_contributors
        return data

    def facts(self) -> list[tuple[str, str, str]]:
        """(what, value, level) per fact; level "bad" (missed reveals, mismatches), "warn"
        (not verifiable) or "" — how the GUI colours it."""
        share = self.share_to_contributors
        reveals = f"{self.reveals_made} made, {self.reveals_missed} missed" + (
            f", {self.reveals_due} due" if self.reveals_due else "")
        mismatches = str(self.mismatches_seen) + (
            f" (bounties {', '.join(map(str, self.mismatch_bounties))})" if self.mismatch_bounties else "")
        return [
            ("bounties posted", str(self.bounties_posted), ""),
            ("rounds finalised", str(self.rounds_finalised), ""),
            ("rounds expired (not finalised in time)", str(self.rounds_expired),
             "warn" if self.rounds_expired else ""),
            ("escrow of closed rounds with submissions that reached contributors",
             "no such round yet" if share is None else f"{share:.1%}",
             "bad" if share is not None and share < 0.999 else ""),
            ("validation reveals", reveals, "bad" if self.reveals_missed else ""),
            ("posted as not verifiable", str(self.not_verifiable), "warn" if self.not_verifiable else ""),
            ("mismatches this wallet saw", mismatches, "bad" if self.mismatches_seen else ""),
        ]

    def lines(self) -> list[str]:
        """The record in words, one fact per line (the CLI's text)."""
        return [f"{what}: {value}" for what, value, _level in self.facts()]


def _carry(client: BountyClient, bounty_id: int) -> int:
    """What closed rounds of a bounty still running left for its contributors (getPot's
    carry; 0 on a board without it)."""
    function = getattr(client.board.functions, "getPot", None)
    if function is None:
        return 0
    _pot_now, _assigned, carry, _leftover, _total_paid, ended = client._call(function(bounty_id))
    return 0 if ended else int(carry)  # once ended, BountyEnded's leftover says it


def track_record(client: BountyClient, practitioner: str, *, refresh: bool = True,
                 spec_cache: dict[str, Any] | None = None, now: int | None = None) -> TrackRecord:
    """The record of `practitioner` on the client's board (syncs the board's events first
    unless `refresh` is False). `spec_cache` (spec hash -> fetch_spec's answer) saves
    fetching a spec twice."""
    store = client.store
    if store is None:
        raise ValueError("a track record needs the local store (the board's events are cached there)")
    practitioner = to_checksum_address(practitioner)
    if refresh:
        sync_board_log(client.w3, store, client.network, client.board_address)
    network, board = client.network, client.board_address
    record = TrackRecord(practitioner)
    created = [row for row in board_events(store, network, board, ["BountyCreated"])
               if str(row["args"].get("owner", "")).lower() == practitioner.lower()]
    ids = [int(row["bounty_id"]) for row in created]
    record.bounty_ids = ids
    record.bounties_posted = len(ids)
    record.escrowed = sum(int(row["amount"] or 0) for row in created)
    reward_of = {int(row["bounty_id"]): int(row["args"].get("rewardPerRound", 0)) for row in created}
    if not ids:
        return record
    events = board_events(store, network, board, None, ids)
    submitted: dict[tuple[int, int], int] = {}
    for row in events:
        if row["event"] == "UpdateSubmitted":
            key = (int(row["bounty_id"]), int(row["round"]))
            submitted[key] = submitted.get(key, 0) + 1
    ended_at: dict[int, int] = {}
    revealed: set[int] = set()
    for row in events:
        bounty_id, name = int(row["bounty_id"]), row["event"]
        key = (bounty_id, int(row["round"])) if row["round"] is not None else None
        if name in ("RoundFinalized", "RoundExpired") and key is not None:
            count = submitted.get(key, 0)
            if name == "RoundFinalized":
                record.rounds_finalised += 1
                paid = int(row["args"].get("totalPaid", 0))
            else:
                record.rounds_expired += 1
                paid = int(row["args"].get("perSubmitter", 0)) * count
            if count:
                record.rounds_closed_with_submissions += 1
                record.escrow_of_those_rounds += reward_of[bounty_id]
                record.reached_contributors += paid
            else:
                record.returned_unused += reward_of[bounty_id]
        elif name == "BountyCancelled":
            record.returned_unused += int(row["args"].get("refunded", 0))
        elif name == "BountyEnded":
            ended_at[bounty_id] = int(row["timestamp"] or 0)
            record.reached_contributors += int(row["args"].get("leftover", 0))
        elif name == "ValidationRevealed":
            revealed.add(bounty_id)
    # what closed rounds left unassigned stays for the contributors: the carry of a bounty
    # still running (its leftover once it ended, counted above); one call per running bounty
    for bounty_id in ids:
        if bounty_id not in ended_at:
            record.reached_contributors += _carry(client, bounty_id)
    now = client.now() if now is None else now
    grace = client.grace_period()
    cache = spec_cache if spec_cache is not None else {}
    specs = {int(row["bounty_id"]): SimpleNamespace(spec_hash=str(row["args"].get("specHash", "")),
                                                    spec_uri=str(row["args"].get("specURI", "")))
             for row in created}  # immutable, so from the event: no call per bounty
    for bounty_id in ids:
        bounty = specs[bounty_id]
        if bounty.spec_hash not in cache:
            cache[bounty.spec_hash] = client.fetch_spec(bounty)  # type: ignore[arg-type]
        spec, _problem = cache[bounty.spec_hash]
        if spec is not None and spec.get("verifiable") is False:
            record.not_verifiable += 1
            continue
        if bounty_id in revealed:
            record.reveals_made += 1
        elif bounty_id in ended_at:
            if now >= ended_at[bounty_id] + grace:
                record.reveals_missed += 1
            else:
                record.reveals_due += 1
    seen = [row for row in recorded_results(store, network, board, ids) if row["status"] == MISMATCH]
    record.mismatches_seen = len({(row["bounty_id"], row["round"]) for row in seen})
    record.mismatch_bounties = sorted({int(row["bounty_id"]) for row in seen})
    return record
