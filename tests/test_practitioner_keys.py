"""Paillier key storage: round trip, wrong password, tampering, no plaintext primes on disk."""

from __future__ import annotations

import json
import stat

import pytest
from phe import paillier

from practitioner.keys import (
    generate_keypair,
    load_private_key,
    load_public_key,
    save_private_key,
)
from wallet.errors import InvalidInput, NotFound, WrongPassword


@pytest.fixture(scope="module")
def keypair():
    return generate_keypair(512)


def test_round_trip_decrypts_what_the_public_key_encrypted(tmp_path, keypair):
    public_key, private_key = keypair
    path = save_private_key(tmp_path / "k.json", private_key, "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert str(private_key.p) not in text and str(private_key.q) not in text
    assert load_public_key(path).n == public_key.n
    loaded = load_private_key(path, "correct horse")
    assert loaded.decrypt(public_key.encrypt(123456789)) == 123456789


def test_wrong_password_and_tampering_are_refused(tmp_path, keypair):
    _, private_key = keypair
    path = save_private_key(tmp_path / "k.json", private_key, "pw")
    before = path.read_bytes()
    with pytest.raises(WrongPassword):
        load_private_key(path, "not pw")
    other_public, _ = paillier.generate_paillier_keypair(n_length=512)
    document = json.loads(before)
    document["public"]["n"] = str(other_public.n)
    path.write_text(json.dumps(document))
    with pytest.raises(WrongPassword):  # the modulus is bound as associated data
        load_private_key(path, "pw")
    with pytest.raises(InvalidInput):
        save_private_key(path, private_key, "pw")  # no silent overwrite


def test_bad_inputs_give_clear_errors(tmp_path, keypair):
    with pytest.raises(NotFound, match="keygen"):
        load_public_key(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InvalidInput):
        load_private_key(tmp_path / "junk.json", "x")
    with pytest.raises(InvalidInput):
        generate_keypair(100)
    with pytest.raises(InvalidInput):
        save_private_key(tmp_path / "e.json", keypair[1], "")
    assert not (tmp_path / "e.json").exists()
