"""Invitations to a bounty posted "by invitation" (the spec's `invitation_signer`).

An identity-level limit on sybils and strangers: the practitioner admits each contributor
out of band (a study's enrolled participants, a team's members) by signing an EIP-712
`Invitation(uint256 bountyId,address contributor)` in the board's domain
(`wallet.eip712.domain`) with the key the spec names. The practitioner values only
submissions from addresses it invited (practitioner.evaluate); the owner keeps its
invitation at home and refuses to train without one, and `quarry rewards --verify` reports
a Mismatch when a report rejects an invited owner as not invited (wallet.verify). The board
does not check invitations: it is the practitioner's own rule, and what it withholds from an
uninvited submitter stays with the bounty's contributors (the board's carry), never with it.

Or the practitioner hands out single-use codes (`quarry-practitioner invite BOUNTY --codes N`)
and the owner redeems one (`quarry invitation redeem BOUNTY CODE`, `redeem_invitation_code`):
the wallet sends the code and its own address to the inbox the spec names (`POST
/invitations`), which answers the signed invitation; the wallet checks it like a file and
keeps it.

File (JSON, what `quarry-practitioner invite` writes and `quarry invitation add` reads):
    {"quarryInvitation": 1, "chainId": int, "board": address, "bountyId": int,
     "contributor": address, "signature": 0x + 65 bytes hex}
kept at <home>/invitations/<chainId>-<board>/<bountyId>/<contributor>.json
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from common.atomic import atomic_write_text
from wallet.blob_store import InboxRefusal, post_json
from wallet.eip712 import domain
from wallet.errors import InvalidInput, NetworkError
from wallet.network import check_address
from wallet.untrusted import printable

INVITATION_TYPES = {
    "Invitation": [
        {"name": "bountyId", "type": "uint256"},
        {"name": "contributor", "type": "address"},
    ]
}
INVITATIONS_DIR = "invitations"
MAX_INVITATION_BYTES = 4096
NOT_INVITED = "not invited"  # the start of the practitioner's rejection reason
CODE_LETTERS = 25  # base32 letters of an invitation code (125 random bits)
_CODE = re.compile(rf"^[A-Z2-7]{{{CODE_LETTERS}}}$")


@dataclass(frozen=True)
class Invitation:
    chain_id: int
    board: str  # EIP-55
    bounty_id: int
    contributor: str  # EIP-55
    signature: str  # 0x + 130 hex

    def to_json(self) -> dict[str, Any]:
        return {"quarryInvitation": 1, "chainId": self.chain_id, "board": self.board,
                "bountyId": self.bounty_id, "contributor": self.contributor,
                "signature": self.signature}

    def signer(self) -> str:
        """Who signed it (InvalidInput when the signature is malformed)."""
        message = {"bountyId": self.bounty_id, "contributor": self.contributor}
        try:
            encoded = encode_typed_data(domain(self.chain_id, self.board), INVITATION_TYPES, message)
            return Account.recover_message(encoded, signature=self.signature)
        except Exception as exc:  # eth-account raises several types for malformed signatures
            raise InvalidInput(f"The invitation's signature is malformed: {exc}") from exc


def sign_invitation(signer: LocalAccount, chain_id: int, board: str, bounty_id: int,
                    contributor: str) -> Invitation:
    """The practitioner's invitation of `contributor` to `bounty_id`."""
    board = check_address(board, "board address")
    contributor = check_address(contributor, "contributor", require_checksum=True)
    message = {"bountyId": int(bounty_id), "contributor": contributor}
    signed = signer.sign_typed_data(domain(chain_id, board), INVITATION_TYPES, message)
    return Invitation(int(chain_id), board, int(bounty_id), contributor,
                      "0x" + bytes(signed.signature).hex())


def read_invitation_file(path: str | os.PathLike[str]) -> bytes:
    """An invitation file's bytes (one byte past the limit at most, so parse_invitation says
    it is too large); InvalidInput when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_INVITATION_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def parse_invitation(data: bytes) -> Invitation:
    """An invitation file's contents; InvalidInput says what is wrong with it."""
    if len(data) > MAX_INVITATION_BYTES:
        raise InvalidInput(f"This is not an invitation: the file is larger than {MAX_INVITATION_BYTES} bytes.")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("This is not an invitation: the file is not JSON.") from exc
    if not isinstance(obj, dict) or obj.get("quarryInvitation") != 1:
        raise InvalidInput("This is not a Quarry invitation (version 1).")
    missing = [k for k in ("chainId", "board", "bountyId", "contributor", "signature") if k not in obj]
    if missing:
        raise InvalidInput(f"The invitation lacks {', '.join(missing)}.")
    for name in ("chainId", "bountyId"):
        value = obj[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**256:
            raise InvalidInput(f"The invitation's {name} must be a non-negative integer.")
    signature = obj["signature"]
    if not isinstance(signature, str) or len(signature) != 132 or not signature.startswith("0x"):
        raise InvalidInput("The invitation's signature must be 0x + 65 bytes in hex.")
    return Invitation(obj["chainId"], check_address(obj["board"], "board address in the invitation"),
                      obj["bountyId"], check_address(obj["contributor"], "contributor in the invitation"),
                      signature)


def check_invitation(invitation: Invitation, *, chain_id: int, board: str, bounty_id: int,
                     contributor: str, signer: str) -> None:
    """InvalidInput unless it invites `contributor` to this bounty, signed by `signer` (the spec's)."""
    if invitation.chain_id != int(chain_id) or invitation.board.lower() != board.lower():
        raise InvalidInput("This invitation is for a bounty on another network or board.")
    if invitation.bounty_id != int(bounty_id):
        raise InvalidInput(f"This invitation is for bounty {invitation.bounty_id}, not bounty {bounty_id}.")
    if invitation.contributor.lower() != contributor.lower():
        raise InvalidInput(f"This invitation is for {invitation.contributor}, not for {contributor}.")
    if invitation.signer().lower() != signer.lower():
        raise InvalidInput("This invitation was not signed by the bounty's practitioner (the spec's "
                           f"invitation signer {signer}).")


def normalize_code(code: str) -> str:
    """An invitation code as its 25 base32 letters (case, spaces and dashes ignored);
    InvalidInput when it cannot be one."""
    letters = re.sub(r"[\s-]", "", str(code)).upper()
    if not _CODE.match(letters):
        raise InvalidInput(f"This is not an invitation code: a code is {CODE_LETTERS} letters A-Z and "
                           "digits 2-7, in groups of 5 (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX).")
    return letters


def invitation_path(home: str | os.PathLike[str], chain_id: int, board: str, bounty_id: int,
                    contributor: str) -> Path:
    board = check_address(board, "board address")
    contributor = check_address(contributor, "contributor")
    return (Path(home) / INVITATIONS_DIR / f"{int(chain_id)}-{board.lower()}" / str(int(bounty_id))
            / f"{contributor.lower()}.json")


def keep_invitation(home: str | os.PathLike[str], invitation: Invitation) -> Path:
    """Keep a checked invitation at home (atomically); returns where."""
    path = invitation_path(home, invitation.chain_id, invitation.board, invitation.bounty_id,
                           invitation.contributor)
    atomic_write_text(path, json.dumps(invitation.to_json(), indent=1) + "\n")
    return path


def kept_invitation(home: str | os.PathLike[str], chain_id: int, board: str, bounty_id: int,
                    contributor: str, signer: str) -> Invitation | None:
    """The invitation kept for `contributor`, if it is one the spec's signer signed."""
    path = invitation_path(home, chain_id, board, bounty_id, contributor)
    try:
        invitation = parse_invitation(path.read_bytes())
        check_invitation(invitation, chain_id=chain_id, board=board, bounty_id=bounty_id,
                         contributor=contributor, signer=signer)
    except (OSError, InvalidInput):
        return None
    return invitation


def not_invited_message(bounty_id: int) -> str:
    return (f"Bounty {bounty_id} is by invitation: its practitioner values only the updates of the "
            "people it invited. Add the invitation it sent you ('quarry invitation add FILE', or "
            f"'quarry invitation redeem {bounty_id} CODE' for a code; in the app, Add invitation… on "
            "the Bounties page) and train again.")


def home_of(client: Any, store: Any = None) -> Path | None:
    """The wallet's home a client (or a given store) keeps its files in; None without one."""
    for holder in (store, getattr(client, "store", None)):
        if holder is not None:
            return Path(holder.home)
    return None


def require_invitation(client: Any, spec: Any, bounty_id: int, account: str, store: Any = None) -> None:
    """InvalidInput, before any training, when the bounty is by invitation and this wallet keeps
    no invitation of `account` signed by the spec's signer."""
    signer = spec.invitation_signer
    if signer is None:
        return
    home = home_of(client, store)
    if home is None or kept_invitation(home, client.chain_id, client.board_address, bounty_id,
                                       account, signer) is None:
        raise InvalidInput(not_invited_message(bounty_id))


def _invitation_spec(client: Any, bounty_id: int) -> dict[str, Any]:
    """The bounty's hash-checked spec, which must name an invitation signer."""
    spec, problem = client.fetch_spec(client.bounty(bounty_id))
    if spec is None:
        raise InvalidInput(f"Bounty {bounty_id}'s spec cannot be used: {problem}")
    if not spec.get("invitation_signer"):
        raise InvalidInput(f"Bounty {bounty_id} is open to everyone: it needs no invitation.")
    return spec


def _wallet_home(client: Any, store: Any) -> Path:
    home = home_of(client, store)
    if home is None:
        raise InvalidInput("Keeping an invitation needs the wallet's home.")
    return home


def redeem_invitation_code(client: Any, bounty_id: int, code: str, *, account: str,
                           store: Any = None) -> Invitation:
    """Redeem a practitioner's invitation code for `account` at the inbox the bounty's spec
    names, check the invitation it answers (signer, bounty, board, chain, account) and keep it."""
    letters = normalize_code(code)  # a mistyped code is refused before anything is sent
    account = check_address(account, "account")
    home = _wallet_home(client, store)
    spec = _invitation_spec(client, bounty_id)
    inbox = str(spec.get("inbox_url") or "")
    if not inbox:
        raise InvalidInput(f"Bounty {bounty_id}'s practitioner runs no inbox (its spec names none), so its "
                           "codes cannot be redeemed; ask it for an invitation file.")
    try:
        answer = post_json(inbox, "/invitations", {"bountyId": int(bounty_id), "code": letters,
                                                   "contributor": account})
    except InboxRefusal as exc:
        messages = {403: "its practitioner does not know this code for this bounty; check the code",
                    409: "this code was already used for another address; each code invites one address",
                    404: ("its inbox does not redeem invitation codes for this bounty (it runs without the key "
                           "that signs the bounty's invitations); ask the practitioner for an invitation file"),
                    429: "its inbox is rate limiting; try again later"}
        # the inbox is a stranger's server: its own words only where no message of ours fits
        reason = messages.get(exc.status) or printable(exc.reason)[:200]
        raise InvalidInput(f"The invitation code was not accepted: {reason}.") from exc
    invitation = answer.get("invitation")
    if not isinstance(invitation, dict):
        raise NetworkError(f"The inbox at {inbox} answered without an invitation.")
    parsed = parse_invitation(json.dumps(invitation).encode())
    check_invitation(parsed, chain_id=client.chain_id, board=client.board_address, bounty_id=bounty_id,
                     contributor=account, signer=str(spec["invitation_signer"]))
    keep_invitation(home, parsed)
    return parsed


def add_invitation(client: Any, data: bytes, *, account: str | None = None, store: Any = None) -> Invitation:
    """Check an invitation file against the chain (its bounty's spec names the signer; the
    account, when given, must be the one invited) and keep it at home."""
    invitation = parse_invitation(data)
    if invitation.chain_id != int(client.chain_id) or invitation.board.lower() != client.board_address.lower():
        raise InvalidInput(f"This invitation is for chain {invitation.chain_id}, board {invitation.board}; "
                           f"the current network is chain {client.chain_id}, board {client.board_address}.")
    home = _wallet_home(client, store)
    signer = _invitation_spec(client, invitation.bounty_id)["invitation_signer"]  # hash-checked
    check_invitation(invitation, chain_id=client.chain_id, board=client.board_address,
                     bounty_id=invitation.bounty_id, contributor=account or invitation.contributor,
                     signer=str(signer))
    keep_invitation(home, invitation)
    return invitation
