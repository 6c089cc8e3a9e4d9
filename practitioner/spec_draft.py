"""A first draft of a bounty spec from a data file: `quarry-practitioner spec-from FILE --label COL`.

The file is read by the same reader the wallets use (trainer.tables), so a practitioner can
start from a spreadsheet, Parquet or JSON export as well as a CSV. The draft has:
- one feature column per column whose every non-missing cell (of the first 10,000 rows) is a
  number; `int` when they are all whole numbers, else `float`; columns of text are left out
  and listed. A name that is not a clean column name (control characters, padding, longer
  than 100 characters) is normalised, and the original kept as an alias so owners' files
  with the same header still match,
- the label column and its classes: the distinct label values, as integers when they all
  are, else as text (at most 1,000 classes),
- a model (logistic for two classes, softmax for more), training defaults and the fields
  `post` fills in left out (standardize, paillier, validation_commitment, initial_model,
  inbox_url, privacy.clip_norm).
The practitioner edits the title, description and anything else, then posts it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from trainer.cells import numbers
from trainer.errors import DataError
from trainer.mapping import MISSING_TOKENS, cell_text, normalise
from trainer.table_readers import open_table
from trainer.tables import Table

SAMPLE_ROWS = 10_000
MAX_CLASSES = 1_000
_CLEAN_NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")


DEFAULT_MIN_ROWS = 20


def draft_spec(path: str | Path, label: str, *, sheet: str | None = None,
               title: str | None = None, min_rows: int = DEFAULT_MIN_ROWS) -> tuple[dict[str, Any], list[str]]:
    """(spec dict to edit, notes for the practitioner); DataError when the file or the
    label column does not do or `min_rows` is below 1."""
    if min_rows < 1:
        raise DataError(f"The fewest rows an owner must train on is at least 1 (got {min_rows}).")
    with open_table(path, sheet=sheet) as table:
        spec, notes = _draft(table, path, label, title)
    spec["schema"]["min_rows"] = int(min_rows)
    return spec, notes


def _draft(table: Table, path: str | Path, label: str,
           title: str | None) -> tuple[dict[str, Any], list[str]]:
    if label not in table.columns:
        raise DataError(f"{table.name}: no column '{label}' for the label (columns: "
                        f"{', '.join(table.columns[:12])}{' ...' if len(table.columns) > 12 else ''}).")
    others = [c for c in table.columns if c != label]
    sample = {c: [] for c in table.columns}
    read = 0
    for batch in table.batches(table.columns, batch_rows=SAMPLE_ROWS):
        take = min(batch.n_rows, SAMPLE_ROWS - read)
        for c in table.columns:
            values = batch.columns[c]
            sample[c].append(values[:take] if take < batch.n_rows else values)
        read += take
        if read >= SAMPLE_ROWS:
            break
    if read == 0:
        raise DataError(f"{table.name}: has a header but no data rows.")
    notes: list[str] = []
    columns: list[dict[str, Any]] = []
    used_names: set[str] = {label}
    skipped = []
    for c in others:
        parts = [numbers(v, table.decimal_comma) for v in sample[c]]
        bad = sum(int(p[2].sum()) for p in parts)
        present = [p[0][~(p[1] | p[2])] for p in parts]
        n_present = sum(len(p) for p in present)
        if bad or n_present == 0:
            skipped.append(c)
            continue
        whole = all(all(float(x).is_integer() for x in p) for p in present)
        name = c if _CLEAN_NAME.match(c) and c == c.strip() else normalise(c)[:100]
        if name in used_names:
            skipped.append(c)
            continue
        used_names.add(name)
        column: dict[str, Any] = {"name": name, "type": "int" if whole else "float"}
        if name != c and _CLEAN_NAME.match(c.strip()[:100]):
            column["aliases"] = [c.strip()[:100]]
        columns.append(column)
    if skipped:
        notes.append(f"left out (not numbers): {', '.join(skipped[:12])}"
                     f"{' ...' if len(skipped) > 12 else ''}")
    if not columns:
        raise DataError(f"{table.name}: no column of numbers besides the label '{label}'.")
    classes = _classes([cell for values in sample[label] for cell in _cells(values)], table.name)
    if len(classes) < 2:
        raise DataError(f"{table.name}: the label column '{label}' holds fewer than two classes "
                        f"in its first {read:,} rows.")
    binary = len(classes) == 2
    notes.append(f"{len(columns)} feature column(s), {len(classes)} classes from the first "
                 f"{read:,} rows; edit the title, description, model and training before posting")
    spec = {
        "version": 1,
        "title": title or Path(path).stem.replace("_", " ").strip()[:200] or "My bounty",
        "description": "",
        "task": "binary_classification" if binary else "multiclass_classification",
        "schema": {"columns": columns, "label": label, "classes": classes,
                   "min_rows": DEFAULT_MIN_ROWS},
        "model": {"type": "logistic" if binary else "softmax", "hidden": [],
                  "n_features": len(columns), "n_classes": len(classes)},
        "training": {"optimizer": "sgd", "learning_rate": 0.1, "epochs": 10, "batch_size": 32,
                     "seed": 1, "l2": 0.0},
        "privacy": {"delta": 1e-5, "max_noise_multiplier": 2.0},
        # 17-bit slots (100 x 2 x 2 x 2^8 < 2^17): 120 values per 2048-bit ciphertext, 4.27
        # bytes per parameter; stochastic rounding keeps the average unbiased
        # (benchmarks.encoding_accuracy: demo round models within 0.32 points of precision 16)
        "encoding": {"precision_bits": 8, "clip": 2.0, "max_contributors": 100},
        "metric": "log_loss",
    }
    return spec, notes


def _cells(values: Any) -> list[Any]:
    if isinstance(values, list):
        return values
    return values.tolist() if hasattr(values, "tolist") and not hasattr(values, "to_pylist") \
        else values.to_pylist()


def _classes(cells: list[Any], name: str) -> list[int | str]:
    texts = sorted({cell_text(c) for c in cells} - {""},
                   key=lambda t: (t.casefold() in MISSING_TOKENS, t))
    texts = [t for t in texts if t.casefold() not in MISSING_TOKENS]
    if len(texts) > MAX_CLASSES:
        raise DataError(f"{name}: the label column holds more than {MAX_CLASSES} distinct values; "
                        "is it a label?")
    as_ints = []
    for t in texts:
        try:
            value = float(t)
        except ValueError:
            break
        if not (math.isfinite(value) and value.is_integer()):
            break
        as_ints.append(int(value))
    if len(as_ints) == len(texts):
        return sorted(set(as_ints))
    return [t[:100] for t in texts]
