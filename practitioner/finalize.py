"""Finalising a round on chain from its evaluation record: payouts, next model, report hash."""

from __future__ import annotations

from typing import Any

from practitioner.chain import ROUND_OPEN
from practitioner.evaluate import check_round_index, read_round_record, round_record_path
from practitioner.session import Session
from practitioner.state import write_json
from wallet.errors import InvalidInput
from wallet.history import round_text


def check_finalizable(session: Session, bounty_id: int, round_index: int) -> dict[str, Any]:
    """The round's evaluation record when the round can be finalised now (read-only: the CLI
    asks it before unlocking the wallet)."""
    client = session.client
    bounty = client.bounty(bounty_id)
    check_round_index(bounty, round_index)
    named = f"Bounty {bounty_id} {round_text(round_index, bounty.rounds)}"
    info = client.round(bounty_id, round_index)
    if info.state != ROUND_OPEN:
        raise InvalidInput(f"{named} is already {info.state_text}.")
    if client.now() < info.deadline:
        raise InvalidInput(f"{named} has not closed yet ({info.deadline - client.now()} s left).")
    record = read_round_record(session, bounty_id, round_index, bounty.rounds)
    if sum(int(a) for a in record["amounts"]) > bounty.reward_per_round:
        raise InvalidInput("The evaluation pays more than the round's reward; re-run evaluate.")
    evaluated = record.get("submitters")
    if evaluated is not None:
        # a submission mined into a block timestamped before the deadline, after evaluate read
        # the list: a report without it would be a Mismatch for every owner (its lines must be
        # exactly the round's submitters)
        late = [a for a in client.submitters(bounty_id, round_index) if a.lower() not in {e.lower() for e in evaluated}]
        if late:
            raise InvalidInput(f"{len(late)} submission(s) reached {named} after it was evaluated "
                               f"({', '.join(late[:3])}); run evaluate again.")
    return record


def finalize_round(session: Session, bounty_id: int, round_index: int) -> str:
    """Send `finalize` (in the closing round after `assignCredits`, the leftover's shares);
    returns the transaction hash (recorded in round-<r>.json)."""
    record = check_finalizable(session, bounty_id, round_index)
    credits = record.get("credits") or {}
    if credits.get("contributors"):  # the closing round: the leftover's credits
        session.client.assign_credits(bounty_id, round_index, list(credits["contributors"]),
                                      [int(c) for c in credits["amounts"]])
    tx_hash = session.client.finalize(
        bounty_id, round_index, list(record["contributors"]), [int(a) for a in record["amounts"]],
        record["nextModelHash"], record["nextModelURI"], record["reportHash"], record["reportURI"],
    )
    record["finalizeTx"] = tx_hash
    write_json(round_record_path(session, bounty_id, round_index), record)
    return tx_hash
