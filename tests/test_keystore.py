"""Keystore v3: specification vectors, round trips, bad files, cost limits."""

from __future__ import annotations

import copy
import json

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from wallet_testing import VECTORS, fast_scrypt  # noqa: F401 (fixture)

from wallet import keystore
from wallet.errors import InvalidInput, WrongPassword

KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize("kdf", ["pbkdf2", "scrypt"])
def test_web3_secret_storage_vectors(kdf):
    key = keystore.decrypt_keystore(VECTORS[kdf], VECTORS["password"])
    assert key.hex() == VECTORS["private_key"]


def test_vector_with_wrong_password():
    with pytest.raises(WrongPassword, match="Wrong password"):
        keystore.decrypt_keystore(VECTORS["pbkdf2"], "testpassworD")


def test_scrypt_n_default_and_override(monkeypatch):
    monkeypatch.delenv(keystore.SCRYPT_N_ENV)
    assert keystore.scrypt_n() == 2**18
    monkeypatch.setenv(keystore.SCRYPT_N_ENV, "8192")
    assert keystore.scrypt_n() == 8192
    for bad in ("1000", "abc", "512", str(2**24)):
        monkeypatch.setenv(keystore.SCRYPT_N_ENV, bad)
        with pytest.raises(InvalidInput, match="power of two"):
            keystore.scrypt_n()


def test_round_trip_is_a_standard_keystore_eth_account_reads():
    encrypted = keystore.encrypt_key(KEY, "pässword")
    assert encrypted["version"] == 3
    assert encrypted["crypto"]["kdf"] == "scrypt"
    assert encrypted["crypto"]["kdfparams"]["n"] == 4096
    assert keystore.keystore_address(encrypted) == ADDRESS
    text = keystore.keystore_json(encrypted)
    # eth-account, independent of our wrapper, decrypts what we wrote.
    assert bytes(Account.decrypt(json.loads(text), "pässword")) == KEY
    assert keystore.decrypt_keystore(text, "pässword") == KEY
    with pytest.raises(WrongPassword):
        keystore.decrypt_keystore(text, "password")


def test_pbkdf2_round_trip():
    encrypted = keystore.encrypt_key(KEY, "pw", kdf="pbkdf2", iterations=1000)
    assert keystore.decrypt_keystore(encrypted, "pw") == KEY


def test_empty_password_is_refused():
    with pytest.raises(InvalidInput, match="must not be empty"):
        keystore.encrypt_key(KEY, "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00binary", "not text"),
        ("[1, 2]", "not an Ethereum keystore"),
        ('{"name": "a shopping list"}', "not an Ethereum keystore"),
        ('{"version": 1, "crypto": {}}', "not an Ethereum keystore"),
    ],
)
def test_foreign_and_corrupt_files(data, message):
    with pytest.raises(InvalidInput, match=message):
        keystore.decrypt_keystore(data, "pw")


def _mutated(change):
    data = copy.deepcopy(VECTORS["scrypt"])
    change(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["crypto"].update(cipher="aes-256-gcm"), "only aes-128-ctr"),
        (lambda d: d["crypto"].update(kdf="argon2"), "only scrypt and pbkdf2"),
        (lambda d: d["crypto"]["kdfparams"].update(n=2**30), "unreasonably expensive"),
        (lambda d: d["crypto"]["kdfparams"].update(n=1000), "crypto section is malformed"),
        (lambda d: d["crypto"].update(mac="zz"), "crypto section is malformed"),
        (lambda d: d["crypto"].pop("ciphertext"), "crypto section is malformed"),
        (lambda d: d.update(address="0x1234"), "malformed address"),
    ],
)
def test_malformed_keystores_are_refused_before_any_kdf_work(mutate, message):
    with pytest.raises(InvalidInput, match=message):
        keystore.decrypt_keystore(_mutated(mutate), VECTORS["password"])


def test_pbkdf2_cost_limit():
    data = copy.deepcopy(VECTORS["pbkdf2"])
    data["crypto"]["kdfparams"]["c"] = 10**9
    with pytest.raises(InvalidInput, match="unreasonably expensive"):
        keystore.decrypt_keystore(data, VECTORS["password"])


def test_address_field_must_match_the_key():
    encrypted = keystore.encrypt_key(KEY, "pw")
    encrypted["address"] = "70997970c51812dc3a010c7d01b50e0d17dc79c8"
    with pytest.raises(InvalidInput, match="address field does not match"):
        keystore.decrypt_keystore(encrypted, "pw")


def test_secret_round_trip():
    secret = b"test test test test test test test test test test test junk"
    crypto = keystore.encrypt_secret(secret, "pw")
    assert crypto["kdfparams"]["n"] == 4096
    assert secret.hex() not in json.dumps(crypto)
    assert keystore.decrypt_secret(crypto, "pw") == secret
    with pytest.raises(WrongPassword):
        keystore.decrypt_secret(crypto, "other")


@settings(max_examples=15, deadline=None)
@given(key=st.integers(min_value=1, max_value=2**256 - 2**129), password=st.text(min_size=1, max_size=40))
def test_round_trip_any_key_and_password(key, password):
    raw = key.to_bytes(32, "big")
    assert keystore.decrypt_keystore(keystore.encrypt_key(raw, password, kdf="pbkdf2", iterations=16), password) == raw
