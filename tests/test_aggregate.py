"""Homomorphic aggregation of encrypted update blobs."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.aggregate import aggregate, aggregate_subset, decrypt_update, sum_encrypted
from trainer.encoding import EncodingParams, decode_sum, encode
from trainer.errors import BlobError
from trainer.testing import test_keypair
from trainer.update import encrypt_vector_to_blob
from trainer.update_blob import encode_blob, parse_blob

N_PARAMS = 200


@pytest.fixture(scope="module")
def setting():
    pub, priv = test_keypair(512)
    enc = EncodingParams(16, 1.0, 10, 512)
    rng = np.random.default_rng(11)
    updates = rng.uniform(-1, 1, size=(5, N_PARAMS))
    blobs = []
    for i, u in enumerate(updates):
        data = encrypt_vector_to_blob(pub, u, enc, bounty_id=1, round=0, n_samples=100 + i, workers=1)
        blobs.append(parse_blob(data, expected_public_key=pub, expected_encoding=enc))
    return pub, priv, enc, updates, blobs


def test_average_of_five_updates(setting):
    pub, priv, enc, updates, blobs = setting
    result = aggregate(priv, blobs)
    assert result.count == 5 and result.averaged
    # stochastic rounding: each value is on the grid point below or above, one step at most
    assert np.max(np.abs(result.vector - updates.mean(axis=0))) < 1 / enc.scale
    summed = aggregate(priv, blobs, average=False)
    assert np.allclose(summed.vector, updates.sum(axis=0), atol=5 / enc.scale)
    # and exactly the sum of what each owner's encoding gave (the kept round trips)
    encoded = sum(decode_sum(encode(u, enc), 1, enc) for u in updates)
    assert np.allclose(summed.vector, encoded, rtol=0, atol=1e-12)


def test_subset_and_single_decryption(setting):
    pub, priv, enc, updates, blobs = setting
    sub = aggregate_subset(priv, blobs, [3, 1])
    assert sub.count == 2
    assert np.allclose(sub.vector, updates[[1, 3]].mean(axis=0), atol=1 / enc.scale)
    one = decrypt_update(priv, blobs[2])
    assert np.allclose(one, updates[2], atol=1 / enc.scale)
    with pytest.raises(BlobError, match="empty"):
        aggregate_subset(priv, blobs, [])
    with pytest.raises(BlobError, match="out of range"):
        aggregate_subset(priv, blobs, [5])


def test_sum_encrypted_is_product_of_ciphertexts(setting):
    pub, priv, enc, updates, blobs = setting
    summed = sum_encrypted(pub, blobs[:2])
    assert summed[0] == blobs[0].ciphertexts[0] * blobs[1].ciphertexts[0] % pub.nsquare


def test_incompatible_blobs_refused(setting):
    pub, priv, enc, updates, blobs = setting
    other_round = parse_blob(
        encode_blob(
            bounty_id=1,
            round=1,
            n_params=N_PARAMS,
            encoding=enc,
            public_key=pub,
            n_samples=5,
            ciphertexts=list(blobs[0].ciphertexts),
        )
    )
    with pytest.raises(BlobError, match="round"):
        aggregate(priv, [blobs[0], other_round])
    with pytest.raises(BlobError, match="No updates"):
        aggregate(priv, [])


def test_more_than_max_contributors_refused(setting):
    pub, priv, enc, updates, blobs = setting
    with pytest.raises(BlobError, match="maximum of 10"):
        aggregate(priv, blobs * 3)


def test_wrong_private_key_fails_clearly(setting):
    pub, priv, enc, updates, blobs = setting
    _, other_priv = test_keypair(1024)
    with pytest.raises(BlobError):
        aggregate(other_priv, blobs)


def test_owner_flow_end_to_end_three_owners():
    """make_update -> encrypt_to_blob -> parse_blob -> aggregate == plaintext mean of deltas."""
    from sklearn.datasets import load_breast_cancer

    from trainer.models import model_from_spec
    from trainer.testing import make_spec
    from trainer.update import encrypt_to_blob, make_update
    from trainer.update_blob import blob_hash

    pub, priv = test_keypair(512)
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    spec = make_spec(n_features=30, public_key=pub, **{"training.epochs": 2})
    start = model_from_spec(spec).get_params()
    updates, blobs = [], []
    for owner in range(3):
        rows = slice(owner * 150, (owner + 1) * 150)
        update = make_update(spec, start, X[rows], y[rows])
        done = []
        data = encrypt_to_blob(spec, 9, 0, update, progress=lambda d, t, done=done: done.append((d, t)))
        assert done[-1][0] == done[-1][1] == len(parse_blob(data).ciphertexts)
        assert blob_hash(data).startswith("0x")
        updates.append(np.clip(update.delta, -1.0, 1.0))
        blobs.append(parse_blob(data, expected_public_key=pub))
    result = aggregate(priv, blobs)
    assert result.count == 3
    assert np.allclose(result.vector, np.mean(updates, axis=0), atol=1.0 / 2**16)
    # The global model improves when the average update is applied.
    model = model_from_spec(spec)
    before = model.accuracy(X, y)
    model.set_params(start + result.vector)
    assert model.accuracy(X, y) > before


def test_encrypt_to_blob_respects_max_blob_bytes():
    from trainer.testing import make_spec
    from trainer.update import LocalUpdate, encrypt_to_blob

    pub, _ = test_keypair(512)
    spec = make_spec(public_key=pub, max_blob_bytes=100)
    with pytest.raises(BlobError, match="at most 100"):
        encrypt_to_blob(spec, 1, 0, LocalUpdate(delta=np.zeros(5), n_samples=10))


def test_a_blob_does_not_say_how_many_rows_its_update_was_trained_on():
    """Only the encrypted update leaves the computer: the header's sample count is the same for
    an owner of 37 rows and one of 200 (a true count would tell the practitioner, and the other
    contributors of an opened round, how many rows an owner holds, and under row-level DP
    whether one row is among them); the update itself still decrypts as sent."""
    from sklearn.datasets import load_breast_cancer

    from trainer.testing import make_spec
    from trainer.update import encrypt_to_blob, make_update
    from trainer.update_blob import DECLARED_SAMPLES

    pub, private_key = test_keypair(512)
    spec = make_spec(public_key=pub, n_features=30, **{"training.epochs": 1})
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    start = np.zeros(31)
    headers = []
    for rows in (37, 200):
        update = make_update(spec, start, x[:rows], y[:rows])
        assert update.n_samples == rows  # known here, for the owner's own review
        blob = parse_blob(encrypt_to_blob(spec, 1, 0, update, workers=1), pub)
        assert blob.n_samples == DECLARED_SAMPLES
        headers.append(blob.n_samples)
        decoded = decrypt_update(private_key, blob)
        assert np.allclose(decoded, update.delta, atol=2 * 2.0 ** -blob.encoding.precision_bits)
    assert headers[0] == headers[1]
