"""EIP-712 typed data for BountyBoard's gasless path: the data owner signs a Submission,
anyone relays it with `submitWithSignature`.

Domain `{name: "QuarryBountyBoard", version: "1", chainId, verifyingContract}`, type
`Submission(uint256 bountyId,uint32 round,bytes32 blobHash,string uri,address contributor,
uint256 deadline)` (docs/PROTOCOL.md). Signing and recovery use eth-account.

In the same domain, `SentBlobRequest(uint256 bountyId,uint32 round,address contributor,uint256
deadline)`: an owner asks a practitioner's inbox for the blob it submitted to a finalised round
(`POST /sent-blobs`), which only the contributor's key can sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from wallet.blob_store import check_hash
from wallet.errors import InvalidInput
from wallet.network import check_address

DOMAIN_NAME = "QuarryBountyBoard"
DOMAIN_VERSION = "1"
SUBMISSION_TYPES = {
    "Submission": [
        {"name": "bountyId", "type": "uint256"},
        {"name": "round", "type": "uint32"},
        {"name": "blobHash", "type": "bytes32"},
        {"name": "uri", "type": "string"},
        {"name": "contributor", "type": "address"},
        {"name": "deadline", "type": "uint256"},
    ]
}
MAX_URI_LENGTH = 2048


@dataclass(frozen=True)
class Submission:
    bounty_id: int
    round: int
    blob_hash: str  # 0x + 64 hex
    uri: str
    contributor: str  # EIP-55
    deadline: int  # unix seconds after which the signature is void

    def message(self) -> dict[str, Any]:
        return {
            "bountyId": self.bounty_id, "round": self.round,
            "blobHash": bytes.fromhex(self.blob_hash[2:]), "uri": self.uri,
            "contributor": self.contributor, "deadline": self.deadline,
        }


def _check_uints(bounty_id: Any, round_: Any, deadline: Any) -> None:
    """bountyId (uint256), round (uint32) and deadline (uint256) in range; else InvalidInput."""
    for name, value, bits in (("bountyId", bounty_id, 256), ("round", round_, 32), ("deadline", deadline, 256)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
            raise InvalidInput(f"{name} must be an integer in [0, 2^{bits}): {value!r}")


def domain(chain_id: int, board: str) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": int(chain_id),
            "verifyingContract": check_address(board, "bounty board address")}


def make_submission(bounty_id: int, round_: int, blob_hash: str, uri: str, contributor: str,
                    deadline: int) -> Submission:
    """A validated Submission (InvalidInput on anything out of range)."""
    _check_uints(bounty_id, round_, deadline)
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise InvalidInput("The blob URI must be a non-empty string of at most 2048 characters.")
    return Submission(bounty_id, round_, check_hash(blob_hash), uri,
                      check_address(contributor, "contributor"), deadline)


def sign_submission(signer: LocalAccount, chain_id: int, board: str, submission: Submission) -> str:
    """The contributor's EIP-712 signature (0x + 65 bytes hex)."""
    if signer.address != submission.contributor:
        raise InvalidInput(f"The submission is for {submission.contributor}, not {signer.address}.")
    signed = signer.sign_typed_data(domain(chain_id, board), SUBMISSION_TYPES, submission.message())
    return "0x" + bytes(signed.signature).hex()


def recover_signer(chain_id: int, board: str, submission: Submission, signature: str) -> str:
    """Who signed this Submission (to refuse a bad relay request before paying gas)."""
    try:
        encoded = encode_typed_data(domain(chain_id, board), SUBMISSION_TYPES, submission.message())
        return Account.recover_message(encoded, signature=signature)
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise InvalidInput(f"The signature is malformed: {exc}") from exc


def relay_payload(submission: Submission, signature: str) -> dict[str, Any]:
    """The JSON body of the inbox's POST /relay (docs/PROTOCOL.md)."""
    return {
        "bountyId": submission.bounty_id, "round": submission.round,
        "blobHash": submission.blob_hash, "uri": submission.uri,
        "contributor": submission.contributor, "deadline": submission.deadline,
        "signature": signature,
    }


def submission_from_payload(payload: Any) -> tuple[Submission, str]:
    """Parse and validate a relay request body; InvalidInput names what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidInput("The relay request must be a JSON object.")
    fields = ("bountyId", "round", "blobHash", "uri", "contributor", "deadline", "signature")
    missing = [name for name in fields if name not in payload]
    if missing:
        raise InvalidInput(f"The relay request lacks {', '.join(missing)}.")

    def integer(name: str) -> int:
        value = payload[name]
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be an integer.")
        return value

    signature = payload["signature"]
    if not isinstance(signature, str) or not signature.startswith("0x") or len(signature) != 132:
        raise InvalidInput("The signature must be 0x + 65 bytes in hex.")
    try:
        bytes.fromhex(signature[2:])
    except ValueError as exc:
        raise InvalidInput("The signature is not hex.") from exc
    submission = make_submission(
        integer("bountyId"), integer("round"), payload["blobHash"], payload["uri"],
        payload["contributor"], integer("deadline"),
    )
    return submission, signature


# -- asking an inbox for one's own blob back (wallet.recover, practitioner.admission) ----------

SENT_BLOB_TYPES = {
    "SentBlobRequest": [
        {"name": "bountyId", "type": "uint256"},
        {"name": "round", "type": "uint32"},
        {"name": "contributor", "type": "address"},
        {"name": "deadline", "type": "uint256"},
    ]
}
SENT_BLOB_FIELDS = ("bountyId", "round", "contributor", "deadline", "signature")
# how long a request stays good: the wallet asks for 10 minutes, an inbox takes at most an hour
SENT_BLOB_REQUEST_SECONDS = 600
SENT_BLOB_MAX_SECONDS = 3600


@dataclass(frozen=True)
class SentBlobRequest:
    """An owner asking a practitioner's inbox for the blob it submitted to a round (a wallet
    restored on another computer names its copy proofs and openings by the blob's bytes)."""

    bounty_id: int
    round: int
    contributor: str  # EIP-55
    deadline: int  # unix seconds after which the signature is void

    def message(self) -> dict[str, Any]:
        return {"bountyId": self.bounty_id, "round": self.round, "contributor": self.contributor,
                "deadline": self.deadline}


def make_sent_blob_request(bounty_id: int, round_: int, contributor: str, deadline: int) -> SentBlobRequest:
    _check_uints(bounty_id, round_, deadline)
    return SentBlobRequest(bounty_id, round_, check_address(contributor, "contributor"), deadline)


def sent_blob_payload(signer: LocalAccount, chain_id: int, board: str, request: SentBlobRequest) -> dict[str, Any]:
    """The JSON body of the inbox's POST /sent-blobs, signed by the contributor."""
    if signer.address != request.contributor:
        raise InvalidInput(f"The request is for {request.contributor}, not {signer.address}.")
    signed = signer.sign_typed_data(domain(chain_id, board), SENT_BLOB_TYPES, request.message())
    return {"bountyId": request.bounty_id, "round": request.round, "contributor": request.contributor,
            "deadline": request.deadline, "signature": "0x" + bytes(signed.signature).hex()}


def sent_blob_request_from_payload(payload: Any, chain_id: int, board: str) -> SentBlobRequest:
    """A POST /sent-blobs body, its signature checked: the request, when the contributor it
    names signed it; InvalidInput naming what is wrong otherwise."""
    if not isinstance(payload, dict) or sorted(payload) != sorted(SENT_BLOB_FIELDS):
        raise InvalidInput(f"The request must have exactly: {', '.join(SENT_BLOB_FIELDS)}.")
    signature = payload["signature"]
    if not isinstance(signature, str) or not re.fullmatch(r"0x[0-9a-fA-F]{130}", signature):
        raise InvalidInput("The signature must be 0x + 65 bytes in hex.")
    if not isinstance(payload["contributor"], str):
        raise InvalidInput("contributor must be an address.")
    request = make_sent_blob_request(payload["bountyId"], payload["round"], payload["contributor"],
                                     payload["deadline"])
    try:
        encoded = encode_typed_data(domain(chain_id, board), SENT_BLOB_TYPES, request.message())
        signer = Account.recover_message(encoded, signature=signature)
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise InvalidInput(f"The signature is malformed: {exc}") from exc
    if signer != request.contributor:
        raise InvalidInput(f"The request for {request.contributor}'s blob is not signed by {request.contributor}.")
    return request
