"""The encrypted-update blob: a versioned binary header plus fixed-width ciphertexts.

Layout (all integers big-endian, no padding), version 1:

    offset size  field
    0      4     magic b"QRYU"
    4      2     version (u16) = 1
    6      8     bounty id (u64)
    14     4     round (u32)
    18     4     parameter count (u32, >= 1)
    22     1     precision_bits (u8)
    23     8     clip (IEEE-754 float64)
    31     4     max_contributors (u32)
    35     1     slot width in bits (u8)
    36     2     slots per ciphertext (u16)
    38     2     Paillier key size in bits (u16)
    40     32    public-key fingerprint = keccak256(n as minimal big-endian bytes)
    72     4     sample count (u32, >= 1): DECLARED_SAMPLES (1) from this wallet, whatever its rows
                 (older wallets wrote their row count); nothing reads it
    76     4     ciphertext count (u32) = ceil(parameter count / slots per ciphertext)
    80     2     ciphertext byte width (u16) = ceil(2 * key bits / 8)
    82     ...   ciphertexts, each `width` bytes, big-endian, 0 < c < n^2, gcd(c, n) = 1

Slot width and slots per ciphertext are stored for readers' convenience and must equal what
trainer.encoding derives from (precision_bits, clip, max_contributors, key bits). The blob's
identity is keccak256 of all its bytes (`blob_hash`). Never pickled.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2
from eth_hash.auto import keccak
from phe import paillier

from trainer.encoding import EncodingParams
from trainer.errors import BlobError, EncodingError
from trainer.spec import key_fingerprint

MAGIC = b"QRYU"
VERSION = 1
_HEADER = struct.Struct(">4sHQIIBdIBHH32sIIH")
HEADER_SIZE = _HEADER.size  # 82
DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024
# The sample count the wallet writes in every header, whatever its rows: a true count would tell
# the practitioner (and, in an opened round, the other contributors) how many rows an owner
# holds, and under row-level DP (add or remove one row) whether one row is among them. Nothing
# reads it: updates are valued by what they do, never weighted by a count no one can check.
DECLARED_SAMPLES = 1


@dataclass(frozen=True)
class UpdateBlob:
    bounty_id: int
    round: int
    n_params: int
    encoding: EncodingParams
    key_fingerprint: bytes
    n_samples: int
    ciphertexts: tuple[int, ...]
    version: int = VERSION

    @property
    def ciphertext_width(self) -> int:
        return ciphertext_width(self.encoding.key_bits)


def ciphertext_width(key_bits: int) -> int:
    return (2 * key_bits + 7) // 8


def encode_blob(
    *,
    bounty_id: int,
    round: int,
    n_params: int,
    encoding: EncodingParams,
    public_key: paillier.PaillierPublicKey,
    n_samples: int,
    ciphertexts: Sequence[int],
) -> bytes:
    """Serialise an encrypted update; validates every field like parse_blob does."""
    if public_key.n.bit_length() != encoding.key_bits:
        raise BlobError("The public key's size does not match the encoding's key size.")
    _check_u(bounty_id, 64, "bounty id")
    _check_u(round, 32, "round")
    _check_u(n_samples, 32, "sample count", minimum=1)
    _check_u(n_params, 32, "parameter count", minimum=1)
    if len(ciphertexts) != encoding.n_plaintexts(n_params):
        raise BlobError(
            f"{len(ciphertexts)} ciphertexts given; {n_params} parameters need "
            f"{encoding.n_plaintexts(n_params)}."
        )
    width = ciphertext_width(encoding.key_bits)
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        bounty_id,
        round,
        n_params,
        encoding.precision_bits,
        encoding.clip,
        encoding.max_contributors,
        encoding.slot_bits,
        encoding.slots_per_plaintext,
        encoding.key_bits,
        key_fingerprint(public_key),
        n_samples,
        len(ciphertexts),
        width,
    )
    nsq = public_key.nsquare
    parts = [header]
    for i, c in enumerate(ciphertexts):
        c = int(c)
        if not 0 < c < nsq:
            raise BlobError(f"Ciphertext {i} is out of range for this key.")
        parts.append(c.to_bytes(width, "big"))
    return b"".join(parts)


def parse_blob(
    data: bytes,
    expected_public_key: paillier.PaillierPublicKey | None = None,
    max_bytes: int | None = DEFAULT_MAX_BLOB_BYTES,
    expected_encoding: EncodingParams | None = None,
) -> UpdateBlob:
    """Parse and validate an update blob; any problem raises BlobError with a clear message.

    With expected_public_key, the fingerprint must match and every ciphertext must be a unit
    mod n^2 (0 < c < n^2, gcd(c, n) = 1). With expected_encoding (from the bounty's spec), the
    blob's encoding parameters must be exactly those.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BlobError("An update blob must be bytes.")
    data = bytes(data)
    if max_bytes is not None and len(data) > max_bytes:
        raise BlobError(f"The update blob is {len(data)} bytes; the limit is {max_bytes}.")
    if len(data) < HEADER_SIZE:
        if not MAGIC.startswith(data[:4]) or not data:
            raise BlobError("This is not a Quarry update blob (wrong magic bytes).")
        raise BlobError(f"The update blob is truncated: {len(data)} bytes, header alone is 82.")
    (
        magic,
        version,
        bounty_id,
        round_,
        n_params,
        precision_bits,
        clip,
        max_contributors,
        slot_bits,
        slots,
        key_bits,
        fingerprint,
        n_samples,
        n_ciphertexts,
        width,
    ) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BlobError("This is not a Quarry update blob (wrong magic bytes).")
    if version != VERSION:
        raise BlobError(
            f"The update blob has format version {version}; this version reads {VERSION} only."
        )
    if n_params < 1:
        raise BlobError("The update blob has no parameters.")
    if n_samples < 1:
        raise BlobError("The update blob says it was trained on 0 samples.")
    if not (math.isfinite(clip) and clip > 0):
        raise BlobError("The update blob's clip is not a positive number.")
    if not 512 <= key_bits <= 8192:
        raise BlobError(f"The update blob's key size ({key_bits} bits) is not supported.")
    try:
        encoding = EncodingParams(precision_bits, clip, max_contributors, key_bits)
    except EncodingError as exc:
        raise BlobError(f"The update blob's encoding parameters are invalid: {exc}") from exc
    if slot_bits != encoding.slot_bits or slots != encoding.slots_per_plaintext:
        raise BlobError("The update blob's slot layout does not match its encoding parameters.")
    if expected_encoding is not None and encoding != expected_encoding:
        raise BlobError("The update blob was encoded with parameters other than the bounty's.")
    if n_ciphertexts != encoding.n_plaintexts(n_params):
        raise BlobError(
            f"The update blob has {n_ciphertexts} ciphertexts; {n_params} parameters need "
            f"{encoding.n_plaintexts(n_params)}."
        )
    if width != ciphertext_width(key_bits):
        raise BlobError("The update blob's ciphertext width does not match its key size.")
    expected_len = HEADER_SIZE + n_ciphertexts * width
    if len(data) < expected_len:
        raise BlobError(
            f"The update blob is truncated: {len(data)} bytes, expected {expected_len}."
        )
    if len(data) > expected_len:
        raise BlobError(
            f"The update blob has {len(data) - expected_len} unexpected bytes after its end."
        )
    n = nsq = None
    if expected_public_key is not None:
        if fingerprint != key_fingerprint(expected_public_key):
            raise BlobError(
                "The update blob was encrypted for a different public key than this bounty's."
            )
        if expected_public_key.n.bit_length() != key_bits:
            raise BlobError("The update blob's key size does not match the bounty's key.")
        n = gmpy2.mpz(expected_public_key.n)
        nsq = n * n
    ciphertexts = []
    product = gmpy2.mpz(1)
    for i in range(n_ciphertexts):
        start = HEADER_SIZE + i * width
        c = int.from_bytes(data[start : start + width], "big")
        if c == 0:
            raise BlobError(f"Ciphertext {i} of the update blob is zero.")
        if nsq is not None:
            if c >= nsq:
                raise BlobError(f"Ciphertext {i} of the update blob is out of range for the key.")
            product = product * (c % n) % n
        ciphertexts.append(c)
    # Every ciphertext must be a unit mod n^2, i.e. coprime to n. One gcd of their product
    # mod n checks all of them; only on failure look for the culprit.
    if nsq is not None and gmpy2.gcd(product, n) != 1:
        bad = next(i for i, c in enumerate(ciphertexts) if gmpy2.gcd(c, n) != 1)
        raise BlobError(f"Ciphertext {bad} of the update blob is out of range for the key.")
    return UpdateBlob(
        bounty_id=bounty_id,
        round=round_,
        n_params=n_params,
        encoding=encoding,
        key_fingerprint=fingerprint,
        n_samples=n_samples,
        ciphertexts=tuple(ciphertexts),
        version=version,
    )


def blob_limit(spec_max_blob_bytes: int | None) -> int:
    """The largest update blob a practitioner reads: the spec's `max_blob_bytes`, else
    DEFAULT_MAX_BLOB_BYTES (what `parse_blob` allows when given no limit)."""
    return spec_max_blob_bytes or DEFAULT_MAX_BLOB_BYTES


def blob_size(n_params: int, encoding: EncodingParams) -> int:
    """The exact byte length of an update blob of `n_params` parameters (fixed-width
    ciphertexts): what an owner's wallet sends, and what a spec's `max_blob_bytes` must allow."""
    return HEADER_SIZE + encoding.n_plaintexts(n_params) * ciphertext_width(encoding.key_bits)


def blob_hash(data: bytes) -> str:
    """keccak256 of the blob bytes as 0x-hex: its content address and on-chain blobHash."""
    return "0x" + keccak(bytes(data)).hex()


def _check_u(value: int, bits: int, name: str, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < (1 << bits):
        raise BlobError(f"The {name} ({value!r}) does not fit the blob format.")
