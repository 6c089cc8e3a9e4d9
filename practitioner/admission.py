"""What the practitioner's inbox accepts, checked against the chain (practitioner.inbox).

Uploads: an owner commits an update's hash on chain first and uploads the blob after. The
inbox stores a PUT only when the blob is an update blob for one of this practitioner's
bounties (its header names bounty and round) and the contributor named in the
`X-Quarry-Contributor` header submitted exactly this hash to that round. Nothing else is
stored, so the inbox cannot be used to stage copies or as free storage.

Relay: gasless submissions are paid by the practitioner, so they are relayed only
- for this practitioner's own bounties (those posted from this home),
- into the bounty's current round while it accepts submissions,
- within a gas cap per submission (`max_gas`, from the node's estimate),
- and at most `per_address` relays per contributor address per `window` seconds,
on top of the inbox's per-client rate limit. Beyond that: a 4xx JSON error (`Refused`).
On a bounty posted by invitation (practitioner.invitations) both are refused to addresses
it did not invite: their updates would be rejected unread, so they are not stored or paid for.

"This practitioner's bounties" are the ones under its home (`bounty.json` written by post):
the inbox and the commands that posted share the home.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from practitioner.inbox import Refused
from trainer.errors import BlobError
from trainer.update_blob import blob_hash, parse_blob
from wallet import eip712
from wallet.bounties import Bounty, relay_submission
from wallet.errors import InvalidInput
from wallet.history import round_text
from wallet.network import check_address

if TYPE_CHECKING:
    from practitioner.session import Session

# submitWithSignature with an inbox URI of ~100 characters is estimated at ~347k gas on the
# py-evm devnet (a new submitter's storage, the URI's slots, the signature check, the
# estimate's margin); 500k leaves room for longer URIs and refuses calls that would cost
# the practitioner unusually much
DEFAULT_MAX_GAS = 500_000
DEFAULT_PER_ADDRESS = 5
DEFAULT_WINDOW_SECONDS = 3600


class InboxPolicy:
    def __init__(self, session: Session, *, max_gas: int = DEFAULT_MAX_GAS,
                 per_address: int = DEFAULT_PER_ADDRESS, window: float = DEFAULT_WINDOW_SECONDS) -> None:
        self.session = session
        self.max_gas = max_gas
        self.per_address = per_address
        self.window = window
        self._relayed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._specs: dict[int, Any] = {}  # a bounty's spec never changes (its hash is on chain)

    # -- shared checks ---------------------------------------------------------------------

    def own_bounty(self, bounty_id: int) -> Bounty:
        session = self.session
        if bounty_id not in session.home.known_bounties(session.chain_id, session.board_address):
            raise Refused(HTTPStatus.FORBIDDEN, f"bounty {bounty_id} is not one of this inbox's bounties")
        return session.client.bounty(bounty_id)

    def spec(self, bounty_id: int) -> Any:
        from practitioner.evaluate import load_spec

        spec = self._specs.get(bounty_id)
        if spec is None:
            spec = self._specs.setdefault(bounty_id, load_spec(self.session, bounty_id))
        return spec

    def check_invited(self, bounty_id: int, contributor: str) -> None:
        from practitioner.invitations import admits, invited_addresses

        spec = self.spec(bounty_id)
        if not admits(invited_addresses(self.session, spec, bounty_id), contributor):
            raise Refused(HTTPStatus.FORBIDDEN, f"bounty {bounty_id} is by invitation and {contributor} "
                                                "is not invited")

    # -- POST /invitations ------------------------------------------------------------------

    def redeem_invitation(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A single-use code of one of this practitioner's bounties, redeemed for the address
        the request names: the signed invitation's JSON (practitioner.invitations.redeem_code)."""
        from practitioner.invitations import redeem_code

        bounty_id, code, contributor = payload["bountyId"], payload["code"], payload["contributor"]
        if not isinstance(bounty_id, int) or isinstance(bounty_id, bool) or bounty_id < 0:
            raise Refused(HTTPStatus.BAD_REQUEST, "bountyId must be a non-negative integer")
        if not isinstance(code, str) or not isinstance(contributor, str):
            raise Refused(HTTPStatus.BAD_REQUEST, "code and contributor must be strings")
        self.own_bounty(bounty_id)
        try:
            return redeem_code(self.session, self.spec(bounty_id), bounty_id, code, contributor).to_json()
        except InvalidInput as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from exc

    # -- PUT /blobs/<hash> -----------------------------------------------------------------

    def admit_upload(self, blob_hash: str, body: bytes, contributor: str | None) -> None:
        if not contributor:
            raise Refused(HTTPStatus.BAD_REQUEST, "an update upload must name its contributor "
                                                  "(X-Quarry-Contributor header)")
        try:
            contributor = check_address(contributor, "contributor")
        except InvalidInput as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from exc
        try:
            header = parse_blob(body, max_bytes=None)
        except BlobError as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, f"not an update blob: {exc}") from exc
        bounty = self.own_bounty(header.bounty_id)
        if header.round >= bounty.rounds:
            raise Refused(HTTPStatus.FORBIDDEN, f"bounty {bounty.id} has no round {header.round}")
        self.check_invited(bounty.id, contributor)
        committed, _uri = self.session.client.submission(header.bounty_id, header.round, contributor)
        if committed.lower() != blob_hash.lower():
            raise Refused(HTTPStatus.FORBIDDEN,
                          f"{contributor} has not committed this blob's hash on chain for bounty "
                          f"{bounty.id}, {round_text(header.round, bounty.rounds)}; commit first, "
                          "then upload")

    # -- POST /sent-blobs ------------------------------------------------------------------

    def sent_blob(self, payload: Any) -> str:
        """An owner's own blob of a finalised round, base64, to the owner alone (the request is
        signed by the contributor's key, `eip712.SentBlobRequest`): a wallet restored on another
        computer names its copy proofs and openings by the blob's bytes. Not before the round's
        report is on chain, so no one holding a leaked request can copy it into the round."""
        session = self.session
        try:
            request = eip712.sent_blob_request_from_payload(payload, session.chain_id, session.board_address)
        except InvalidInput as exc:
            raise Refused(HTTPStatus.FORBIDDEN if "not signed by" in str(exc) else HTTPStatus.BAD_REQUEST,
                          str(exc)) from exc
        now = time.time()
        if request.deadline < now:
            raise Refused(HTTPStatus.FORBIDDEN, "the signed request has expired; sign a new one")
        if request.deadline > now + eip712.SENT_BLOB_MAX_SECONDS:
            raise Refused(HTTPStatus.BAD_REQUEST, f"the request's deadline is more than "
                                                  f"{eip712.SENT_BLOB_MAX_SECONDS} s ahead")
        bounty = self.own_bounty(request.bounty_id)
        if request.round >= bounty.rounds:
            raise Refused(HTTPStatus.NOT_FOUND, f"bounty {bounty.id} has no round {request.round}")
        if int(session.client.round(bounty.id, request.round).report_hash, 16) == 0:
            raise Refused(HTTPStatus.CONFLICT, f"bounty {bounty.id}, {round_text(request.round, bounty.rounds)} "
                                               "has no report on chain yet; blobs are given back once it has")
        committed, _uri = session.client.submission(bounty.id, request.round, request.contributor)
        if int(committed, 16) == 0:
            raise Refused(HTTPStatus.NOT_FOUND, f"{request.contributor} submitted nothing to bounty {bounty.id}, "
                                                f"{round_text(request.round, bounty.rounds)}")
        try:
            data = (session.home.upload_dir / committed.lower()).read_bytes()
        except FileNotFoundError as exc:
            raise Refused(HTTPStatus.NOT_FOUND, "this inbox does not hold that blob (it was never "
                                                "uploaded here)") from exc
        if blob_hash(data) != committed.lower():  # a damaged copy is no answer
            raise Refused(HTTPStatus.NOT_FOUND, "this inbox's copy of that blob is damaged")
        return base64.b64encode(data).decode("ascii")

    # -- POST /relay -----------------------------------------------------------------------

    def _count(self, contributor: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._relayed.setdefault(contributor, deque())
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.per_address:
                raise Refused(HTTPStatus.TOO_MANY_REQUESTS,
                              f"{contributor} reached this relay's limit of {self.per_address} "
                              f"submissions per {int(self.window)} s; submit directly or later")
            recent.append(now)

    def _check_signature(self, submission: Any, signature: str) -> None:
        """A bad signature is refused before it counts against the address it names (else
        anyone could use up another owner's relays); contract wallets are left to the board."""
        session = self.session
        if len(session.w3.eth.get_code(submission.contributor)) == 0:
            signer = eip712.recover_signer(session.chain_id, session.board_address, submission, signature)
            if signer != submission.contributor:
                raise Refused(HTTPStatus.BAD_REQUEST,
                              "the signature does not match the submission and contributor")

    def relay(self, payload: Any) -> str:
        submission, signature = eip712.submission_from_payload(payload)
        bounty = self.own_bounty(submission.bounty_id)
        if submission.round != bounty.current_round or bounty.phase != "accepting":
            raise Refused(HTTPStatus.CONFLICT,
                          f"this relay submits only into a bounty's current open round; bounty "
                          f"{bounty.id} is at {round_text(bounty.current_round, bounty.rounds)} "
                          f"({bounty.phase}), the submission is for round {submission.round}")
        self._check_signature(submission, signature)
        self.check_invited(bounty.id, submission.contributor)
        self._count(submission.contributor)
        session = self.session
        if session.signer is None:
            raise Refused(HTTPStatus.NOT_FOUND, "this inbox does not relay submissions")
        return relay_submission(session.w3, session.signer, payload, board=session.board_address,
                                expected_chain_id=session.chain_id, max_gas=self.max_gas)
