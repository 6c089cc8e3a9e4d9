"""Getting back what names a round's copy proof and opening, on a computer that lost it.

A copy proof and a round's opening (trainer.copy_proof, trainer.openings) are served under a
token made from the owner's blob bytes, which the wallet keeps beside its kept update when it
submits (wallet.kept_updates). A wallet restored from its recovery phrase on another computer
has neither, so a report that calls its update a copy could not be checked there: the claim a
practitioner who would rather not pay would make.

`recover_sent` asks, for every round this account submitted to whose report is on chain and
whose token this computer does not keep, for the blob back:

- a bounty with an inbox: `POST /sent-blobs`, an EIP-712 `SentBlobRequest` signed by the
  account's key (wallet.eip712), which the inbox answers only to that key and only once the
  round's report is on chain;
- a file:// bounty (one computer): the blob at the URI the submission committed on chain.

Either way the bytes must hash to the submission's blob hash on chain before the token is
kept, so an inbox cannot hand back another blob. The update itself stays unknown (only the
practitioner's key decrypts it): a copy proof opens the copy's own blob, and an opening every
counted one, which is what stands in for it then (wallet.verify).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from trainer import update_blob
from trainer.errors import TrainerError
from wallet import eip712
from wallet.blob_store import InboxRefusal, fetch_blob, post_json
from wallet.bounties import SPEC_MAX_BYTES
from wallet.errors import QuarryError
from wallet.history import round_text
from wallet.kept_updates import copy_proof_token_for, keep_token

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from wallet.bounties import Bounty, BountyClient

RECOVERED = "recovered"
KEPT = "kept"  # this computer keeps it already
NOT_YET = "not yet"  # no report on chain: nothing to check yet
UNAVAILABLE = "unavailable"
MAX_SENT_BLOB_ANSWER = 96 * 1024 * 1024  # base64 of the largest blob an inbox takes (64 MiB)
_ZERO_HASH = "0x" + "00" * 32
RATE_LIMIT_ATTEMPTS = 4  # an inbox refills 2 requests a second per client by default
RATE_LIMIT_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class SentRound:
    bounty_id: int
    round: int
    rounds: int
    status: str
    detail: str

    def sentence(self) -> str:
        return f"Bounty {self.bounty_id}, {round_text(self.round, self.rounds)}: {self.detail}"


def recover_sent(client: BountyClient, signer: LocalAccount,
                 progress: Callable[[int, int], None] | None = None) -> list[SentRound]:
    """For every round `signer` submitted to: its token kept again when it was lost and can be
    had (RECOVERED), or why not. Nothing is written unless the blob matches the chain."""
    rows = client.rewards(signer.address).rows
    results: list[SentRound] = []
    specs: dict[int, Any] = {}  # per bounty, read once: its spec and its rounds
    reported: dict[int, list[bool]] = {}
    for index, row in enumerate(rows):
        bounty = client.bounty(row.bounty_id)
        try:
            if row.bounty_id not in reported:
                reported[row.bounty_id] = [r["report_hash"] != _ZERO_HASH for r in client.rounds(bounty)]
            if not reported[row.bounty_id][row.round]:
                status, detail = NOT_YET, "no report yet; there is nothing to check."
            else:
                status, detail = _recover_round(client, signer, bounty, row.round, row.blob_hash, specs)
        except InboxRefusal as exc:
            status, detail = UNAVAILABLE, f"the inbox did not give its blob back: {exc.reason}"
        except (QuarryError, TrainerError) as exc:  # the node, the spec or the blob failed: said
            status, detail = UNAVAILABLE, f"its blob could not be had: {exc}"
        results.append(SentRound(row.bounty_id, row.round, bounty.rounds, status, detail))
        if progress is not None:
            progress(index + 1, len(rows))
    return results


def _recover_round(client: BountyClient, signer: LocalAccount, bounty: Bounty, round_index: int,
                   blob_hash: str, specs: dict[int, Any]) -> tuple[str, str]:
    """(status, what happened) of one reported round."""
    from trainer.spec import BountySpec

    account = signer.address
    if copy_proof_token_for(client, account, bounty.id, round_index, blob_hash) is not None:
        return KEPT, "this computer keeps what names its proofs."
    submission = client.submission(bounty.id, round_index, account)
    if submission is None:  # the rewards list came from the chain: a reorganisation at most
        return UNAVAILABLE, "the board has no submission of this account there."
    inbox_url = ""
    if not str(submission["uri"]).startswith("file://"):  # else one computer: the blob file itself
        if bounty.id not in specs:
            data = fetch_blob(bounty.spec_uri, bounty.spec_hash, SPEC_MAX_BYTES, file_roots=client.file_roots)
            specs[bounty.id] = BountySpec.from_json_bytes(data)
        inbox_url = specs[bounty.id].inbox_url
    blob = _sent_blob(client, signer, inbox_url, bounty.id, round_index, submission)
    keep_token(client, account, bounty.id, round_index, blob_hash, blob)
    return RECOVERED, "got its blob back; its copy proof and opening can be checked again."


def _sent_blob(client: BountyClient, signer: LocalAccount, inbox_url: str, bounty_id: int,
               round_index: int, submission: dict[str, Any]) -> bytes:
    """The account's blob of that round, matched against its hash on chain."""
    blob_hash, uri = str(submission["blob_hash"]), str(submission["uri"])
    if uri.startswith("file://") or not inbox_url:
        return fetch_blob(uri, blob_hash, MAX_SENT_BLOB_ANSWER, file_roots=client.file_roots)
    request = eip712.make_sent_blob_request(bounty_id, round_index, signer.address,
                                            int(time.time()) + eip712.SENT_BLOB_REQUEST_SECONDS)
    payload = eip712.sent_blob_payload(signer, client.chain_id, client.board_address, request)
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        try:
            answer = post_json(inbox_url, "/sent-blobs", payload, max_bytes=MAX_SENT_BLOB_ANSWER)
            break
        except InboxRefusal as refusal:
            # a wallet with many rounds empties the inbox's per-client bucket: wait for it to refill
            if refusal.status != HTTPStatus.TOO_MANY_REQUESTS or attempt == RATE_LIMIT_ATTEMPTS:
                raise
            time.sleep(RATE_LIMIT_WAIT_SECONDS * attempt)
    try:
        data = base64.b64decode(str(answer.get("blob", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise QuarryError(f"the inbox at {inbox_url} answered no blob") from exc
    if update_blob.blob_hash(data) != blob_hash.lower():
        raise QuarryError(f"the inbox at {inbox_url} gave back a blob that is not the one committed on chain")
    return data
