"""Fast packed Paillier encryption: phe-compatible ciphertexts, homomorphic sums."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phe import paillier

from trainer.encoding import EncodingParams, encode, pack, unpack_sums
from trainer.errors import EncodingError, TrainingCancelled
from trainer.paillier import add_ciphertexts, decrypt_blocks, encrypt_update
from trainer.testing import test_keypair


@pytest.fixture(scope="module")
def keys():
    return test_keypair(512)


def test_phe_decrypts_our_ciphertexts(keys):
    pub, priv = keys
    plaintexts = [0, 1, 12345, pub.n - 1, 2**500]
    cts = encrypt_update(pub, plaintexts, workers=1)
    assert [priv.raw_decrypt(c) for c in cts] == plaintexts
    assert all(0 < c < pub.nsquare for c in cts)
    # phe's own EncryptedNumber wrapper decrypts them too (small non-negative integers).
    assert priv.decrypt(paillier.EncryptedNumber(pub, cts[2], 0)) == 12345


def test_ciphertexts_are_randomised(keys):
    pub, priv = keys
    a, b = encrypt_update(pub, [42, 42], workers=1)
    assert a != b
    assert priv.raw_decrypt(a) == priv.raw_decrypt(b) == 42


def test_seeded_rng_is_deterministic(keys):
    pub, _ = keys
    one = encrypt_update(pub, [5, 6, 7], rng=random.Random(3))
    two = encrypt_update(pub, [5, 6, 7], rng=random.Random(3))
    three = encrypt_update(pub, [5, 6, 7], rng=random.Random(4))
    assert one == two != three


def test_our_ciphertexts_add_with_phe_ciphertexts(keys):
    pub, priv = keys
    ours = encrypt_update(pub, [1000], workers=1)[0]
    theirs = pub.raw_encrypt(234)
    assert priv.raw_decrypt(ours * theirs % pub.nsquare) == 1234
    summed = add_ciphertexts(pub, [[ours], [theirs], [ours]])
    assert decrypt_blocks(priv, summed) == [2234]


def test_plaintext_out_of_range_refused(keys):
    pub, _ = keys
    with pytest.raises(EncodingError, match="block 1"):
        encrypt_update(pub, [1, pub.n])
    with pytest.raises(EncodingError):
        encrypt_update(pub, [-1])


def test_progress_and_cancel(keys):
    pub, _ = keys
    seen = []
    encrypt_update(pub, list(range(200)), workers=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (200, 200) and len(seen) >= 3
    calls = []

    def stop_after_first_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(TrainingCancelled):
        encrypt_update(pub, list(range(200)), workers=1, should_stop=stop_after_first_chunk)


def test_parallel_workers_match_serial_decryption(keys, monkeypatch, caplog):
    # Force the process pool on a small job so the multi-core path is exercised for real.
    import trainer.paillier as tp

    monkeypatch.setattr(tp, "PARALLEL_MIN_CIPHERTEXTS", 10)
    monkeypatch.setattr(tp, "CHUNK", 8)
    pub, priv = keys
    plaintexts = [random.Random(i).getrandbits(500) for i in range(40)]
    done = []
    cts = encrypt_update(pub, plaintexts, workers=2, progress=lambda d, t: done.append(d))
    assert done[-1] == 40
    assert decrypt_blocks(priv, cts, workers=2) == plaintexts
    assert "workers failed" not in caplog.text  # really ran in the worker processes


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_params=st.integers(1, 60),
    n_updates=st.integers(100, 130),
    precision=st.integers(4, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_of_many_encrypted_updates_is_exact_fixed_point_sum(
    keys, n_params, n_updates, precision, seed
):
    pub, priv = keys
    params = EncodingParams(precision, 1.5, n_updates, 512)
    rng = np.random.default_rng(seed)
    updates = rng.uniform(-2.0, 2.0, size=(n_updates, n_params))  # some beyond clip
    encoded = [encode(u, params) for u in updates]
    encrypted = [encrypt_update(pub, pack(q, params), workers=1) for q in encoded]
    summed = add_ciphertexts(pub, encrypted)
    sums = unpack_sums(decrypt_blocks(priv, summed), n_params, n_updates, params)
    assert np.array_equal(sums, np.sum(encoded, axis=0))


@pytest.mark.slow
def test_2048_bit_key_round_trip():
    pub, priv = paillier.generate_paillier_keypair(n_length=2048)
    params = EncodingParams(16, 1.0, 100, 2048)
    x = np.linspace(-1, 1, 300)
    q = encode(x, params)
    cts = encrypt_update(pub, pack(q, params), workers=1)
    assert len(cts) == 4
    assert np.array_equal(unpack_sums(decrypt_blocks(priv, cts), 300, 1, params), q)


def test_worker_failure_falls_back_to_in_process(keys, monkeypatch, caplog):
    import trainer.paillier as tp

    monkeypatch.setattr(tp, "PARALLEL_MIN_CIPHERTEXTS", 10)
    monkeypatch.setattr(tp.sys, "executable", "/nonexistent/python")
    pub, priv = keys
    plaintexts = list(range(30))
    cts = encrypt_update(pub, plaintexts, workers=2)
    assert decrypt_blocks(priv, cts, workers=2) == plaintexts
    assert "workers failed" in caplog.text


def test_cancel_stops_worker_processes(keys, monkeypatch):
    import trainer.paillier as tp

    monkeypatch.setattr(tp, "PARALLEL_MIN_CIPHERTEXTS", 10)
    monkeypatch.setattr(tp, "CHUNK", 4)
    pub, _ = keys
    calls = []

    def stop_soon() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(TrainingCancelled):
        encrypt_update(pub, list(range(100)), workers=2, should_stop=stop_soon)


def test_default_workers_is_at_least_one():
    from trainer.paillier import default_workers

    assert 1 <= default_workers() <= (__import__("os").cpu_count() or 1)
