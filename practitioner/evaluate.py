"""Evaluate a closed round: fetch and verify every submitted blob, decrypt, value, report.

Writes `round-<r>.json` in the bounty's directory with what `finalize` sends on chain
(payees, amounts, next model and report hashes/URIs). Nothing goes on chain here, so an
evaluation can be re-run until the round is finalised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from phe import paillier

from common.atomic import atomic_write_bytes
from practitioner.chain import ROUND_OPEN, RoundInfo
from practitioner.decode import (
    FetchedSubmission,
    ValidationScorer,
    decode_submissions,
    reference_update,
)
from practitioner.invitations import admits, invited_addresses, not_invited_reason
from practitioner.report import MAX_REPORT_BYTES, parse_report, report_bytes, report_of_valuation
from practitioner.session import Session
from practitioner.state import load_validation, local_blob_path, read_json, write_json
from practitioner.valuation import (
    Valuation,
    bounty_credits,
    encoding_slack,
    value_round,
)
from trainer.alignment import round_along_bound
from trainer.copy_proof import (
    MAX_PROOF_LINKS,
    OpenedBlob,
    copy_proof_bytes,
    copy_proof_token,
    open_blob,
)
from trainer.models import model_from_bytes, model_from_spec, model_to_bytes
from trainer.openings import opening_bytes
from trainer.shapley import round_seed
from trainer.spec import COPY_PROOF_RULES, BountySpec
from trainer.update_blob import blob_limit, parse_blob
from wallet.bounties import Bounty
from wallet.errors import InvalidInput, NotFound, QuarryError
from wallet.history import round_text

if TYPE_CHECKING:
    from practitioner.cluster import Cluster

log = logging.getLogger(__name__)

# Every round is valued on the validation log-loss (a smooth proper score), whatever the
# spec's `metric` says: specs posted before version 2 of the report name "accuracy", which
# the report still shows as accuracyBefore/accuracyAfter.
VALUATION_METRIC = "log_loss"


@dataclass(frozen=True)
class RoundEvaluation:
    bounty_id: int
    round_index: int
    record: dict[str, Any]
    report: dict[str, Any]


def load_spec(session: Session, bounty_id: int) -> BountySpec:
    return spec_of(session, session.client.bounty(bounty_id))


def spec_of(session: Session, bounty: Bounty) -> BountySpec:
    """The spec of a bounty already read from the chain (hash-checked blob)."""
    return BountySpec.from_json_bytes(session.blob(bounty.spec_hash, bounty.spec_uri))


def model_params(session: Session, spec: BountySpec, model_hash: str, uri: str) -> np.ndarray:
    return model_from_bytes(session.blob(model_hash, uri), spec).get_params()


def check_round_index(bounty: Bounty, round_index: int) -> None:
    """Round arguments are on-chain indexes: 0 .. rounds - 1."""
    if not 0 <= round_index < bounty.rounds:
        raise InvalidInput(
            f"Bounty {bounty.id} has no round {round_index}: its rounds are numbered "
            f"0 to {bounty.rounds - 1} (round 0 is the first)."
        )


def round_record_path(session: Session, bounty_id: int, round_index: int):
    return session.bounty_dir(bounty_id) / f"round-{round_index}.json"


def check_evaluable(session: Session, bounty_id: int, round_index: int) -> tuple[Bounty, RoundInfo]:
    """(bounty, round) when the round can be evaluated here: a bounty posted from this home,
    its current round, closed and not finalised. Cheap: the CLI asks it before the key's
    password."""
    client = session.client
    bounty = client.bounty(bounty_id)
    directory = session.bounty_dir(bounty_id)
    if not (directory / "bounty.json").is_file():
        raise NotFound(
            f"Bounty {bounty_id} was not posted from this home ({directory} is missing); "
            "only its practitioner holds the validation set."
        )
    check_round_index(bounty, round_index)
    named = f"Bounty {bounty_id} {round_text(round_index, bounty.rounds)}"
    if round_index != bounty.current_round:
        raise InvalidInput(
            f"{named} is not the current round; that is "
            f"{round_text(bounty.current_round, bounty.rounds)}."
        )
    info = client.round(bounty_id, round_index)
    if info.state != ROUND_OPEN:
        raise InvalidInput(f"{named} is already {info.state_text}.")
    now = client.now()
    if now < info.deadline:
        raise InvalidInput(f"{named} is still open for {info.deadline - now} s; evaluate it after it closes.")
    return bounty, info


def awaited_uploads(session: Session, spec: BountySpec, bounty_id: int, round_index: int) -> int:
    """How many of the round's committed blobs are not here yet although their owners send them
    here: not in this home's stores, with a URI under the bounty's inbox or a file:// path that
    does not exist yet. Nothing is read or fetched (a stranger's URI elsewhere is fetched once,
    when the round is evaluated, and never waited for)."""
    from urllib.parse import unquote, urlparse

    client = session.client
    inbox = spec.inbox_url.rstrip("/") + "/" if spec.inbox_url else None
    awaited = 0
    invited = invited_addresses(session, spec, bounty_id)
    for address in client.submitters(bounty_id, round_index):
        if not admits(invited, address):
            continue  # rejected unread: nothing to wait for
        blob_hash, uri = client.submission(bounty_id, round_index, address)
        if any(local_blob_path(d, blob_hash).is_file() for d in (session.home.blob_dir, session.home.upload_dir)):
            continue
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            awaited += not Path(unquote(parsed.path)).is_file()
        elif inbox is not None and uri.startswith(inbox):
            awaited += 1
    return awaited


def evaluate_round(
    session: Session,
    bounty_id: int,
    round_index: int,
    private_key: paillier.PaillierPrivateKey,
    *,
    should_stop: Callable[[], bool] | None = None,
    cluster: Cluster | None = None,
) -> RoundEvaluation:
    """Fetch, verify, decrypt and value the round; publish the next model and the report;
    write the round record. With a `cluster`, the valuation's model evaluations (and, when
    its operator shared the key, decryption) run on its workers (`practitioner.cluster`)."""
    client = session.client
    bounty, info = check_evaluable(session, bounty_id, round_index)
    directory = session.bounty_dir(bounty_id)
    spec = load_spec(session, bounty_id)
    global_params = model_params(session, spec, info.model_hash, info.model_uri)
    previous_delta = None
    if round_index > 0:
        before = client.round(bounty_id, round_index - 1)
        if before.model_hash != info.model_hash:
            previous_delta = global_params - model_params(session, spec, before.model_hash, before.model_uri)
    fetched = []
    limit = blob_limit(spec.max_blob_bytes)
    # the index in getSubmitters is the on-chain order: a group of copies is credited to
    # its earliest submission
    invited = invited_addresses(session, spec, bounty_id)
    submitters = client.submitters(bounty_id, round_index)
    for order, address in enumerate(submitters):
        blob_hash, uri = client.submission(bounty_id, round_index, address)
        if not admits(invited, address):  # not even fetched
            fetched.append(FetchedSubmission(address, blob_hash, None, not_invited_reason(bounty_id), order))
            continue
        try:
            data = session.blob(blob_hash, uri, limit)
            fetched.append(FetchedSubmission(address, blob_hash, data, order=order))
        except QuarryError as exc:
            fetched.append(FetchedSubmission(address, blob_hash, None, f"blob unavailable: {exc}", order))
    decoded = decode_submissions(spec, private_key, bounty_id, round_index, fetched,
                                 should_stop=should_stop, cluster=cluster)
    x_val, y_val = load_validation(directory)
    seed = round_seed(bounty_id, round_index)
    scorer = ValidationScorer(spec, x_val, y_val)
    reference = reference_update(spec, global_params, x_val, y_val)
    valuation = value_round(
        global_params, decoded, scorer, bounty.reward_per_round,
        clip_norm=spec.privacy.clip_norm, previous_delta=previous_delta, seed=seed,
        clip_slack=encoding_slack(global_params.size, spec.encoding.precision_bits),
        reference=reference,
        game_scorer=None if cluster is None else cluster.game_scorer(scorer, seed=seed),
        along_bound=round_along_bound(spec, global_params, x_val, y_val, reference),
        rules=spec.valuation_rules,  # which copy rule the spec committed the bounty to
    )
    proved = None  # bounties posted before copy proofs: none
    opener = BlobOpener(spec, private_key, fetched)
    if spec.valuation_rules >= COPY_PROOF_RULES:
        proved = write_copy_proofs(session, bounty_id, round_index, valuation, opener)
    opened = None  # bounties that do not open their updates: none
    if spec.open_updates:
        opened = write_pending_opening(session, bounty_id, round_index, valuation, opener)
    model = model_from_spec(spec)
    model.set_params(valuation.next_params)
    next_hash, next_uri = session.publish(model_to_bytes(model), spec.inbox_url)
    report = report_of_valuation(
        valuation, bounty_id=bounty_id, round_index=round_index, spec_hash=bounty.spec_hash,
        model_hash=info.model_hash, next_model_hash=next_hash, reward=bounty.reward_per_round,
        metric=VALUATION_METRIC, along_bound_committed=spec.valuation_rules >= 1,
    )
    credited: list[tuple[str, int]] = []
    if bounty.is_closing_round(round_index):  # the leftover's shares, pooled over the bounty's reports
        credited = bounty_credits([*earlier_reports(session, bounty_id, round_index), report],
                                  bounty.reward_per_round * bounty.rounds)
        report["credits"] = {address: str(credit) for address, credit in credited}
    report_hash, report_uri = session.publish(report_bytes(report), spec.inbox_url)
    payees = valuation.payouts
    record = {
        "bountyId": bounty_id,
        "round": round_index,
        "contributors": [address for address, _ in payees],
        "amounts": [str(amount) for _, amount in payees],
        # the closing round: the leftover's credits over the whole bounty (assignCredits)
        "credits": {"contributors": [address for address, _ in credited],
                    "amounts": [str(credit) for _, credit in credited]},
        "nextModelHash": next_hash,
        "nextModelURI": next_uri,
        "reportHash": report_hash,
        "reportURI": report_uri,
        "metricBefore": valuation.metric_before,
        "metricAfter": valuation.metric_after,
        "accuracyBefore": valuation.accuracy_before,
        "accuracyAfter": valuation.accuracy_after,
        "method": valuation.method,
        # the round's submitters the report lists; finalize refuses if more arrived since
        "submitters": list(submitters),
        # the copies whose owners can fetch a copy proof (null: the bounty predates them)
        "copyProofs": proved,
        # open_updates: how many counted updates the round's opening holds (published at the reveal)
        "openedUpdates": opened,
        "finalizeTx": None,
    }
    write_json(round_record_path(session, bounty_id, round_index), record)
    log.info(
        "bounty %d %s evaluated: %d submissions, %d paid, log-loss %.4f -> %.4f, accuracy "
        "%.4f -> %.4f", bounty_id, round_text(round_index, bounty.rounds), len(fetched),
        len(payees), valuation.metric_before, valuation.metric_after,
        valuation.accuracy_before, valuation.accuracy_after,
    )
    return RoundEvaluation(bounty_id, round_index, record, report)


class BlobOpener:
    """Opens submissions' blobs (every ciphertext's plaintext and Paillier nonce), each once."""

    def __init__(self, spec: BountySpec, private_key: paillier.PaillierPrivateKey,
                 fetched: list[FetchedSubmission]) -> None:
        self.spec, self.private_key, self.encoding = spec, private_key, spec.encoding_params()
        self.blobs = {item.address.lower(): item for item in fetched}
        self.opened: dict[str, OpenedBlob] = {}

    def __call__(self, address: str) -> OpenedBlob:
        if address.lower() not in self.opened:
            item = self.blobs[address.lower()]
            blob = parse_blob(item.data, self.spec.public_key(), self.spec.max_blob_bytes, self.encoding)  # type: ignore[arg-type]
            plaintexts, nonces = open_blob(self.private_key, blob)
            self.opened[address.lower()] = OpenedBlob(item.address, item.blob_hash, item.data, plaintexts, nonces)  # type: ignore[arg-type]
        return self.opened[address.lower()]

    def token(self, bounty_id: int, round_index: int, address: str) -> str:
        return copy_proof_token(bounty_id, round_index, address, self.blobs[address.lower()].data)  # type: ignore[arg-type]


def write_copy_proofs(session: Session, bounty_id: int, round_index: int, valuation: Valuation,
                      opener: BlobOpener) -> list[str]:
    """For every update the valuation counts as a copy, its copy proof (trainer.copy_proof):
    the blobs on its chain of copy links to the credited original, opened, stored under the
    token only that owner (and whoever holds its update) can name. Returns the copies proved."""
    open_step = opener
    written: list[str] = []
    for line in valuation.contributors:
        if line.copy_of is None:
            continue
        links = valuation.copy_paths[line.address]
        if len(links) > MAX_PROOF_LINKS:  # only a chain of near-copies built link by link
            log.warning("bounty %d round %d: %s is %d copy links from %s; no copy proof written "
                        "(at most %d)", bounty_id, round_index + 1, line.address, len(links),
                        line.copy_of, MAX_PROOF_LINKS)
            continue
        path = [open_step(address) for address in links]
        # the copy's own blob too, so an owner whose computer lost its update can check the
        # claim; left out of a longest path, whose proof would then outgrow the size owners accept
        own = open_step(line.address) if len(links) < MAX_PROOF_LINKS else None
        data = copy_proof_bytes(bounty_id, round_index, line.address, line.copy_of, path, own)
        directory = session.home.copy_proof_dir
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(directory / open_step.token(bounty_id, round_index, line.address), data, mode=0o600)
        written.append(line.address)
    if written:
        log.info("bounty %d round %d: %d copy proof(s) written", bounty_id, round_index + 1, len(written))
    return written


def pending_opening_path(session: Session, bounty_id: int, round_index: int) -> Path:
    """Where `evaluate` keeps a round's opening until `reveal` publishes it."""
    return session.bounty_dir(bounty_id) / f"opening-{round_index}.json"


def write_pending_opening(session: Session, bounty_id: int, round_index: int, valuation: Valuation,
                          opener: BlobOpener) -> int:
    """A bounty posted with `open_updates` (trainer.openings): the round's counted updates,
    opened, kept (not served) with the tokens of every contributor line, until the reveal.
    Returns how many updates it opens."""
    counted = [line.address for line in valuation.contributors if line.copy_of is None]
    data = opening_bytes(bounty_id, round_index, [opener(address) for address in counted])
    tokens = [opener.token(bounty_id, round_index, line.address) for line in valuation.contributors]
    record = {"opening": data.decode(), "tokens": tokens}
    path = pending_opening_path(session, bounty_id, round_index)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(path, json.dumps(record).encode(), mode=0o600)
    return len(counted)


def earlier_reports(session: Session, bounty_id: int, round_index: int) -> list[dict[str, Any]]:
    """The reports of the bounty's finalised rounds before `round_index`, as the chain names
    them (an expired round has none): what an owner's wallet pools to check the credits."""
    reports = []
    for earlier in range(round_index):
        info = session.client.round(bounty_id, earlier)
        if info.state_text == "finalized":
            reports.append(parse_report(session.blob(info.report_hash, info.report_uri, MAX_REPORT_BYTES)))
    return reports


def read_round_record(
    session: Session, bounty_id: int, round_index: int, rounds: int | None = None
) -> dict[str, Any]:
    path = round_record_path(session, bounty_id, round_index)
    if not path.is_file():
        raise NotFound(
            f"Bounty {bounty_id} {round_text(round_index, rounds)} has not been evaluated; run "
            f"`quarry-practitioner evaluate {bounty_id} {round_index}` first."
        )
    return read_json(path)
