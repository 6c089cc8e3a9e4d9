"""Obfuscators precomputed while training (issue 12): send time is multiplications only, each
obfuscator is handed out once, and the ciphertexts decrypt exactly like the cold path's."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from trainer.aggregate import aggregate, decrypt_update
from trainer.encoding import EncodingParams, encode, pack
from trainer.errors import EncodingError, TrainingCancelled
from trainer.obfuscator_pool import ObfuscatorPool
from trainer.paillier import decrypt_blocks, encrypt_update
from trainer.testing import test_keypair
from trainer.update import encrypt_vector_to_blob
from trainer.update_blob import parse_blob


@pytest.fixture(scope="module")
def keys():
    return test_keypair(512)


def _obfuscators_of(pub, plaintexts: list[int], ciphertexts: list[int]) -> list[int]:
    """r = c / (1 + m*n) mod n^2: the obfuscator each ciphertext was built with."""
    nsq = gmpy2.mpz(pub.nsquare)
    return [
        int(gmpy2.mpz(c) * gmpy2.invert(1 + gmpy2.mpz(pub.n) * m, nsq) % nsq)
        for m, c in zip(plaintexts, ciphertexts, strict=True)
    ]


def test_the_pool_hands_each_obfuscator_out_once(keys):
    pub, _ = keys
    pool = ObfuscatorPool(pub, 40).start()
    assert pool.wait(30) and pool.available == 40
    first = pool.take(25)
    second = pool.take(30)  # 15 left in the pool, 15 drawn on the spot
    assert pool.available == 0 and pool.handed_out == 55
    everything = [int(r) for r in first + second]
    assert len(set(everything)) == 55  # no obfuscator twice
    # each is an n-th residue unit: hs^a for a fresh a, so it decrypts to 0
    assert all(0 < r < pub.nsquare and gmpy2.gcd(r, pub.n) == 1 for r in everything)
    pool.close()


def test_two_ciphertexts_never_share_an_obfuscator(keys):
    """The same plaintexts encrypted twice from one pool (and past its end): every
    ciphertext carries its own obfuscator, and every one decrypts to its plaintext."""
    pub, priv = keys
    plaintexts = [7, 7, 0, pub.n - 1, 2**300]
    pool = ObfuscatorPool(pub, 6).start()
    pool.wait(30)
    one = encrypt_update(pub, plaintexts, obfuscators=pool)
    two = encrypt_update(pub, plaintexts, obfuscators=pool)  # 1 from the pool, 4 fresh
    used = _obfuscators_of(pub, plaintexts, one) + _obfuscators_of(pub, plaintexts, two)
    assert len(set(used)) == len(used) == 10
    assert len(set(one + two)) == 10
    assert decrypt_blocks(priv, one, workers=1) == plaintexts == decrypt_blocks(priv, two, workers=1)
    pool.close()


def test_send_time_encryption_decrypts_like_the_cold_path(keys):
    pub, priv = keys
    encoding = EncodingParams(precision_bits=16, clip=1.0, max_contributors=10, key_bits=512)
    update = np.random.default_rng(3).uniform(-1.2, 1.2, 300)
    n_blocks = encoding.n_plaintexts(update.size)
    pool = ObfuscatorPool(pub, n_blocks).start()
    pool.wait(30)
    common = dict(bounty_id=1, round=0, n_samples=10)
    warm = encrypt_vector_to_blob(pub, update, encoding, obfuscators=pool, **common)
    cold = encrypt_vector_to_blob(pub, update, encoding, workers=1, **common)
    assert pool.available == 0 and pool.handed_out == n_blocks
    assert warm != cold and len(warm) == len(cold)
    warm_blob, cold_blob = parse_blob(warm, pub), parse_blob(cold, pub)
    assert decrypt_blocks(priv, warm_blob.ciphertexts, workers=1) == pack(
        encode(update, encoding), encoding
    )
    np.testing.assert_array_equal(
        decrypt_update(priv, warm_blob, workers=1), decrypt_update(priv, cold_blob, workers=1)
    )
    # and they add up homomorphically like any other update
    total = aggregate(priv, [warm_blob, cold_blob], average=False, workers=1).vector
    np.testing.assert_allclose(total, 2 * np.clip(update, -1, 1), atol=2 / encoding.scale)


def test_a_pool_for_another_key_is_refused_and_cancel_works(keys):
    pub, _ = keys
    other = test_keypair(256)[0]
    with pytest.raises(EncodingError, match="another key"):
        encrypt_update(pub, [1], obfuscators=ObfuscatorPool(other, 1))
    with pytest.raises(TrainingCancelled):
        encrypt_update(pub, [1, 2], obfuscators=ObfuscatorPool(pub, 2), should_stop=lambda: True)


def test_close_forgets_what_was_not_handed_out(keys):
    pub, _ = keys
    pool = ObfuscatorPool(pub, 10).start()
    pool.wait(30)
    pool.close()
    assert pool.available == 0
    assert len(pool.take(2)) == 2  # still works: drawn fresh



def test_taking_before_the_thread_is_done_draws_the_rest_fresh(keys):
    pub, _ = keys
    pool = ObfuscatorPool(pub, 300).start()
    got = pool.take(300)  # most likely before the thread has finished
    assert pool.wait(30) and pool.available == 0  # the thread stopped: nothing left over
    assert len({int(r) for r in got}) == 300
