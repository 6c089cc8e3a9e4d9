"""Revealing a bounty's validation set at its end, so every owner can check its pay.

The spec committed at posting to ``validation_commitment(x, y, salt)``; the salt is in the
bounty directory's bounty.json (``validationSalt``) and the set in validation.npz. The reveal
blob (trainer.reveal) holds exactly that salt and set; it is published where the
practitioner's blobs are served and its keccak256 and URI go on chain with
``revealValidation`` (owner only, once, after the bounty ended).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass

from common.atomic import atomic_write_bytes
from practitioner.evaluate import load_spec, pending_opening_path, round_record_path
from practitioner.session import Session
from practitioner.state import load_validation, read_json, write_json
from practitioner.validation_reuse import RevealDeferred, deferred_reveal, live_sharers
from trainer.errors import TrainerError
from trainer.reveal import validation_commitment, validation_reveal_bytes
from wallet.errors import InvalidInput, NotFound, QuarryError
from wallet.history import round_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revealed:
    bounty_id: int
    data_hash: str
    uri: str
    tx_hash: str | None  # None: it was revealed before (nothing sent)
    opened_rounds: int = 0  # open_updates: the rounds whose opening is now served


def check_revealable(session: Session, bounty_id: int) -> tuple[bytes, str | None]:
    """The reveal blob when ``bounty_id`` can be revealed now, and the already revealed hash
    (or None). Read-only: the CLI asks it before unlocking the wallet."""
    client = session.client
    bounty = client.bounty(bounty_id)
    directory = session.bounty_dir(bounty_id)
    if not (directory / "bounty.json").is_file():
        raise NotFound(f"Bounty {bounty_id} was not posted from this home (no {directory / 'bounty.json'}).")
    spec = load_spec(session, bounty_id)
    if not spec.verifiable:
        raise InvalidInput(f"Bounty {bounty_id} was posted as not verifiable: its validation set stays private.")
    if not client.pot(bounty_id).ended:
        current = round_text(bounty.current_round, bounty.rounds)
        if client.now() >= client.round(bounty_id, bounty.current_round).deadline:
            # closed but not finalised: the bounty ends when its last round is finalised (or expires)
            raise InvalidInput(
                f"Bounty {bounty_id} has not ended yet: {current} has closed but is not finalised; run "
                f"`quarry-practitioner evaluate {bounty_id} {bounty.current_round}` and `finalize "
                f"{bounty_id} {bounty.current_round}`, then reveal.")
        raise InvalidInput(
            f"Bounty {bounty_id} has not ended yet ({current} is "
            "open); reveal the validation set after its last round closes.")
    record = read_json(directory / "bounty.json")
    try:
        salt = bytes.fromhex(str(record["validationSalt"]))
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"{directory / 'bounty.json'} has no readable validationSalt.") from exc
    x, y = load_validation(directory)
    if validation_commitment(x, y, salt) != spec.validation_commitment.lower():
        raise InvalidInput(
            f"The validation set in {directory} is not the one bounty {bounty_id}'s spec committed to; "
            "nothing was revealed.")
    revealed = client.reveal(bounty_id)
    if not revealed:
        live = live_sharers(session, bounty_id, spec, x, y)
        if live:
            raise deferred_reveal(session, bounty_id, live)
    return validation_reveal_bytes(x, y, salt), (revealed[0] if revealed else None)


def reveal_validation(session: Session, bounty_id: int) -> Revealed:
    """Publish the reveal blob and call revealValidation (once; a repeat reports the reveal
    already on chain and sends nothing). Recorded in bounty.json as ``reveal``."""
    data, already = check_revealable(session, bounty_id)
    directory = session.bounty_dir(bounty_id)
    if already is not None:
        data_hash, uri = session.client.reveal(bounty_id) or (already, "")
        return Revealed(bounty_id, data_hash, uri, None, publish_openings(session, bounty_id))
    # where the bounty's other blobs are served (as `evaluate` publishes): a reveal is made once,
    # and a file:// URI on the practitioner's machine would leave owners elsewhere unable to check
    data_hash, uri = session.publish(data, load_spec(session, bounty_id).inbox_url or None)
    # the openings first: once the reveal is on chain every owner's wallet asks for them, and
    # one that failed here stops the reveal, so the run loop tries both again
    opened = publish_openings(session, bounty_id)
    tx_hash = session.client.reveal_validation(bounty_id, data_hash, uri)
    record = read_json(directory / "bounty.json")
    record["reveal"] = {"dataHash": data_hash, "uri": uri, "txHash": tx_hash}
    write_json(directory / "bounty.json", record)
    return Revealed(bounty_id, data_hash, uri, tx_hash, opened)


def publish_openings(session: Session, bounty_id: int) -> int:
    """A bounty posted with `open_updates` (trainer.openings), once it has ended, just before
    its validation set is revealed: each finalised round's opening, written by `evaluate`, is served from now on
    under every contributor's token (the inbox's /openings/<token>; beside the blob store for a
    bounty without an inbox). Only a round finalised with the report its opening was written
    with is published: an expired round's updates stay unopened. Returns the rounds served;
    publishing again rewrites the same files."""
    client = session.client
    published = 0
    rounds = client.bounty(bounty_id).rounds
    for round_index in range(rounds):
        path = pending_opening_path(session, bounty_id, round_index)
        record_path = round_record_path(session, bounty_id, round_index)
        if not path.is_file() or not record_path.is_file():
            continue
        info = client.round(bounty_id, round_index)
        evaluated = read_json(record_path)
        if info.state_text != "finalized" or str(evaluated.get("reportHash", "")).lower() != info.report_hash.lower():
            log.info("bounty %d %s: not finalised with the evaluated report; its updates stay unopened",
                     bounty_id, round_text(round_index, rounds))
            continue
        try:
            pending = json.loads(path.read_text(encoding="utf-8"))
            opening, tokens = str(pending["opening"]), [str(token).lower() for token in pending["tokens"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:  # said, and nothing is revealed
            raise InvalidInput(f"{path} cannot be read ({exc}); evaluate {round_text(round_index, rounds)} again "
                               "before revealing.") from exc
        directory = session.home.opening_dir
        (directory / "rounds").mkdir(parents=True, exist_ok=True, mode=0o700)
        whole = directory / "rounds" / f"{session.chain_id}-{session.board_address.lower()}-{bounty_id}-{round_index}.json"
        atomic_write_bytes(whole, opening.encode(), mode=0o600)
        for token in tokens:  # one file, a name per contributor (a copy where links fail)
            target = directory / token
            staged = target.with_name(target.name + ".new")  # replaced whole: never a moment of 404
            staged.unlink(missing_ok=True)
            try:
                os.link(whole, staged)
            except OSError:
                shutil.copyfile(whole, staged)
            os.replace(staged, target)
        published += 1
    if published:
        log.info("bounty %d: %d round opening(s) published", bounty_id, published)
    return published


def reveal_due(session: Session) -> list[Revealed]:
    """Reveal the validation set of every bounty posted from this home that ended and is not
    revealed yet (the run loop and the demo call it each pass). A bounty that is revealed, or
    was posted as not verifiable, is marked in its bounty.json and not looked at again."""
    done = []
    client = session.client
    for bounty_id in session.home.known_bounties(session.chain_id, session.board_address):
        path = session.bounty_dir(bounty_id) / "bounty.json"
        record = read_json(path)
        if record.get("reveal") or record.get("notVerifiable"):
            continue
        try:
            if not client.pot(bounty_id).ended:
                continue
            if not load_spec(session, bounty_id).verifiable:
                record["notVerifiable"] = True
                write_json(path, record)
                continue
            revealed = reveal_validation(session, bounty_id)
        except RevealDeferred as exc:  # asked again on every pass: said once a pass, quietly
            log.info("%s", exc)
            continue
        except (QuarryError, TrainerError) as exc:  # one bounty's trouble must not stop the others
            log.warning("bounty %d: the validation set cannot be revealed: %s", bounty_id, exc)
            continue
        if revealed.tx_hash is None:  # revealed by another process: remember it
            record["reveal"] = {"dataHash": revealed.data_hash, "uri": revealed.uri, "txHash": None}
            write_json(path, record)
        else:
            log.info("bounty %d: validation set revealed in %s", bounty_id, revealed.tx_hash)
        done.append(revealed)
    return done
