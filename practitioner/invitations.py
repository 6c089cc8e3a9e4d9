"""The practitioner's side of bounties posted by invitation (`post --by-invitation`).

`quarry-practitioner invite BOUNTY ADDRESS...` signs one Invitation per address with the
practitioner's key (the spec's `invitation_signer`; wallet.invitations has the format),
writes each as a file to send to its owner, and records the address in the bounty's
`invited.json`. Evaluation values only the submissions of recorded addresses; any other is
rejected before its blob is fetched ("not invited: ..."), and the run loop does not wait for
its upload.

`quarry-practitioner invite BOUNTY --codes N` instead makes N single-use invitation codes,
for when the practitioner does not know its owners' addresses yet (a study hands each
participant a code). Only their SHA-256 is kept (`invitation-codes.json`). An owner's wallet
redeems one at the practitioner's inbox (`POST /invitations`, `redeem_code`): the inbox signs
the Invitation for the address the owner names, records it, and marks the code used by that
address. A code invites exactly one address, so it bounds sybils like a file does: one per
code handed out. Redeeming again for the same address answers the same invitation (a lost
answer is retried); for another address it is refused (409).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from pathlib import Path

from common.atomic import atomic_write_text
from practitioner.inbox import Refused
from practitioner.session import Session
from practitioner.state import read_json, write_json
from trainer.spec import BountySpec
from wallet.errors import InvalidInput
from wallet.invitations import NOT_INVITED, Invitation, normalize_code, sign_invitation
from wallet.network import check_address

INVITED_FILE = "invited.json"
CODES_FILE = "invitation-codes.json"
LOCK_FILE = "invitations.lock"
MAX_CODES = 10_000  # per call of make_codes
# the inbox's threads and `invite` in another process change the two files under one lock
_THREAD_LOCK = threading.Lock()


def invited_addresses(session: Session, spec: BountySpec, bounty_id: int) -> set[str] | None:
    """The lower-cased addresses invited to this bounty; None when it is open to everyone."""
    if spec.invitation_signer is None:
        return None
    path = session.bounty_dir(bounty_id) / INVITED_FILE
    if not path.is_file():
        return set()
    invited = read_json(path).get("invited", [])
    return {str(a).lower() for a in invited}


def admits(invited: set[str] | None, address: str) -> bool:
    """Whether `address` may take part: everyone on an open bounty (`invited` None)."""
    return invited is None or address.lower() in invited


def not_invited_reason(bounty_id: int) -> str:
    return f"{NOT_INVITED}: bounty {bounty_id} is by invitation and its practitioner did not invite this address"


@contextlib.contextmanager
def _locked(session: Session, bounty_id: int) -> Iterator[None]:
    """The bounty's invitation files, for this process's threads and for other processes."""
    directory = session.bounty_dir(bounty_id)
    directory.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(directory / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_signer(session: Session, spec: BountySpec, bounty_id: int) -> None:
    if spec.invitation_signer is None:
        raise InvalidInput(f"Bounty {bounty_id} is open to everyone: it was not posted with --by-invitation.")
    if session.signer is None or session.signer.address != spec.invitation_signer:
        raise InvalidInput(f"Bounty {bounty_id}'s invitations are signed by {spec.invitation_signer}, "
                           "not by this practitioner's key.")


def _record_invited(session: Session, spec: BountySpec, bounty_id: int, addresses: Sequence[str]) -> None:
    """Add addresses to the bounty's record (it only grows); call under `_locked`."""
    already = invited_addresses(session, spec, bounty_id) or set()
    record = sorted(already | {a.lower() for a in addresses})
    write_json(session.bounty_dir(bounty_id) / INVITED_FILE, {"invited": record})


def invite(session: Session, spec: BountySpec, bounty_id: int, addresses: Sequence[str],
           out_dir: str | Path) -> list[Path]:
    """Sign and write an invitation file per address (into `out_dir`) and record them."""
    _check_signer(session, spec, bounty_id)
    checked = [check_address(a, "address to invite", require_checksum=True) for a in addresses]
    if not checked:
        raise InvalidInput("Name at least one address to invite.")
    out = Path(out_dir)
    written = []
    for address in checked:
        invitation = sign_invitation(session.signer, session.chain_id, session.board_address,
                                     bounty_id, address)
        path = out / f"invitation-{bounty_id}-{address}.json"
        atomic_write_text(path, json.dumps(invitation.to_json(), indent=1) + "\n", mode=0o644)
        written.append(path)
    # recorded after the files are written: a failed write invites no one it did not tell
    with _locked(session, bounty_id):
        _record_invited(session, spec, bounty_id, checked)
    return written


# --- invitation codes ----------------------------------------------------------------------


def code_digest(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _new_code() -> str:
    """125 random bits as 25 base32 letters in groups of 5 (no 0/1/8/9 to misread)."""
    letters = base64.b32encode(secrets.token_bytes(16)).decode()[:25]
    return "-".join(letters[i:i + 5] for i in range(0, 25, 5))


def _read_codes(session: Session, bounty_id: int) -> dict[str, str | None]:
    """sha256 of each code -> the lower-cased address that redeemed it (None: unused)."""
    path = session.bounty_dir(bounty_id) / CODES_FILE
    if not path.is_file():
        return {}
    codes = read_json(path).get("codes", {})
    return {str(k): (str(v) if v else None) for k, v in codes.items()} if isinstance(codes, dict) else {}


def _write_codes(session: Session, bounty_id: int, codes: dict[str, str | None]) -> None:
    atomic_write_text(session.bounty_dir(bounty_id) / CODES_FILE,
                      json.dumps({"codes": codes}, indent=1, sort_keys=True), mode=0o600)


def make_codes(session: Session, spec: BountySpec, bounty_id: int, count: int) -> list[str]:
    """`count` new single-use codes for the bounty; only their digests are kept."""
    _check_signer(session, spec, bounty_id)
    if not 1 <= int(count) <= MAX_CODES:
        raise InvalidInput(f"Make between 1 and {MAX_CODES} codes at a time, not {count}.")
    made = [_new_code() for _ in range(int(count))]
    with _locked(session, bounty_id):
        codes = _read_codes(session, bounty_id)
        codes.update({code_digest(code): None for code in made})
        _write_codes(session, bounty_id, codes)
    return made


def code_counts(session: Session, bounty_id: int) -> tuple[int, int]:
    """(codes made, codes redeemed) for the bounty."""
    codes = _read_codes(session, bounty_id)
    return len(codes), sum(1 for address in codes.values() if address)


def redeem_code(session: Session, spec: BountySpec, bounty_id: int, code: str, contributor: str) -> Invitation:
    """The Invitation of `contributor`, for an unused code (then marked used by it) or a code
    it redeemed before; Refused 403 for a code this bounty did not make (or an open bounty),
    409 for one another address redeemed, 404 when this key does not sign the bounty's
    invitations. The code is marked before the address is recorded: a crash between
    the two leaves the code with that address, whose retry records it."""
    try:
        _check_signer(session, spec, bounty_id)
    except InvalidInput as exc:
        # another key than the bounty's signer cannot redeem its codes: like no key at all (404)
        status = HTTPStatus.FORBIDDEN if spec.invitation_signer is None else HTTPStatus.NOT_FOUND
        raise Refused(status, str(exc)) from exc
    digest = code_digest(code)
    address = check_address(contributor, "contributor", require_checksum=True)
    with _locked(session, bounty_id):
        codes = _read_codes(session, bounty_id)
        if digest not in codes:
            raise Refused(HTTPStatus.FORBIDDEN, f"this is not an invitation code of bounty {bounty_id}")
        holder = codes[digest]
        if holder is not None and holder != address.lower():
            raise Refused(HTTPStatus.CONFLICT, "this invitation code was already used by another address")
        if holder is None:
            codes[digest] = address.lower()
            _write_codes(session, bounty_id, codes)
        _record_invited(session, spec, bounty_id, [address])
    return sign_invitation(session.signer, session.chain_id, session.board_address, bounty_id, address)
