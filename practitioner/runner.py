"""`run`: evaluate and finalise every round of this practitioner's bounties as it closes, and
reveal each bounty's validation set once it ended.

State lives on chain and in the home directory, so the loop can stop and restart at any
time: a round evaluated but not finalised is finalised on the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phe import paillier

from practitioner.chain import ROUND_OPEN
from practitioner.evaluate import awaited_uploads, evaluate_round, load_spec, round_record_path
from practitioner.finalize import finalize_round
from practitioner.reveal import reveal_due
from practitioner.session import Session
from practitioner.state import read_json
from trainer.errors import TrainerError
from wallet.errors import QuarryError
from wallet.history import round_text

if TYPE_CHECKING:
    from practitioner.cluster import Cluster

log = logging.getLogger(__name__)

# Commit first, upload after (docs/PROTOCOL.md): a commit that lands in a round's last second
# is uploaded just after the deadline, and an upload that failed is retried from the owner's
# outbox. A closed round is evaluated once every committed blob sent here (to this inbox or a
# file:// path) has arrived, or this long after its deadline (at most a quarter of the
# contract's grace period, which must still leave time to evaluate and finalise), whichever
# comes first.
UPLOAD_WINDOW_S = 300


def upload_window(grace_period: int) -> int:
    """Seconds after a round's deadline that its evaluation waits for missing uploads."""
    return min(UPLOAD_WINDOW_S, grace_period // 4)


def uploads_to_wait_for(session: Session, bounty_id: int, round_index: int, deadline: int) -> tuple[int, int]:
    """(committed uploads still missing, until when they are waited for): 0 once the upload
    window after `deadline` has passed."""
    until = deadline + upload_window(session.client.grace_period())
    if session.client.now() >= until:
        return 0, until
    return awaited_uploads(session, load_spec(session, bounty_id), bounty_id, round_index), until


@dataclass(frozen=True)
class RoundDone:
    bounty_id: int
    round_index: int  # the on-chain index, 0-based
    tx_hash: str
    rounds: int | None = None  # the bounty's number of rounds (for round_text)
    outcome: str = "finalized"  # or "expired", or "revealed" (the bounty's validation set)


def process_due_rounds(
    session: Session, private_key: paillier.PaillierPrivateKey, cluster: Cluster | None = None
) -> list[RoundDone]:
    """One pass: every closed, unfinalised round of our bounties gets evaluated (on
    `cluster` when given, `practitioner.cluster`) and finalised."""
    done: list[RoundDone] = []
    client = session.client
    for bounty_id in session.home.known_bounties(session.chain_id, session.board_address):
        try:
            bounty = client.bounty(bounty_id)
            # a cancelled bounty's current round still closes (and pays its submitters)
            if bounty.status == "completed" or bounty.round_state != "open":
                continue
            r = bounty.current_round
            info = client.round(bounty_id, r)
            now = client.now()
            if info.state != ROUND_OPEN or now < info.deadline:
                continue
            if now >= info.deadline + client.grace_period():
                # too late to finalise (e.g. the devnet was stopped): the contract's fallback
                # splits the round equally among its submitters; the bounty moves on
                tx_hash = client.expire_round(bounty_id, r)
                log.warning("bounty %d %s expired (grace period over)", bounty_id,
                            round_text(r, bounty.rounds))
                done.append(RoundDone(bounty_id, r, tx_hash, bounty.rounds, "expired"))
                continue
            record_path = round_record_path(session, bounty_id, r)
            if not record_path.is_file() or read_json(record_path).get("finalizeTx"):
                awaited, _until = uploads_to_wait_for(session, bounty_id, r, info.deadline)
                if awaited:
                    log.info("bounty %d %s: waiting for %d committed update(s) to be uploaded",
                             bounty_id, round_text(r, bounty.rounds), awaited)
                    continue
                evaluate_round(session, bounty_id, r, private_key, cluster=cluster)
            tx_hash = finalize_round(session, bounty_id, r)
            log.info("bounty %d %s finalised in %s", bounty_id, round_text(r, bounty.rounds), tx_hash)
            done.append(RoundDone(bounty_id, r, tx_hash, bounty.rounds))
        except (QuarryError, TrainerError) as exc:
            # one bounty's trouble (e.g. grace period over) must not stop the others
            log.warning("bounty %d: %s", bounty_id, exc)
    try:
        for revealed in reveal_due(session):
            if revealed.tx_hash is not None:
                bounty = client.bounty(revealed.bounty_id)
                done.append(RoundDone(revealed.bounty_id, bounty.current_round, revealed.tx_hash,
                                      bounty.rounds, "revealed"))
    except (QuarryError, TrainerError) as exc:
        log.warning("revealing validation sets: %s", exc)
    return done


def seconds_to_next_deadline(session: Session, cap: float = 300.0) -> float:
    """Until the earliest open round of our bounties closes (at most `cap`; 0 if one has).

    Sleeping that long instead of polling keeps an idle node idle (the embedded network
    mines empty blocks only while clients talk to it)."""
    client = session.client
    now = client.now()
    wait = cap
    for bounty_id in session.home.known_bounties(session.chain_id, session.board_address):
        bounty = client.bounty(bounty_id)
        if bounty.status == "completed" or bounty.round_state != "open":
            continue
        info = client.round(bounty_id, bounty.current_round)
        if info.state == ROUND_OPEN:
            wait = min(wait, max(0.0, float(info.deadline - now)))
    return wait


def run(
    session: Session,
    private_key: paillier.PaillierPrivateKey,
    stop: threading.Event,
    poll_seconds: float = 5.0,
    max_sleep: float = 300.0,
    on_done: Callable[[RoundDone], None] | None = None,
    cluster: Cluster | None = None,
) -> None:
    """Until `stop`: process due rounds (each closed one reported to `on_done`), then sleep
    until the next deadline (+1 s)."""
    while not stop.is_set():
        wait = poll_seconds
        try:
            for done in process_due_rounds(session, private_key, cluster):
                if on_done is not None:
                    on_done(done)
            wait = max(poll_seconds, seconds_to_next_deadline(session, max_sleep) + 1.0)
        except Exception:  # a dropped RPC connection: log and try again next tick
            log.exception("practitioner run loop pass failed")
        stop.wait(wait)
