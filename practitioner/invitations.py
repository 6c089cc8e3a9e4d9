"""The practitioner's side of bounties posted by invitation (`post --by-invitation`).

`quarry-practitioner invite BOUNTY ADDRESS...` signs one Invitation per address with the
practitioner's key (the spec's `invitation_signer`; wallet.invitations has the format),
writes each as a file to send to its owner, and records the address in the bounty's
`invited.json`. Evaluation values only the submissions of recorded addresses; any other is
rejected before its blob is fetched ("not invited: ..."), and the run loop does not wait for
its upload.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from common.atomic import atomic_write_text
from practitioner.session import Session
from practitioner.state import read_json, write_json
from trainer.spec import BountySpec
from wallet.errors import InvalidInput
from wallet.invitations import NOT_INVITED, sign_invitation
from wallet.network import check_address

INVITED_FILE = "invited.json"


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


def invite(session: Session, spec: BountySpec, bounty_id: int, addresses: Sequence[str],
           out_dir: str | Path) -> list[Path]:
    """Sign and write an invitation file per address (into `out_dir`) and record them."""
    if spec.invitation_signer is None:
        raise InvalidInput(f"Bounty {bounty_id} is open to everyone: it was not posted with --by-invitation.")
    if session.signer is None or session.signer.address != spec.invitation_signer:
        raise InvalidInput(f"Bounty {bounty_id}'s invitations are signed by {spec.invitation_signer}, "
                           "not by this practitioner's key.")
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
    already = invited_addresses(session, spec, bounty_id) or set()
    record = sorted(already | {a.lower() for a in checked})
    write_json(session.bounty_dir(bounty_id) / INVITED_FILE, {"invited": record})
    return written
