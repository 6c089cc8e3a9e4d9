"""The encrypted-update blob format: round trip, validation, fuzzing."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.encoding import EncodingParams, encode, pack
from trainer.errors import BlobError
from trainer.paillier import encrypt_update
from trainer.spec import key_fingerprint
from trainer.testing import test_keypair
from trainer.update_blob import HEADER_SIZE, MAGIC, blob_hash, encode_blob, parse_blob

N_PARAMS = 50


def _make_blob(pub=None, n_params=N_PARAMS, seed=0, **fields):
    pub = pub or test_keypair(512)[0]
    enc = EncodingParams(12, 1.0, 20, pub.n.bit_length())
    q = encode(np.random.default_rng(seed).uniform(-1, 1, n_params), enc)
    cts = encrypt_update(pub, pack(q, enc), rng=random.Random(seed))
    args = dict(
        bounty_id=7,
        round=3,
        n_params=n_params,
        encoding=enc,
        public_key=pub,
        n_samples=120,
        ciphertexts=cts,
    )
    args.update(fields)
    return encode_blob(**args), enc, cts


@pytest.fixture(scope="module")
def valid():
    return _make_blob()


def test_round_trip(valid):
    data, enc, cts = valid
    pub = test_keypair(512)[0]
    blob = parse_blob(data, expected_public_key=pub, expected_encoding=enc)
    assert (blob.bounty_id, blob.round, blob.n_params, blob.n_samples) == (7, 3, N_PARAMS, 120)
    assert blob.encoding == enc
    assert blob.key_fingerprint == key_fingerprint(pub)
    assert list(blob.ciphertexts) == cts
    assert blob.version == 1
    assert len(data) == HEADER_SIZE + len(cts) * 128  # 512-bit key: 1024-bit ciphertexts


def test_header_layout_is_as_documented(valid):
    data, enc, cts = valid
    assert data[:4] == MAGIC
    assert struct.unpack(">H", data[4:6]) == (1,)
    assert struct.unpack(">Q", data[6:14]) == (7,)
    assert struct.unpack(">I", data[14:18]) == (3,)
    assert struct.unpack(">d", data[23:31]) == (1.0,)
    assert data[40:72] == key_fingerprint(test_keypair(512)[0])
    assert struct.unpack(">I", data[76:80]) == (len(cts),)
    assert int.from_bytes(data[82:210], "big") == cts[0]


def test_blob_hash_is_keccak(valid):
    data = valid[0]
    assert blob_hash(data) == "0x" + keccak(data).hex()
    assert len(blob_hash(data)) == 66


def test_wrong_key_rejected(valid):
    other = test_keypair(1024)[0]
    with pytest.raises(BlobError, match="different public key"):
        parse_blob(valid[0], expected_public_key=other)


def test_wrong_encoding_rejected(valid):
    enc = valid[1]
    other = EncodingParams(enc.precision_bits + 1, enc.clip, enc.max_contributors, enc.key_bits)
    with pytest.raises(BlobError, match="parameters other than"):
        parse_blob(valid[0], expected_encoding=other)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-1], "truncated"),
        (lambda d: d[:40], "truncated"),
        (lambda d: d + b"\x00", "unexpected bytes"),
        (lambda d: b"XXXX" + d[4:], "magic"),
        (lambda d: b"", "magic"),
        (lambda d: d[:4] + b"\x00\x02" + d[6:], "version 2"),
        (lambda d: d[:18] + b"\x00\x00\x00\x00" + d[22:], "no parameters"),
        (lambda d: d[:72] + b"\x00\x00\x00\x00" + d[76:], "0 samples"),
        (lambda d: d[:35] + b"\x07" + d[36:], "slot layout"),
        (lambda d: d[:76] + struct.pack(">I", 99) + d[80:], "ciphertexts"),
        (lambda d: d[:80] + struct.pack(">H", 64) + d[82:], "width"),
        (lambda d: d[:23] + struct.pack(">d", float("nan")) + d[31:], "clip"),
        (lambda d: d[:82] + b"\x00" * 128 + d[210:], "zero"),
        (lambda d: d[:82] + b"\xff" * 128 + d[210:], "out of range"),
    ],
)
def test_malformed_blobs_rejected_clearly(valid, mutate, message):
    pub = test_keypair(512)[0]
    with pytest.raises(BlobError, match=message):
        parse_blob(mutate(valid[0]), expected_public_key=pub)


def test_ciphertext_sharing_a_factor_with_n_rejected(valid):
    pub, priv = test_keypair(512)
    data = valid[0]
    bad = data[:82] + priv.p.to_bytes(128, "big") + data[210:]
    with pytest.raises(BlobError, match="out of range"):
        parse_blob(bad, expected_public_key=pub)


def test_oversized_blob_rejected(valid):
    with pytest.raises(BlobError, match="limit"):
        parse_blob(valid[0], max_bytes=len(valid[0]) - 1)


def test_encode_refuses_bad_fields():
    with pytest.raises(BlobError, match="ciphertexts given"):
        _make_blob(ciphertexts=[1, 2, 3])
    with pytest.raises(BlobError, match="round"):
        _make_blob(round=-1)
    with pytest.raises(BlobError, match="sample count"):
        _make_blob(n_samples=0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_only_blob_errors(data):
    pub = test_keypair(512)[0]
    with pytest.raises(BlobError):
        parse_blob(MAGIC + data, expected_public_key=pub)
    with pytest.raises(BlobError):
        parse_blob(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 2000)),
)
def test_fuzz_mutated_valid_blob_never_raises_anything_else(valid, edits, cut):
    pub = test_keypair(512)[0]
    data = bytearray(valid[0])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        blob = parse_blob(bytes(data), expected_public_key=pub)
    except BlobError:
        return
    # If it parsed, it is self-consistent.
    assert len(blob.ciphertexts) == blob.encoding.n_plaintexts(blob.n_params)
    assert all(0 < c < pub.nsquare for c in blob.ciphertexts)


# -- the 17-bit layout (precision_bits 8, clip 2, 100 contributors) and blobs of the old one ----

NARROW = dict(precision_bits=8, clip=2.0, max_contributors=100)
WIDE = dict(precision_bits=16, clip=1.0, max_contributors=100)  # the layout before: 24-bit slots


def _vector_blob(layout, vector, pub, round_=0):
    from trainer.update import encrypt_vector_to_blob

    enc = EncodingParams(key_bits=pub.n.bit_length(), **layout)
    return encrypt_vector_to_blob(pub, vector, enc, bounty_id=7, round=round_, n_samples=10,
                                  workers=1), enc


def test_narrow_layout_round_trips_and_sums_at_max_contributors_without_overflow():
    from trainer.aggregate import aggregate, decrypt_update
    from trainer.encoding import decode_sum

    pub, priv = test_keypair(512)
    rng = np.random.default_rng(8)
    one = rng.normal(0, 0.2, 75)
    data, enc = _vector_blob(NARROW, one, pub)
    assert (enc.slot_bits, enc.slots_per_plaintext) == (17, 30)  # 510 // 17 at 512 bits
    header = struct.unpack_from(">BdIBH", data, 22)
    assert header == (8, 2.0, 100, 17, 30)
    blob = parse_blob(data, expected_public_key=pub, expected_encoding=enc)
    assert np.array_equal(decrypt_update(priv, blob, workers=1), decode_sum(encode(one, enc), 1, enc))
    # 100 contributors, every parameter at +clip (every slot at max_q) or -clip: the sum of
    # the largest slots still fits 17 bits and decodes exactly
    top, _ = _vector_blob(NARROW, np.full(75, 5.0), pub)
    low, _ = _vector_blob(NARROW, np.full(75, -5.0), pub)
    blobs = [parse_blob(top, expected_public_key=pub)] * 99 + [parse_blob(low, expected_public_key=pub)]
    total = aggregate(priv, blobs, average=False, workers=1)
    assert np.array_equal(total.vector, np.full(75, 99 * 2.0 - 2.0))
    assert 100 * enc.max_q < 2**enc.slot_bits


def test_a_blob_of_the_old_layout_is_still_read_and_refused_by_a_narrow_bounty_clearly():
    from trainer.aggregate import decrypt_update
    from trainer.encoding import encode_nearest

    pub, priv = test_keypair(512)
    vector = np.random.default_rng(9).normal(0, 0.2, 40)
    # exactly what a wallet before stochastic rounding sent: nearest rounding, 24-bit slots
    old_enc = EncodingParams(key_bits=512, **WIDE)
    old = encode_blob(bounty_id=7, round=0, n_params=40, encoding=old_enc, public_key=pub,
                      n_samples=10, ciphertexts=encrypt_update(pub, pack(encode_nearest(vector, old_enc), old_enc), workers=1))
    blob = parse_blob(old, expected_public_key=pub, expected_encoding=old_enc)
    assert blob.version == 1 and blob.encoding.slot_bits == 24  # 100 * 2^17 < 2^24
    assert np.allclose(decrypt_update(priv, blob, workers=1), vector, atol=0.5 / 2**16)
    narrow = EncodingParams(key_bits=512, **NARROW)
    with pytest.raises(BlobError, match="parameters other than the bounty's"):
        parse_blob(old, expected_public_key=pub, expected_encoding=narrow)


def test_narrow_blob_with_a_forged_slot_layout_or_a_later_version_is_refused():
    pub, _ = test_keypair(512)
    data, enc = _vector_blob(NARROW, np.zeros(40), pub)
    wide_slots = bytearray(data)
    wide_slots[35] = 16  # says 16-bit slots: the sum of 100 would carry
    with pytest.raises(BlobError, match="slot layout"):
        parse_blob(bytes(wide_slots), expected_public_key=pub)
    later = bytearray(data)
    later[4:6] = (2).to_bytes(2, "big")
    with pytest.raises(BlobError, match="format version 2; this version reads 1 only"):
        parse_blob(bytes(later), expected_public_key=pub)
