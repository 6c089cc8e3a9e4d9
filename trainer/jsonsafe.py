"""JSON from strangers without crashing the process.

py_ecc (imported with web3) raises Python's recursion limit to 100,000, so `json.loads` of a
few hundred kilobytes of nested brackets overflows the C stack and kills the process with a
segmentation fault instead of raising RecursionError. `loads` refuses deep nesting first.
It lives in trainer/, the lowest layer, so specs, blobs and every wallet/practitioner
reader of outside JSON share it.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64  # JSON-RPC, specs, reports and relay requests nest a few levels at most
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


def nesting_depth(data: bytes | str) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings do not count)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    without_strings = _STRING.sub(b"", _ESCAPE.sub(b"", raw))
    brackets = without_strings.translate(None, _NOT_BRACKETS).translate(_SIGNS)
    # +1 per opening, -1 per closing bracket (signed bytes), summed in C
    return max(accumulate(array("b", brackets)), default=0)


def loads(data: bytes | str, max_depth: int = MAX_DEPTH, **json_options: Any) -> Any:
    """`json.loads(data, **json_options)`, but ValueError for nesting deeper than `max_depth`."""
    if nesting_depth(data) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data, **json_options)
