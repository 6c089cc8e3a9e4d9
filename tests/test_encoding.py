"""Fixed-point encoding and BatchCrypt-style packing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.encoding import (
    EncodingParams,
    decode_average,
    decode_sum,
    encode,
    pack,
    unpack_sums,
)
from trainer.errors import EncodingError, TrainerError


def test_slot_width_holds_max_contributors_sum():
    p = EncodingParams(precision_bits=16, clip=1.0, max_contributors=100, key_bits=2048)
    assert p.scale == 65536
    assert p.max_q == 2 * 65536
    # 100 * 131072 = 13,107,200 < 2**24 = 16,777,216, and >= 2**23.
    assert p.slot_bits == 24
    assert p.max_contributors * p.max_q < 2**p.slot_bits
    assert p.max_contributors * p.max_q >= 2 ** (p.slot_bits - 1)
    assert p.slots_per_plaintext == (2048 - 2) // 24 == 85
    assert p.n_plaintexts(100_000) == 1177


@settings(deadline=None)
@given(
    precision=st.integers(1, 30),
    clip=st.floats(1e-3, 1e3),
    contributors=st.integers(1, 100_000),
    key_bits=st.sampled_from([512, 1024, 2048, 3072]),
)
def test_layout_invariants(precision, clip, contributors, key_bits):
    try:
        p = EncodingParams(precision, clip, contributors, key_bits)
    except EncodingError:
        return  # too wide or too narrow to encode: refused with a clear error
    assert contributors * p.max_q < 2**p.slot_bits
    assert p.slots_per_plaintext * p.slot_bits <= key_bits - 2


def test_encode_decode_round_trip_within_half_a_step():
    p = EncodingParams(16, 0.5, 10, 1024)
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 1000)
    q = encode(x, p)
    assert q.dtype == np.int64 and q.min() >= 0 and q.max() <= p.max_q
    back = decode_average(q, 1, p)
    assert np.max(np.abs(back - x)) <= 0.5 / p.scale + 1e-12


def test_encode_clamps_to_clip():
    p = EncodingParams(8, 1.0, 4, 512)
    q = encode(np.array([-5.0, -1.0, 0.0, 1.0, 7.0]), p)
    assert q.tolist() == [0, 0, 256, 512, 512]


def test_encode_rejects_nan():
    p = EncodingParams(8, 1.0, 4, 512)
    with pytest.raises(EncodingError, match="NaN"):
        encode(np.array([0.0, np.nan]), p)


def test_pack_unpack_exact():
    p = EncodingParams(12, 2.0, 50, 512)
    rng = np.random.default_rng(2)
    q = rng.integers(0, p.max_q + 1, size=123)
    blocks = pack(q, p)
    assert len(blocks) == p.n_plaintexts(123)
    assert all(0 <= b < 2 ** (512 - 2) for b in blocks)
    assert np.array_equal(unpack_sums(blocks, 123, 1, p), q)


def test_packed_sums_add_slotwise_without_overflow_at_max_contributors():
    # Every contributor sends the largest value: the worst case must still decode exactly.
    p = EncodingParams(10, 1.0, 37, 512)
    q = np.full(40, p.max_q)
    blocks = pack(q, p)
    summed = [b * 37 for b in blocks]
    assert np.array_equal(unpack_sums(summed, 40, 37, p), q * 37)
    assert np.allclose(decode_average(unpack_sums(summed, 40, 37, p), 37, p), 1.0)


def test_unpack_rejects_overflowing_slot_and_bad_counts():
    p = EncodingParams(10, 1.0, 3, 512)
    q = np.full(5, p.max_q)
    blocks = pack(q, p)
    with pytest.raises(EncodingError, match="more than"):
        unpack_sums([b * 2 for b in blocks], 5, 1, p)  # says 1 contributor, holds 2
    with pytest.raises(EncodingError, match="contributors"):
        unpack_sums(blocks, 5, 4, p)
    with pytest.raises(EncodingError, match="blocks"):
        unpack_sums(blocks + blocks, 5, 1, p)
    with pytest.raises(EncodingError, match="out of range"):
        unpack_sums([2**600], 5, 1, p)


def test_unpack_rejects_nonzero_padding():
    p = EncodingParams(10, 1.0, 3, 512)
    blocks = pack(np.zeros(3, dtype=np.int64), p)
    blocks[-1] |= 1 << (p.slot_bits * 5)
    with pytest.raises(EncodingError, match="Padding"):
        unpack_sums(blocks, 3, 1, p)


@pytest.mark.parametrize(
    "args",
    [
        (0, 1.0, 10, 512),
        (16, 0.0, 10, 512),
        (16, float("inf"), 10, 512),
        (40, 1e9, 10**6, 512),
        (16, 1.0, 0, 512),
        (30, 1.0, 10**6, 40),
    ],
)
def test_bad_parameters_refused(args):
    with pytest.raises(EncodingError) as info:
        EncodingParams(*args)
    assert isinstance(info.value, TrainerError)


def test_decode_sum_subtracts_offsets():
    p = EncodingParams(4, 1.0, 10, 512)
    q = encode(np.array([0.5, -0.25]), p)
    assert decode_sum(q * 3, 3, p).tolist() == [1.5, -0.75]
