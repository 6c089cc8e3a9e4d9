"""A column's cells as numbers, whatever the reader gave: a numpy array, an Arrow array
(vectorised: one cast for a clean block) or a list of cells (spreadsheets, JSON).

    values, missing, bad = numbers(cells, decimal_comma=False, col_type="float")

Missing: empty, null, NaN and the usual markers (NA, n/a, null, ?, ...; mapping.MISSING_TOKENS).
Bad: anything else that is not a finite number, and a non-integer in an int column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trainer.mapping import MISSING_TOKENS, cell_text
from trainer.tables import as_list


def numbers(values: Any, decimal_comma: bool = False,
            col_type: str = "float") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, missing mask, bad mask) of one column's cells, whatever their kind:
    a numpy or Arrow array (vectorised) or a list of cells. Missing: empty, null, NaN and the
    usual markers (NA, n/a, null, ?, ...); bad: anything else that is not a finite number,
    and a non-integer in an int column."""
    vals = None
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        vals = values.astype(np.float64)
    elif not isinstance(values, (list, np.ndarray)):
        vals = _arrow_numbers(values, decimal_comma)
    if vals is None:
        vals, missing, bad = _list_numbers(as_list(values), decimal_comma)
    else:
        missing = np.isnan(vals)
        bad = np.isinf(vals)
    if col_type == "int":
        finite = ~(missing | bad)
        bad = bad | (finite & (vals != np.round(vals)))
    vals = np.where(missing | bad, np.nan, vals)
    return vals, missing, bad


def _arrow_numbers(values: Any, decimal_comma: bool) -> np.ndarray | None:
    """Floats (NaN for missing, inf for infinities) from an Arrow array; None when some cell
    is text that is not a number (the caller then goes cell by cell to say which)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
            or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    text = pc.utf8_trim_whitespace(values)
    absent = pc.or_kleene(pc.is_null(text),
                          pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(MISSING_TOKENS))))
    if decimal_comma:
        text = pc.replace_substring(text, ",", ".")
    try:
        return pc.cast(pc.if_else(absent, pa.scalar(None, pa.string()), text),
                       pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None


def _list_numbers(cells: list[Any], decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(cells)
    vals = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for i, cell in enumerate(cells):
        if cell is None:
            missing[i] = True
            continue
        if isinstance(cell, (int, float)):  # bool too: a spreadsheet's TRUE/FALSE is 1/0
            value = float(cell)
        else:
            text = cell_text(cell)
            if text.casefold() in MISSING_TOKENS:
                missing[i] = True
                continue
            if decimal_comma:
                text = text.replace(",", ".")
            try:
                value = float(text)
            except ValueError:
                bad[i] = True
                continue
        if math.isnan(value):
            missing[i] = True
        elif math.isinf(value):
            bad[i] = True
        else:
            vals[i] = value
    return vals, missing, bad
