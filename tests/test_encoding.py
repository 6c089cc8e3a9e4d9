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
    encode_nearest,
    pack,
    rounding_seed,
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


def test_encode_decode_round_trip_within_one_step():
    p = EncodingParams(16, 0.5, 10, 1024)
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 1000)
    q = encode(x, p)
    assert q.dtype == np.int64 and q.min() >= 0 and q.max() <= p.max_q
    back = decode_average(q, 1, p)
    assert np.max(np.abs(back - x)) < 1.0 / p.scale  # stochastic: the grid point below or above
    assert np.array_equal(np.floor((x + 0.5) * p.scale) <= q, np.ones(1000, dtype=bool))
    nearest = decode_average(encode_nearest(x, p), 1, p)
    assert np.max(np.abs(nearest - x)) <= 0.5 / p.scale + 1e-12


def test_the_new_default_layout_is_17_bit_slots_120_per_2048_bit_ciphertext():
    # The spec default (practitioner.spec_draft, the demo specs): 4.27 bytes per parameter.
    p = EncodingParams(precision_bits=8, clip=2.0, max_contributors=100, key_bits=2048)
    assert p.max_q == 1024 and p.slot_bits == 17 and p.slots_per_plaintext == 120
    assert 100 * p.max_q < 2**17
    assert 512 * p.n_plaintexts(100_000) / 100_000 <= 4.5


def test_stochastic_rounding_is_unbiased():
    # Every value sits 0.3 of a step above a grid point: nearest rounding is off by -0.3 steps
    # on every one of them, stochastic rounding on average by ~0.
    p = EncodingParams(8, 2.0, 100, 2048)
    x = np.full(200_000, 0.25 + 0.3 / p.scale)
    bias = decode_average(encode(x, p), 1, p).mean() - x[0]
    assert abs(bias) < 0.01 / p.scale  # the mean of 200,000 draws: std 0.001 steps
    assert decode_average(encode_nearest(x, p), 1, p).mean() - x[0] == pytest.approx(-0.3 / p.scale)
    q = encode(x, p)
    assert 0.28 < float(np.mean(q - q.min())) < 0.32  # rounded up about 30 % of the time


def test_stochastic_rounding_is_deterministic_given_its_seed():
    p = EncodingParams(8, 2.0, 100, 2048)
    x = np.random.default_rng(3).normal(0, 0.1, 5000)
    assert np.array_equal(encode(x, p), encode(x.copy(), p))  # default seed: from the content
    assert np.array_equal(encode(x, p), encode(x, p, seed=rounding_seed(x, p)))
    other = encode(x, p, seed=b"another seed")
    assert np.array_equal(other, encode(x, p, seed=b"another seed"))
    assert not np.array_equal(other, encode(x, p))
    # a value on the grid stays where it is: re-encoding what was decoded gives the same integers
    back = decode_average(encode(x, p), 1, p)
    assert np.array_equal(encode(back, p), encode(x, p))
    # another encoding of the same vector draws other bits
    assert rounding_seed(x, p) != rounding_seed(x, EncodingParams(8, 2.0, 99, 2048))


def test_stochastic_rounding_never_lengthens_an_update_beyond_half_a_step_per_parameter():
    # The practitioner projects updates longer than clip_norm + sqrt(d) / 2^(precision + 1)
    # (practitioner.valuation.encoding_slack): an honest clipped update must never be.
    p = EncodingParams(8, 2.0, 100, 2048)
    rng = np.random.default_rng(4)
    for d in (1, 2, 3, 5, 31, 650, 10_000):
        for _ in range(20):
            x = rng.normal(0, rng.choice([1e-4, 1e-2, 0.3]), d)
            back = decode_average(encode(x, p), 1, p)
            assert np.linalg.norm(back) <= np.linalg.norm(x) + 0.5 * np.sqrt(d) / p.scale + 1e-12


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


def test_without_an_acceptable_draw_the_encoding_rounds_to_nearest(monkeypatch):
    import trainer.encoding as encoding_module

    p = EncodingParams(8, 2.0, 100, 2048)
    x = np.random.default_rng(6).normal(0, 0.1, 64)
    monkeypatch.setattr(encoding_module, "ROUNDING_DRAWS", 0)
    assert np.array_equal(encode(x, p), encode_nearest(x, p))
