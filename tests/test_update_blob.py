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
