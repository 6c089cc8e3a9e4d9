"""The new-wallet wizard's logic, free of Qt so it is tested headless (Electrum's pattern).

The Qt wizard (ui/pages/onboarding.py) only shows these steps and calls `finish_*` in a
worker thread. Key handling itself is wallet.vault's and wallet.keys's.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from mnemonic import Mnemonic

from wallet import keys, remember
from wallet.errors import InvalidInput
from wallet.store import Store
from wallet.vault import Vault

QUIZ_POSITIONS = (3, 7, 11)  # 1-based word numbers the person confirms
QUIZ_CHOICES = 4
MIN_PASSWORD_LENGTH = 8
_WORDLIST = Mnemonic("english").wordlist


@dataclass
class QuizQuestion:
    position: int  # 1-based
    choices: list[str]
    answer: str


@dataclass
class Quiz:
    questions: list[QuizQuestion] = field(default_factory=list)

    def check(self, picked: dict[int, str]) -> list[int]:
        """The positions answered wrongly (empty = all right)."""
        return [q.position for q in self.questions if picked.get(q.position) != q.answer]


def new_mnemonic(words: int = 12) -> str:
    return keys.generate_mnemonic(words)


def make_quiz(phrase: str, rng: random.Random | None = None) -> Quiz:
    """For words #3, #7, #11: the right word among distinct decoys from the same phrase and list."""
    rng = rng or secrets.SystemRandom()
    words = keys.normalize_mnemonic(phrase).split()
    quiz = Quiz()
    for position in QUIZ_POSITIONS:
        answer = words[position - 1]
        # Decoys from the same phrase test the position, not just recognition of the word.
        same_phrase = sorted({w for w in words if w != answer})
        rng.shuffle(same_phrase)
        decoys = same_phrase[: QUIZ_CHOICES - 2]
        while len(decoys) < QUIZ_CHOICES - 1:
            candidate = rng.choice(_WORDLIST)
            if candidate != answer and candidate not in decoys:
                decoys.append(candidate)
        choices = [answer, *decoys]
        rng.shuffle(choices)
        quiz.questions.append(QuizQuestion(position, choices, answer))
    return quiz


def check_new_password(password: str, confirmation: str) -> None:
    """Raise InvalidInput with one sentence unless the password can be set."""
    if not password:
        raise InvalidInput("Choose a password.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if password != confirmation:
        raise InvalidInput("The two passwords differ.")


def check_mnemonic(text: str) -> str:
    """The normalised phrase, or InvalidInput naming what is wrong (wallet.keys decides)."""
    return keys.normalize_mnemonic(text)


def _finish(vault: Vault, home: Path, password: str, remember_me: bool) -> Vault:
    if not vault.is_unlocked:
        vault.unlock(password)
    if remember_me:
        remember.remember_password(home, password)
    return vault


def finish_create(home: Path, store: Store, phrase: str, password: str,
                  remember_me: bool = False) -> Vault:
    """Write the new wallet from the phrase the person confirmed; returns it unlocked."""
    vault, _info = Vault.import_mnemonic(home, phrase, password, 0, None, store=store)
    return _finish(vault, home, password, remember_me)


def finish_import_mnemonic(home: Path, store: Store, phrase: str, password: str,
                           account_index: int = 0, remember_me: bool = False) -> Vault:
    vault, _info = Vault.import_mnemonic(home, phrase, password, account_index, None, store=store)
    return _finish(vault, home, password, remember_me)


def finish_import_keystore(home: Path, store: Store, keystore_path: Path, keystore_password: str,
                           password: str, remember_me: bool = False) -> Vault:
    try:
        data = Path(keystore_path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"Cannot read {keystore_path}: {exc.strerror or exc}.") from exc
    if len(data) > 1_000_000:
        raise InvalidInput(f"{keystore_path} is too large to be a keystore file.")
    vault = Vault.load(home, store)
    vault.import_keystore(data, keystore_password, password)
    return _finish(vault, home, password, remember_me)


def finish_import_private_key(home: Path, store: Store, private_key: str, password: str,
                              remember_me: bool = False) -> Vault:
    vault = Vault.load(home, store)
    vault.import_private_key(private_key.strip(), password)
    return _finish(vault, home, password, remember_me)
