"""`open_table(path)`: the reader for a data file, chosen by its suffix (trainer.tables
describes the interface and the formats)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer import binary_tables, text_tables
from trainer.errors import DataError
from trainer.tables import CSV_SUFFIXES, MAX_FILE_BYTES, SUPPORTED_TEXT, Table, one_line


def open_table(path: str | Path, *, sheet: str | None = None) -> Table:
    """Open a data file for reading; DataError (one line) when it cannot be read as a table."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    except OSError as exc:
        raise DataError(f"{path.name}: cannot be read ({exc.strerror or exc}).") from None
    if not path.is_file():
        raise DataError(f"{path.name}: is not a file.")
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024**3} GiB.")
    suffix = path.suffix.lower()
    opener: Any = {
        ".xlsx": binary_tables.XlsxTable, ".ods": binary_tables.OdsTable,
        ".parquet": binary_tables.ParquetTable, ".pq": binary_tables.ParquetTable,
        ".npz": binary_tables.NpzTable, ".jsonl": text_tables.JsonLinesTable,
        ".ndjson": text_tables.JsonLinesTable, ".json": text_tables.JsonArrayTable,
    }.get(suffix)
    if suffix in CSV_SUFFIXES:
        opener = text_tables.CsvTable
    if opener is None:
        raise DataError(f"{path.name}: unsupported file type '{suffix}' (use {SUPPORTED_TEXT}).")
    try:
        if getattr(opener, "has_sheets", False):
            return opener(path, sheet)
        return opener(path)
    except DataError:
        raise
    except Exception as exc:  # an untrusted file: each library raises its own kinds of errors
        raise DataError(f"{path.name}: not a readable {opener.fmt} file "
                        f"({one_line(exc)}).") from None
