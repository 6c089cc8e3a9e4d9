"""Keys: BIP-39 vectors, BIP-44 derivation (anvil/hardhat), private keys, EIP-55."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from wallet import keys
from wallet.errors import InvalidInput

VECTORS = Path(__file__).parent / "vectors"
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
# anvil / hardhat default accounts 0..2 (m/44'/60'/0'/0/i)
ANVIL_ACCOUNTS = [
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    ("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"),
]
# EIP-55 specification examples: all caps, all lower, normal.
EIP55_VALID = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


def _bip39_vectors():
    data = json.loads((VECTORS / "bip39_trezor_english.json").read_text())
    return [(entropy, words, seed, data["passphrase"]) for entropy, words, seed in data["english"]]


@pytest.mark.parametrize(("entropy", "words", "seed", "passphrase"), _bip39_vectors())
def test_bip39_reference_vectors(entropy, words, seed, passphrase):
    assert Mnemonic("english").to_mnemonic(bytes.fromhex(entropy)) == words
    assert keys.normalize_mnemonic(words) == words
    assert keys.mnemonic_to_seed(words, passphrase).hex() == seed


def test_anvil_hardhat_accounts_from_the_test_mnemonic():
    derived = keys.derive_private_keys(ANVIL_MNEMONIC, [0, 1, 2])
    for (address, private_key), key in zip(ANVIL_ACCOUNTS, derived, strict=True):
        assert key.hex() == private_key
        assert keys.account_from_private_key(key).address == address
    assert keys.derive_account(ANVIL_MNEMONIC, 1).address == ANVIL_ACCOUNTS[1][0]


def test_mnemonic_normalisation_tolerates_case_and_spacing():
    messy = "  TEST test\ttest test test test\ntest test test test test JUNK "
    assert keys.normalize_mnemonic(messy) == ANVIL_MNEMONIC


@pytest.mark.parametrize("words", [12, 24])
def test_generated_mnemonics_are_valid(words):
    phrase = keys.generate_mnemonic(words)
    assert len(phrase.split()) == words
    assert keys.normalize_mnemonic(phrase) == phrase
    assert phrase != keys.generate_mnemonic(words)


def test_generate_refuses_other_lengths():
    with pytest.raises(InvalidInput, match="12 or 24"):
        keys.generate_mnemonic(18)


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("test " * 11 + "test", "wrong checksum"),
        ("test " * 10 + "junk", "has 11"),
        ("test " * 11 + "jnuk", "Word 12 .* not in the BIP-39 English word list"),
        ("", "has 0"),
    ],
)
def test_bad_mnemonics_are_refused_without_echoing_words(phrase, message):
    with pytest.raises(InvalidInput, match=message) as info:
        keys.normalize_mnemonic(phrase)
    assert "jnuk" not in str(info.value)
    assert "test test" not in str(info.value)


def test_hd_path_and_index_bounds():
    assert keys.hd_path(7) == "m/44'/60'/0'/0/7"
    for bad in (-1, 2**31, True, "1"):
        with pytest.raises(InvalidInput, match="account index"):
            keys.hd_path(bad)


def test_private_key_parsing():
    address, key_hex = ANVIL_ACCOUNTS[0]
    assert keys.parse_private_key(key_hex).hex() == key_hex
    assert keys.parse_private_key(" 0x" + key_hex.upper() + "\n").hex() == key_hex
    assert keys.account_from_private_key(bytes.fromhex(key_hex)).address == address
    for bad in ("", "0x1234", "zz" * 32, "00" * 32, "ff" * 32, key_hex + "00"):
        with pytest.raises(InvalidInput) as info:
            keys.parse_private_key(bad)
        assert key_hex not in str(info.value)


@pytest.mark.parametrize("address", EIP55_VALID)
def test_eip55_vectors_parse_and_checksum(address):
    assert keys.parse_address(address) == address
    assert keys.checksum(address.lower()) == address
    assert keys.checksum("0x" + address[2:].upper()) == address
    assert keys.is_checksum_address(address)


def test_wrong_checksum_is_refused():
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    flipped = good[:3] + good[3].swapcase() + good[4:]
    with pytest.raises(InvalidInput, match="wrong EIP-55 checksum"):
        keys.parse_address(flipped)
    with pytest.raises(InvalidInput, match="no EIP-55 checksum"):
        keys.parse_address(good.lower())
    assert not keys.is_checksum_address(good.lower())


@pytest.mark.parametrize("bad", ["", "0x123", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x" + "g" * 40, "0x" + "a" * 41])
def test_malformed_addresses_are_refused(bad):
    with pytest.raises(InvalidInput, match="0x followed by 40 hexadecimal digits"):
        keys.parse_address(bad)
    with pytest.raises(InvalidInput):
        keys.checksum(bad)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(min_size=20, max_size=20), data=st.data())
def test_any_single_case_flip_breaks_the_checksum(raw, data):
    address = keys.checksum("0x" + raw.hex())
    assert keys.parse_address(address) == address
    letters = [i for i, ch in enumerate(address) if i >= 2 and ch.isalpha()]
    if letters:
        i = data.draw(st.sampled_from(letters))
        flipped = address[:i] + address[i].swapcase() + address[i + 1 :]
        with pytest.raises(InvalidInput):
            keys.parse_address(flipped)
