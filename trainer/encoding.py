"""Fixed-point encoding and BatchCrypt-style packing of model updates into Paillier plaintexts.

Each parameter x (clamped to [-clip, clip]) becomes the non-negative integer

    q = sround((x + clip) * 2**precision_bits)       0 <= q <= max_q = round(2 * clip * scale)

where sround is unbiased stochastic rounding (floor(v) + 1 with probability frac(v), else
floor(v)): E[q] = v exactly, so narrow slots (precision_bits 8: 17-bit slots for 100
contributors at clip 2, 120 values per 2048-bit plaintext) add noise to the average of the
round but no bias. The random bits are SHAKE-256 of a seed that defaults to a hash of the
vector and the encoding (`rounding_seed`), so the same update always encodes to the same
integers: the wallet's kept copy (wallet.kept_updates) is exactly what the practitioner
decrypts. A draw that would lengthen the update by more than half a step per parameter in L2
(sqrt(d) / 2**(precision_bits + 1), the practitioner's `encoding_slack`) is redrawn with the
next counter, and after ROUNDING_DRAWS such draws round to nearest, which never does: an
honest update clipped to `privacy.clip_norm` is never projected by the practitioner.

k = slots_per_plaintext of them share one plaintext, slot j holding q_j << (j * w). The slot
width w is the smallest with max_contributors * max_q < 2**w, so adding up to max_contributors
plaintexts (what homomorphic aggregation does) never carries out of a slot: overflow is
impossible by construction, and `unpack_sums` asserts it again. k * w <= key_bits - 2 keeps every
packed plaintext below 2**(key_bits - 2) < n.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

import numpy as np

from trainer.errors import EncodingError

MAX_SLOT_BITS = 63  # slot sums are handled as int64 numpy arrays
ROUNDING_DRAWS = 16  # stochastic draws tried before falling back to round-to-nearest
_SEED_DOMAIN = b"quarry/encoding/stochastic-rounding/v1"


@dataclass(frozen=True)
class EncodingParams:
    precision_bits: int
    clip: float
    max_contributors: int
    key_bits: int

    def __post_init__(self) -> None:
        if not 1 <= self.precision_bits <= 40:
            raise EncodingError("precision_bits must be between 1 and 40.")
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise EncodingError("The encoding clip must be a positive finite number.")
        if self.max_contributors < 1:
            raise EncodingError("max_contributors must be at least 1.")
        if 2.0 * self.clip * self.scale >= 2.0**MAX_SLOT_BITS:
            raise EncodingError("clip * 2**precision_bits is too large to encode.")
        if self.max_q < 1:
            raise EncodingError("clip * 2**precision_bits is too small to encode anything.")
        if self.slot_bits > MAX_SLOT_BITS:
            raise EncodingError(
                f"The encoding needs {self.slot_bits}-bit slots (more than {MAX_SLOT_BITS}); "
                "lower precision_bits, clip or max_contributors."
            )
        if self.slots_per_plaintext < 1:
            raise EncodingError(
                f"A {self.key_bits}-bit key cannot hold even one {self.slot_bits}-bit slot."
            )

    @classmethod
    def from_spec(cls, spec) -> EncodingParams:  # spec: trainer.spec.BountySpec
        return cls(
            precision_bits=spec.encoding.precision_bits,
            clip=spec.encoding.clip,
            max_contributors=spec.encoding.max_contributors,
            key_bits=spec.paillier.bits,
        )

    @property
    def scale(self) -> int:
        return 1 << self.precision_bits

    @property
    def max_q(self) -> int:
        """Largest encoding of one parameter (x = +clip)."""
        return int(round(2.0 * self.clip * self.scale))

    @property
    def slot_bits(self) -> int:
        """Smallest w with max_contributors * max_q < 2**w."""
        return (self.max_contributors * self.max_q).bit_length()

    @property
    def slots_per_plaintext(self) -> int:
        return (self.key_bits - 2) // self.slot_bits

    def n_plaintexts(self, n_params: int) -> int:
        return -(-n_params // self.slots_per_plaintext)


def clamp(vector: np.ndarray, params: EncodingParams) -> np.ndarray:
    """The update as float64, clamped to [-clip, clip]; EncodingError on NaN or infinity."""
    x = np.asarray(vector, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise EncodingError("The update contains NaN or infinite values; it cannot be encoded.")
    return np.clip(x, -params.clip, params.clip)


def rounding_seed(vector: np.ndarray, params: EncodingParams) -> bytes:
    """The default seed of `encode`'s stochastic rounding: SHA-256 of the clamped vector's
    float64 bytes and the encoding, so re-encoding the same update gives the same integers."""
    x = clamp(vector, params)
    header = struct.pack(
        ">BdIHQ", params.precision_bits, params.clip, params.max_contributors, params.key_bits,
        x.size,
    )
    return hashlib.sha256(_SEED_DOMAIN + header + x.astype("<f8").tobytes()).digest()


def _uniforms(seed: bytes, draw: int, size: int) -> np.ndarray:
    """`size` uniforms in [0, 1) with 53 random bits each, from SHAKE-256(seed || draw)."""
    stream = hashlib.shake_256(seed + struct.pack(">I", draw)).digest(8 * size)
    words = np.frombuffer(stream, dtype="<u8")
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


def encode(vector: np.ndarray, params: EncodingParams, *, seed: bytes | None = None) -> np.ndarray:
    """Clamp to [-clip, clip] and turn into fixed-point integers in [0, max_q] (int64) by
    unbiased stochastic rounding, deterministic given `seed` (default: `rounding_seed`)."""
    x = clamp(vector, params)
    v = (x + params.clip) * params.scale
    low = np.floor(v)
    frac = v - low
    base = low.astype(np.int64)
    if seed is None:
        seed = rounding_seed(x, params)
    # An honest update is at most clip_norm long; the practitioner lets it come back up to
    # encoding_slack longer before projecting it, so no draw may lengthen it by more.
    limit = float(np.linalg.norm(x)) + 0.5 * math.sqrt(x.size) / params.scale * (1 - 1e-9)
    for draw in range(ROUNDING_DRAWS):
        q = np.clip(base + (_uniforms(seed, draw, x.size) < frac), 0, params.max_q)
        if float(np.linalg.norm(q / params.scale - params.clip)) <= limit:
            return q
    return encode_nearest(x, params)


def encode_nearest(vector: np.ndarray, params: EncodingParams) -> np.ndarray:
    """Round-to-nearest encoding (wallets before stochastic rounding; the fallback of `encode`)."""
    x = clamp(vector, params)
    q = np.rint((x + params.clip) * params.scale).astype(np.int64)
    return np.clip(q, 0, params.max_q)


def decode_sum(sums: np.ndarray, count: int, params: EncodingParams) -> np.ndarray:
    """The float sum of `count` updates from the integer sum of their encodings."""
    return np.asarray(sums, dtype=np.float64) / params.scale - count * params.clip


def decode_average(sums: np.ndarray, count: int, params: EncodingParams) -> np.ndarray:
    if count < 1:
        raise EncodingError("Cannot average zero updates.")
    return decode_sum(sums, count, params) / count


def pack(q: np.ndarray, params: EncodingParams) -> list[int]:
    """Pack fixed-point integers (each in [0, max_q]) into plaintexts, k slots each."""
    q = np.asarray(q)
    if q.ndim != 1:
        raise EncodingError("Only a flat vector can be packed.")
    if q.size and (q.min() < 0 or q.max() > params.max_q):
        raise EncodingError("A value is outside the encodable range [0, max_q].")
    w, k = params.slot_bits, params.slots_per_plaintext
    n_blocks = params.n_plaintexts(q.size)
    padded = np.zeros(n_blocks * k, dtype=np.uint64)
    padded[: q.size] = q.astype(np.uint64)
    # Bits of every value, least significant first, laid out slot after slot: the little-endian
    # bit string of each block is exactly sum(q_j << (j * w)).
    shifts = np.arange(w, dtype=np.uint64)
    bits = ((padded[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(n_blocks, k * w)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack_sums(
    plaintexts: list[int], n_params: int, count: int, params: EncodingParams
) -> np.ndarray:
    """Split (summed) plaintexts back into per-parameter integer sums of `count` encodings.

    Raises EncodingError if a plaintext or a slot is out of range, which means the inputs were
    not what they claim (wrong key, more contributors than the encoding allows, corruption).
    """
    if not 1 <= count <= params.max_contributors:
        raise EncodingError(
            f"{count} updates cannot be decoded: the encoding allows 1 to "
            f"{params.max_contributors} contributors."
        )
    w, k = params.slot_bits, params.slots_per_plaintext
    if len(plaintexts) != params.n_plaintexts(n_params):
        raise EncodingError(
            f"Expected {params.n_plaintexts(n_params)} packed blocks for {n_params} "
            f"parameters, got {len(plaintexts)}."
        )
    n_bytes = (k * w + 7) // 8
    limit = 1 << (k * w)
    raw = bytearray()
    for i, m in enumerate(plaintexts):
        m = int(m)
        if not 0 <= m < limit:
            raise EncodingError(
                f"Decrypted block {i} is out of range: wrong key or corrupted update."
            )
        raw += m.to_bytes(n_bytes, "little")
    bits = np.unpackbits(np.frombuffer(bytes(raw), dtype=np.uint8), bitorder="little")
    bits = bits.reshape(len(plaintexts), n_bytes * 8)[:, : k * w].reshape(-1, w)
    weights = np.left_shift(np.uint64(1), np.arange(w, dtype=np.uint64))
    sums = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64).astype(np.int64)
    # Overflow check: every slot sum of `count` encodings is at most count * max_q.
    bound = count * params.max_q
    if sums.size and int(sums.max()) > bound:
        raise EncodingError(
            "A slot holds more than the number of contributors allows: wrong count, "
            "wrong key or corrupted update."
        )
    if np.any(sums[n_params:] != 0):
        raise EncodingError("Padding slots are not zero: wrong key or corrupted update.")
    return sums[:n_params]


def project_to_ball(update: np.ndarray, radius: float, slack: float = 0.0) -> np.ndarray:
    """The update scaled back onto the ball of `radius` when its norm exceeds radius + slack.
    The slack is the fixed-point round trip's reach (`encoding_slack`): an honest update
    clipped to the radius comes back up to that much longer and must be used exactly as
    decrypted, which is what its owner's wallet keeps and checks the report against."""
    norm = float(np.linalg.norm(update))
    if norm > radius + slack and radius > 0:
        return update * (radius / norm)
    return update


def encoding_slack(n_params: int, precision_bits: int) -> float:
    """How far the fixed-point round trip can lengthen an update: half a step per parameter."""
    return math.sqrt(n_params) * 0.5 / 2.0**precision_bits


def counted_update(update: np.ndarray, clip_norm: float, precision_bits: int) -> np.ndarray:
    """The update as the practitioner's valuation counts it (Valuation step 1): projected onto
    the clip ball when longer than the clip norm + `encoding_slack` (whole-update privacy noise
    added after clipping makes it so), else exactly as decrypted. An owner's wallet checks the
    report's scores with this, not with the longer vector it sent."""
    update = np.asarray(update, dtype=np.float64)
    return project_to_ball(update, clip_norm, encoding_slack(update.size, precision_bits))
