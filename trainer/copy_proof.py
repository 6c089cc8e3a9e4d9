"""Copy proofs (docs/PROTOCOL.md, Valuation step 2; bounties with `valuation_rules` >= 2).

A report that counts an owner's update as a copy pays it nothing, and before copy proofs
whether the two updates were copies at all was the practitioner's word: it could credit every
honest owner to an earlier address of its own. Now the practitioner opens, for the owner it
counts as a copy and for no one else, the blobs that make the claim: each blob on the path of
copy links from that owner's update to the credited original, with every ciphertext's
plaintext and Paillier nonce. A nonce proves a decryption without the private key: a Paillier
ciphertext is c = (1 + m n) rho^n mod n^2 for exactly one (m, rho), and holding the key's
factors the practitioner computes rho = c^(n^-1 mod phi(n)) mod n. The owner's wallet checks:

- each blob hashes to that address's submission on chain and parses under the bounty's key
  and encoding;
- each (m, rho) opens its ciphertext, so the decoded update is what the practitioner decrypted;
- its own kept update (on a computer that lost it, the proof's opening of the copy's own
  blob, `"own"`, checked like a step) and the path's first update, and each next pair, are
  copies by the protocol's rule on cosines (`is_copy_link`): above COPY_EXACT_COSINE, or from
  COPY_NOISE_MIN_PARAMS parameters above COPY_COSINE (the rule's residual part depends on the
  round's other updates, which the owner does not see, so it stays the practitioner's word);
  under COPY_DIRECTION_MIN_PARAMS parameters (valuation_rules 4), exact positive multiples only.

Who may read a proof: the owner it counts as a copy. The proof is stored under a token,
keccak256 of a domain tag, the bounty, round, the owner's address and its blob's bytes, which
only the owner and the practitioner hold (the chain has the blob's plain hash, and the inbox
never serves an owner's blob): the owner's wallet keeps the token when it submits
(`copy_proof_token`). A bounty that opens its updates at the reveal (trainer.openings) shows
every counted blob to the round's contributors, who can then name each other's tokens: those
name the same opening, and no copy proof (a copy's blob is never in an opening, and a proof
opens only counted blobs, which the opening shows them anyway). A proof opens another owner's update to the owner claimed to copy it;
when the claim is true that update is its own, up to noise and scale.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import gmpy2
import numpy as np
from eth_hash.auto import keccak
from phe import paillier

from trainer import jsonsafe
from trainer.alignment import cosine
from trainer.encoding import EncodingParams, decode_sum, unpack_sums
from trainer.errors import BlobError, EncodingError
from trainer.spec import SMALL_MODEL_COPY_RULES, VALUATION_RULES
from trainer.update_blob import UpdateBlob, blob_hash, blob_size, parse_blob

PROOF_KIND = "quarry-copy-proof"
PROOF_VERSION = 1
# A copy more links than this from its original gets no proof (its owner's wallet then says
# Mismatch): honest copies of every kind the rule covers link to it directly, and only a chain
# of near-copies built link by link gets further, whose proofs would otherwise grow as the
# square of its length.
MAX_PROOF_LINKS = 8
_TOKEN_TAG = b"quarry/copy-proof/v1"

# The copy rule (Valuation step 2; trainer.shapley.copy_groups uses these)
COPY_EXACT_COSINE = 1.0 - 1e-6
COPY_COSINE = 0.995
COPY_RESIDUAL_COSINE = 0.8
COPY_NOISE_MIN_PARAMS = 100
# Below this many parameters no rule on approximate direction tells a copy from an honest
# owner, so only exact positive multiples are copies (`exact_direction`; bounties of
# valuation_rules >= SMALL_MODEL_COPY_RULES): what a copier holding another owner's
# ciphertext makes of it without adding noise.
# Measured (one to three columns of six real tables, 20 splits, 840 pairs of owners with
# disjoint rows each): on 2 parameters disjoint owners came within the exact rule's 1 - 1e-6 on
# four tables (1-4 pairs of 840), within 1e-8 on one; on 3 parameters two were exactly
# collinear (two discrete columns: an owner whose rows share one point trains along that
# point's direction, whatever its labels); from 4 parameters the closest pair was 1 - 8.7e-5.
COPY_DIRECTION_MIN_PARAMS = 4
# what two float64 evaluations of one cosine may differ by (the Gram matrix against np.dot)
LINK_TOLERANCE = 1e-9

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH = re.compile(r"^0x[0-9a-f]{64}$")


class CopyProofError(BlobError):
    """A copy proof that cannot be read: the practitioner's fault, never the owner's."""


def copy_proof_token(bounty_id: int, round_index: int, address: str, blob: bytes) -> str:
    """The name a copy proof is served under: keccak256 of the domain tag, bounty (u64), round
    (u32), the copied owner's address (20 bytes) and its update blob's bytes. The chain holds
    only keccak256 of the blob alone, and the inbox never serves an owner's blob, so only the
    owner (its wallet keeps the token when it submits, `wallet.kept_updates`) and the
    practitioner can name it."""
    if not _ADDRESS.match(address):
        raise ValueError(f"not an address: {address!r}")
    data = (_TOKEN_TAG + int(bounty_id).to_bytes(8, "big") + int(round_index).to_bytes(4, "big")
            + bytes.fromhex(address[2:]) + bytes(blob))
    return "0x" + keccak(data).hex()


def exact_direction(update: np.ndarray) -> tuple[int, ...] | None:
    """The update's exact direction: its values (binary fractions, as decoded from fixed
    point) as integers over a common denominator, divided by their greatest common divisor.
    Two updates have the same one exactly when one is a positive rational multiple of the
    other, as a re-randomised ciphertext (the same plaintext) or one raised to an integer
    power (k times it) decrypts to; two honest updates of more than a few fixed-point steps
    essentially never do. None for a zero or non-finite update."""
    values = np.asarray(update, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or not values.any():
        return None
    fractions = [Fraction(float(v)) for v in values]  # exact: a float is a binary fraction
    denominator = math.lcm(*(f.denominator for f in fractions))
    integers = [int(f * denominator) for f in fractions]
    divisor = math.gcd(*integers)
    return tuple(i // divisor for i in integers)


def copies_by_direction(n_params: int, rules: int = VALUATION_RULES) -> bool:
    """Whether the copy rule may call two different updates copies by their direction: on
    models of COPY_DIRECTION_MIN_PARAMS parameters or more, and on every model of a bounty
    posted before valuation_rules SMALL_MODEL_COPY_RULES (its reports followed the old rule)."""
    return n_params >= COPY_DIRECTION_MIN_PARAMS or rules < SMALL_MODEL_COPY_RULES


def copy_rule_text(n_params: int, rules: int = VALUATION_RULES) -> str:
    """What the copy rule asks of a pair, in words, for messages."""
    if not copies_by_direction(n_params, rules):
        return (f"on a model of {n_params} parameters the rule asks for exact multiples "
                "(the same plaintext, or a positive multiple of it)")
    threshold = COPY_COSINE if n_params >= COPY_NOISE_MIN_PARAMS else COPY_EXACT_COSINE
    return f"the rule asks more than {threshold}"


def is_copy_link(a: np.ndarray, b: np.ndarray, rules: int = VALUATION_RULES) -> bool:
    """Whether two updates can be copies by the protocol's rule, as far as the pair alone
    decides it: cosine above COPY_EXACT_COSINE, or from COPY_NOISE_MIN_PARAMS parameters above
    COPY_COSINE (where the rule also asks their residuals, after the round's common direction,
    to agree: that part needs the other updates); under COPY_DIRECTION_MIN_PARAMS parameters
    (`rules` from SMALL_MODEL_COPY_RULES), exact positive multiples only (`exact_direction`)."""
    if not copies_by_direction(a.size, rules):
        key = exact_direction(a)
        return key is not None and np.shape(a) == np.shape(b) and key == exact_direction(b)
    value = cosine(a, b)
    threshold = COPY_COSINE if a.size >= COPY_NOISE_MIN_PARAMS else COPY_EXACT_COSINE
    return value > threshold - LINK_TOLERANCE


# -- the practitioner's side: opening ciphertexts -------------------------------------------


def decryption_nonce(private_key: paillier.PaillierPrivateKey, ciphertext: int) -> int:
    """rho with c = (1 + m n) rho^n mod n^2: c = rho^n mod n, and n is invertible mod phi(n),
    so rho = c^(n^-1 mod phi(n)) mod n, computed mod p and mod q (CRT)."""
    n, p, q = private_key.public_key.n, private_key.p, private_key.q
    exponent = int(gmpy2.invert(n, (p - 1) * (q - 1)))
    c = int(ciphertext)
    rho_p = gmpy2.powmod(c % p, exponent % (p - 1), p)
    rho_q = gmpy2.powmod(c % q, exponent % (q - 1), q)
    # rho = rho_q + q * ((rho_p - rho_q) q^-1 mod p)
    return int(rho_q + q * ((rho_p - rho_q) * gmpy2.invert(q, p) % p))


def opens(n: int, ciphertext: int, plaintext: int, nonce: int) -> bool:
    """Whether (plaintext, nonce) is the decryption of `ciphertext` under the key n."""
    if not (0 <= plaintext < n and 0 < nonce < n):
        return False
    n2 = n * n
    return (1 + plaintext * n) * int(gmpy2.powmod(nonce, n, n2)) % n2 == int(ciphertext) % n2


def open_blob(private_key: paillier.PaillierPrivateKey, blob: UpdateBlob) -> tuple[list[int], list[int]]:
    """Every ciphertext's (plaintext, nonce) of one update blob."""
    plaintexts = [int(private_key.raw_decrypt(c)) for c in blob.ciphertexts]
    nonces = [decryption_nonce(private_key, c) for c in blob.ciphertexts]
    return plaintexts, nonces


@dataclass(frozen=True)
class OpenedBlob:
    address: str
    blob_hash: str
    data: bytes
    plaintexts: Sequence[int]
    nonces: Sequence[int]


def max_proof_bytes(n_params: int, encoding: EncodingParams) -> int:
    """The largest proof of MAX_PROOF_LINKS links an honest practitioner writes for this
    model and encoding (its blobs have a fixed size): a longer answer is no proof."""
    ciphertexts = encoding.n_plaintexts(n_params)
    blob = blob_size(n_params, encoding)
    numbers = 2 * ciphertexts * (2 + 2 * (encoding.key_bits // 8 + 1) + 3)  # "0x..." and separators
    return MAX_PROOF_LINKS * (4 * blob // 3 + 4 + numbers + 1024) + 1024


def copy_proof_bytes(bounty_id: int, round_index: int, address: str, copy_of: str,
                     path: Sequence[OpenedBlob], own: OpenedBlob | None = None) -> bytes:
    """The proof's canonical JSON: the path of opened blobs from `address`'s neighbour to the
    credited original `copy_of` (its last member), and with `own` the copy's own blob opened
    (`"own"`), which proves the copy's update to an owner whose computer no longer keeps it."""
    doc: dict[str, Any] = {
        "kind": PROOF_KIND, "version": PROOF_VERSION, "bountyId": int(bounty_id),
        "round": int(round_index), "address": address, "copyOf": copy_of,
        "path": [opened_step(step) for step in path],
    }
    if own is not None:
        doc["own"] = opened_step(own)
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class OwnUpdateUnknown(CopyProofError):
    """The owner keeps no copy of its update and the proof does not open it (a proof written
    before proofs opened the copy's own blob): the claim cannot be checked, no one's fault."""


# -- the owner's side: checking a proof -----------------------------------------------------


def doc_field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CopyProofError(f"its {name!r} is missing or not a {kind.__name__}")
    return value


def _integers(values: Any, name: str, count: int) -> list[int]:
    if not isinstance(values, list) or len(values) != count:
        raise CopyProofError(f"its {name} do not match the blob's {count} ciphertexts")
    out = []
    for value in values:
        if not isinstance(value, str) or not value.startswith("0x") or len(value) > 2 + 2 * 1024:
            raise CopyProofError(f"its {name} are not 0x hex numbers")
        try:
            out.append(int(value, 16))
        except ValueError as exc:
            raise CopyProofError(f"its {name} are not 0x hex numbers") from exc
    return out


def check_copy_proof(
    data: bytes,
    *,
    bounty_id: int,
    round_index: int,
    address: str,
    copy_of: str,
    kept: np.ndarray | None,
    public_key: paillier.PaillierPublicKey,
    encoding: EncodingParams,
    submitted_hash: Callable[[str], str | None],
    listed: Collection[str] | None = None,
    n_params: int | None = None,
    rules: int = VALUATION_RULES,
) -> list[str]:
    """What in a copy proof does not hold, in words (empty: the claim that `address`'s update
    `kept` copies `copy_of`'s is proved as far as an owner can check it).
    `kept` None (this computer lost it; give `n_params`): the proof's `"own"` opening of
    `address`'s blob, checked like every step, stands in for it (OwnUpdateUnknown without one).
    `submitted_hash(address)`: that address's blob hash in the round on chain (None: none);
    `listed`: the addresses the report counts (its contributor lines), which every step must be;
    `rules`: the bounty spec's `valuation_rules` (which copy rule its links follow).
    Everything cheap (size, header, hashes) is checked before any Paillier arithmetic."""
    if kept is not None:
        kept = np.asarray(kept, dtype=np.float64)
        n_params = kept.size
    if n_params is None:
        raise ValueError("check_copy_proof needs the kept update or the model's parameter count")
    limit = max_proof_bytes(n_params, encoding)
    if len(data) > limit:
        return [f"the proof is {len(data)} bytes, more than a proof of {MAX_PROOF_LINKS} links can be ({limit})"]
    doc = read_round_doc(data, PROOF_KIND, PROOF_VERSION, "copy proof")
    if (doc_field(doc, "bountyId", int), doc_field(doc, "round", int)) != (bounty_id, round_index):
        return [f"the proof is for bounty {doc['bountyId']} round {doc['round'] + 1}"]
    if str(doc_field(doc, "address", str)).lower() != address.lower() \
            or str(doc_field(doc, "copyOf", str)).lower() != copy_of.lower():
        return [f"the proof is for {doc['address']} as a copy of {doc['copyOf']}"]
    path = doc_field(doc, "path", list)
    if not path or len(path) > MAX_PROOF_LINKS:
        return [f"the proof's path has {len(path)} links (1 to {MAX_PROOF_LINKS})"]
    if not all(isinstance(step, dict) for step in path):
        raise CopyProofError("a step of the copy proof's path is not an object")
    if str(path[-1].get("address", "")).lower() != copy_of.lower():
        return [f"the proof's path ends at {path[-1].get('address')}, not at {copy_of}"]
    if kept is None:
        if "own" not in doc:
            raise OwnUpdateUnknown("the proof does not open your own blob")
        problem, who, kept = check_opened_step(
            doc["own"], bounty_id=bounty_id, round_index=round_index, n_params=n_params,
            public_key=public_key, encoding=encoding, submitted_hash=submitted_hash, seen=set(),
            counted=None, what="proof")
        if problem:
            return [problem]
        if who.lower() != address.lower():
            return [f"the proof opens {who}'s blob as yours"]
    previous, previous_name = kept, "your update"
    seen = {address.lower()}
    counted = None if listed is None else {who.lower() for who in listed}
    for step in path:
        problem, who, update = check_opened_step(
            step, bounty_id=bounty_id, round_index=round_index, n_params=n_params, public_key=public_key,
            encoding=encoding, submitted_hash=submitted_hash, seen=seen, counted=counted, what="proof")
        if problem:
            return [problem]
        if not is_copy_link(previous, update, rules):
            return [f"{previous_name} and {who}'s are no copies: cosine {cosine(previous, update):.6f} "
                    f"({copy_rule_text(update.size, rules)})"]
        previous, previous_name = update, f"{who}'s update"
    return []


def read_round_doc(data: bytes, kind: str, version: int, what: str) -> dict[str, Any]:
    """A copy proof's or a round opening's JSON object of this kind and version, read with a
    nesting limit; CopyProofError when it is none."""
    try:
        doc = jsonsafe.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CopyProofError(f"the {what} is not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("kind") != kind or doc.get("version") != version:
        raise CopyProofError(f"not a version-{version} {what}")
    return doc


def check_opened_step(
    step: Any,
    *,
    bounty_id: int,
    round_index: int,
    n_params: int,
    public_key: paillier.PaillierPublicKey,
    encoding: EncodingParams,
    submitted_hash: Callable[[str], str | None],
    seen: set[str],
    counted: Collection[str] | None,
    what: str,
) -> tuple[str, str, np.ndarray]:
    """One opened blob of a copy proof or a round's opening (trainer.openings): (what does
    not hold, or ""; the address it names; its decoded update). It must name an address not
    in `seen` (added to it) and in `counted` (when given), hash to that address's submission
    to this round on chain, parse under the bounty's key and encoding with this round's header,
    and each (plaintext, nonce) must open its ciphertext. CopyProofError when it cannot be
    read at all; the cheap checks come before any Paillier arithmetic."""
    if not isinstance(step, dict):
        raise CopyProofError(f"a blob the {what} opens is not an object")
    who = doc_field(step, "address", str)
    claimed_hash = str(doc_field(step, "blobHash", str)).lower()
    if not _ADDRESS.match(who) or not _HASH.match(claimed_hash):
        raise CopyProofError(f"a blob the {what} opens names no address or blob hash")
    none = np.zeros(0)
    if who.lower() in seen:
        twice = f"the proof's path visits {who} twice" if what == "proof" else f"the {what} opens {who}'s blob twice"
        return twice, who, none
    seen.add(who.lower())
    if counted is not None and who.lower() not in counted:
        return f"the {what} opens {who}'s blob, which the report does not count", who, none
    on_chain = submitted_hash(who)
    if on_chain is None or on_chain.lower() != claimed_hash:
        return f"the {what} opens a blob {claimed_hash} that {who} did not submit to this round", who, none
    try:
        blob_bytes = base64.b64decode(doc_field(step, "blob", str), validate=True)
    except ValueError as exc:
        raise CopyProofError(f"a blob in the {what} is not base64") from exc
    if blob_hash(blob_bytes) != claimed_hash:
        return f"the blob the {what} opens for {who} does not hash to its submission", who, none
    try:
        blob = parse_blob(blob_bytes, public_key, None, encoding)
    except BlobError as exc:
        return f"{who}'s blob does not parse under the bounty's key and encoding ({exc})", who, none
    if (blob.bounty_id, blob.round, blob.n_params) != (bounty_id, round_index, n_params):
        return (f"{who}'s blob is for bounty {blob.bounty_id} round {blob.round + 1} with "
                f"{blob.n_params} parameters, not this round's model"), who, none
    count = len(blob.ciphertexts)
    plaintexts = _integers(step.get("plaintexts"), "plaintexts", count)
    nonces = _integers(step.get("nonces"), "nonces", count)
    n = public_key.n
    if not all(opens(n, c, m, r) for c, m, r in zip(blob.ciphertexts, plaintexts, nonces, strict=True)):
        return f"the {what}'s plaintexts are not the decryption of {who}'s blob", who, none
    try:
        update = decode_sum(unpack_sums(plaintexts, blob.n_params, 1, encoding), 1, encoding)
    except EncodingError as exc:
        return f"{who}'s decrypted blob is not an update ({exc})", who, none
    return "", who, update


def opened_step(step: OpenedBlob) -> dict[str, Any]:
    """One opened blob as a copy proof or a round's opening writes it."""
    return {"address": step.address, "blobHash": step.blob_hash,
            "blob": base64.b64encode(step.data).decode("ascii"),
            "plaintexts": [hex(m) for m in step.plaintexts],
            "nonces": [hex(r) for r in step.nonces]}
