"""Text from strangers (token symbols and names, spec titles, URIs) made safe to show.

A token contract or a bounty spec can carry terminal escape sequences (which can rewrite what
a terminal shows, or set the clipboard) and Unicode format characters such as right-to-left
overrides (which reorder what follows, e.g. digits of an address). `printable` replaces
them, so what is shown is what is there.
"""

from __future__ import annotations

import unicodedata

REPLACEMENT = "\ufffd"


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with control and format characters (Unicode Cc, Cf) replaced by U+FFFD."""
    value = str(text)
    if value.isprintable() and not any(unicodedata.category(c) == "Cf" for c in value):
        return value
    return "".join(
        c if (keep_newlines and c == "\n") or unicodedata.category(c) not in ("Cc", "Cf") else REPLACEMENT
        for c in value
    )
