"""What the wallet shows about an account: address, label, kind and HD index."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from wallet.errors import InvalidInput

KIND_HD = "hd"  # derived from the wallet's recovery phrase at m/44'/60'/0'/0/hd_index
KIND_IMPORTED = "imported"  # a key imported from elsewhere
MAX_LABEL_LENGTH = 64


@dataclass(frozen=True)
class AccountInfo:
    address: str  # EIP-55
    label: str
    kind: str  # KIND_HD or KIND_IMPORTED
    hd_index: int | None


def clean_label(label: str | None, default: str) -> str:
    """A label fit to show: trimmed, no control characters, at most 64 characters."""
    if label is None:
        return default
    text = unicodedata.normalize("NFC", str(label)).strip()
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidInput("A label cannot contain control characters.")
    if len(text) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"A label has at most {MAX_LABEL_LENGTH} characters.")
    return text or default
