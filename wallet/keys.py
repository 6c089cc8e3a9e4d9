"""Keys and addresses: BIP-39 mnemonics, BIP-32/44 derivation, private keys, EIP-55.

- Mnemonics: English BIP-39 through the `mnemonic` library (Trezor's reference code).
  New wallets use 12 or 24 words; import accepts every BIP-39 length (12, 15, 18, 21, 24)
  so phrases from other wallets work. The checksum is always checked.
- Derivation: m/44'/60'/0'/0/i with eth-account's BIP-32 code, the path MetaMask, hardhat
  and anvil use, so the same words give the same addresses everywhere.
- Addresses: shown and parsed only in EIP-55 checksummed form. `parse_address` refuses
  all-lowercase or all-uppercase text whose checksummed form differs (it carries no
  checksum, so a typo would go unnoticed); such text is accepted only when it already is
  the checksummed form, as for the EIP's own all-caps/all-lower vectors.

Error messages never contain a key or a mnemonic word.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from mnemonic import Mnemonic

from wallet.errors import InvalidInput

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# eth-account and eth-utils are imported where used: loading them costs about half a second
# (eth-account pulls in BLS pairing code), and commands such as `quarry wallet list` need
# neither (tests/test_startup.py checks).

CREATE_WORD_COUNTS = (12, 24)
IMPORT_WORD_COUNTS = (12, 15, 18, 21, 24)
ETHEREUM_PATH_PREFIX = "m/44'/60'/0'/0"
MAX_HD_INDEX = 2**31 - 1  # non-hardened child indices only
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_ENGLISH = Mnemonic("english")
_ENGLISH_WORDS = frozenset(_ENGLISH.wordlist)
_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


# -- mnemonics -------------------------------------------------------------------------


def generate_mnemonic(words: int = 12) -> str:
    """A new random English BIP-39 mnemonic of 12 or 24 words (128 or 256 bits)."""
    if words not in CREATE_WORD_COUNTS:
        raise InvalidInput(f"A new recovery phrase has 12 or 24 words, not {words}.")
    return _ENGLISH.generate(strength=words // 3 * 32)


def normalize_mnemonic(text: str) -> str:
    """Validate a BIP-39 English mnemonic and return it as single-spaced lowercase words.

    Raises InvalidInput naming the problem (word count, the position of an unknown word,
    or a failed checksum) without repeating any word.
    """
    if not isinstance(text, str):
        raise InvalidInput("The recovery phrase must be text.")
    words = unicodedata.normalize("NFKD", text).lower().split()
    if len(words) not in IMPORT_WORD_COUNTS:
        raise InvalidInput(
            f"A recovery phrase has 12, 15, 18, 21 or 24 words; this one has {len(words)}."
        )
    for position, word in enumerate(words, start=1):
        if word not in _ENGLISH_WORDS:
            raise InvalidInput(
                f"Word {position} of the recovery phrase is not in the BIP-39 English word list."
            )
    phrase = " ".join(words)
    if not _ENGLISH.check(phrase):
        raise InvalidInput(
            "The recovery phrase has a wrong checksum: a word is probably mistyped or out of order."
        )
    return phrase


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of a (validated) mnemonic and optional passphrase."""
    return Mnemonic.to_seed(normalize_mnemonic(mnemonic), passphrase)


def hd_path(index: int) -> str:
    """The BIP-44 Ethereum path of account `index`: m/44'/60'/0'/0/index."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_HD_INDEX:
        raise InvalidInput(f"An account index is a whole number from 0 to {MAX_HD_INDEX}.")
    return f"{ETHEREUM_PATH_PREFIX}/{index}"


def derive_private_keys(mnemonic: str, indices: list[int], passphrase: str = "") -> list[bytes]:
    """Private keys at m/44'/60'/0'/0/i for each i, computing the seed once."""
    paths = [hd_path(i) for i in indices]
    from eth_account.hdaccount import key_from_seed

    seed = mnemonic_to_seed(mnemonic, passphrase)
    return [key_from_seed(seed, path) for path in paths]


def derive_account(mnemonic: str, index: int = 0, passphrase: str = "") -> LocalAccount:
    """The eth-account signer at m/44'/60'/0'/0/index."""
    from eth_account import Account

    return Account.from_key(derive_private_keys(mnemonic, [index], passphrase)[0])


# -- private keys ----------------------------------------------------------------------


def parse_private_key(text: str | bytes) -> bytes:
    """A 32-byte secp256k1 private key from 64 hex digits (0x optional) or raw bytes."""
    if isinstance(text, bytes | bytearray):
        key = bytes(text)
        if len(key) != 32:
            raise InvalidInput("A private key is 32 bytes.")
    else:
        cleaned = text.strip()
        if cleaned[:2] in ("0x", "0X"):
            cleaned = cleaned[2:]
        if not _HEX64.match(cleaned):
            raise InvalidInput("A private key is 64 hexadecimal digits (optionally after 0x).")
        key = bytes.fromhex(cleaned)
    if not 0 < int.from_bytes(key, "big") < SECP256K1_ORDER:
        raise InvalidInput("This private key is outside the valid range for secp256k1.")
    return key


def account_from_private_key(key: str | bytes) -> LocalAccount:
    from eth_account import Account

    return Account.from_key(parse_private_key(key))


def address_of(key: bytes) -> str:
    """The EIP-55 address of a private key."""
    from eth_account import Account

    return Account.from_key(key).address


# -- addresses -------------------------------------------------------------------------


def checksum(address: str) -> str:
    """The EIP-55 form of a 20-byte hex address given in any letter case."""
    if not isinstance(address, str) or not _HEX40.match(address.strip()):
        raise InvalidInput("An address is 0x followed by 40 hexadecimal digits.")
    from eth_utils import to_checksum_address

    return to_checksum_address(address.strip())


def parse_address(text: str) -> str:
    """Accept `text` only if it is an EIP-55 checksummed address; return it.

    A mixed-case address with a wrong checksum is a typo; an all-lower or all-upper one
    (that is not already its own checksummed form) carries no checksum at all. Both are
    refused with a message saying which.
    """
    if not isinstance(text, str):
        raise InvalidInput("An address must be text.")
    candidate = text.strip()
    if not _HEX40.match(candidate):
        raise InvalidInput("An address is 0x followed by 40 hexadecimal digits.")
    from eth_utils import to_checksum_address

    expected = to_checksum_address(candidate)
    if candidate == expected:
        return expected
    letters = candidate[2:]
    if letters == letters.lower() or letters == letters.upper():
        raise InvalidInput(
            f"{candidate} has no EIP-55 checksum (all one case); use the checksummed "
            "form, with mixed upper and lower case letters."
        )
    raise InvalidInput(
        f"{candidate} has a wrong EIP-55 checksum: a character is probably mistyped."
    )


def is_checksum_address(text: str) -> bool:
    try:
        parse_address(text)
    except InvalidInput:
        return False
    return True
