"""wallet.untrusted.printable: escapes and format characters from strangers are defused."""

from __future__ import annotations

from wallet.untrusted import REPLACEMENT, printable


def test_control_and_format_characters_are_replaced():
    assert printable("QDT\x1b]52;c;ZXZpbA==\x07") == f"QDT{REPLACEMENT}]52;c;ZXZpbA=={REPLACEMENT}"
    assert printable("0xAb\u202e12") == f"0xAb{REPLACEMENT}12"  # right-to-left override
    assert printable("zero\u200bwidth") == f"zero{REPLACEMENT}width"
    assert printable("a\nb") == f"a{REPLACEMENT}b"
    assert printable("a\nb", keep_newlines=True) == "a\nb"


def test_ordinary_text_is_kept():
    for text in ("Quarry Data Token", "Données médicales 日本 ✓", "", "1.5 QDT"):
        assert printable(text) == text
    assert printable(42) == "42"
