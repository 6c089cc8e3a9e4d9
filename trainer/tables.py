"""Reading the data owner's own tables, whatever program wrote them, behind one interface.

    from trainer.table_readers import open_table
    table = open_table(path, sheet=None)      # DataError with one clear line if unreadable
    table.columns                             # header names, in file order
    table.head(n)                             # first n rows (cells as read), for a preview
    for batch in table.batches(["a", "b"]):   # only the columns asked for, a block at a time
        batch.columns["a"]                    # a list of cells, a numpy array or an Arrow array

Formats (chosen by the file's suffix):
- CSV/TSV/TXT: encoding sniffed (UTF-8 with or without BOM, UTF-16 by BOM or NUL pattern,
  else Latin-1), delimiter and quote sniffed by the stdlib csv.Sniffer on the first 64 KiB,
  decimal comma detected when a non-comma delimiter separates numbers written `1,5`. Rows
  are parsed by pyarrow's streaming CSV reader (C++, a block at a time: a million-row file
  never sits in memory as text or Python strings).
- .xlsx: openpyxl in read-only mode (rows streamed from the sheet's XML).
- .ods: python-calamine (Rust; the whole sheet, which a spreadsheet bounds anyway).
- .parquet/.pq: pyarrow.parquet, one row group batch at a time, only the asked columns.
- .jsonl/.ndjson: one JSON object per line, streamed; .json: an array of objects.
- .npz: numpy with allow_pickle=False; 1-D arrays named like columns, or "X" (2-D, its
  columns named X[0], X[1], ...) and "y".

The readers live in trainer.text_tables (CSV/TSV, JSON Lines, JSON) and
trainer.binary_tables (.xlsx, .ods, Parquet, .npz), chosen by trainer.table_readers; this
module holds the interface, the bounds and the helpers they share. Every reader is bounded (file size, uncompressed size of
zipped formats, line length, JSON depth) and only reads: nothing is written anywhere. A file
that cannot be read raises one DataError naming the file and what is wrong.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import DataError

MAX_FILE_BYTES = 2 * 1024**3
MAX_UNZIPPED_BYTES = 2 * 1024**3
MAX_ODS_UNZIPPED_BYTES = 256 * 1024**2  # calamine builds the whole sheet in memory
MAX_JSON_ARRAY_BYTES = 100 * 1024**2  # parsed whole (~10x in Python objects); bigger: JSON Lines
MAX_LINE_BYTES = 16 * 1024**2
MAX_COLUMNS = 100_000
SNIFF_BYTES = 64 * 1024
BATCH_ROWS = 65_536
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
SUFFIXES = (*CSV_SUFFIXES, ".xlsx", ".ods", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".npz")
SUPPORTED_TEXT = "CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON or .npz"

Cell = str | float | int | bool | None


@dataclass
class Batch:
    """A block of rows: `columns[name]` holds that column's cells for the block."""

    first_row: int  # number of the block's first row, counted as `row_word` says
    n_rows: int
    columns: dict[str, Any]


class Table:
    """One opened file; subclasses read one format."""

    fmt = "table"
    row_word = "row"  # how messages count rows: "line" (CSV, JSON Lines) or "row"
    decimal_comma = False
    estimated_rows: int | None = None  # data rows, known or estimated from the first bytes
    sheet: str | None = None  # a spreadsheet's sheet read
    sheets: tuple[str, ...] = ()  # a spreadsheet's sheets, to choose from

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.name = path.name
        self.columns = columns

    def batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        """Blocks of rows of `columns`; a file damaged past its header is one DataError
        (each library raises its own kinds of errors while it reads)."""
        row = 1
        try:
            for batch in self._batches(columns, batch_rows or BATCH_ROWS):
                row = batch.first_row + batch.n_rows
                yield batch
        except DataError:
            raise
        except Exception as exc:  # an untrusted file, read by third-party code
            raise DataError(f"{self.name}: not a readable {self.fmt} file near {self.row_word} "
                            f"{row} ({one_line(exc)}).") from None

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        raise NotImplementedError

    def head(self, n: int = 10, columns: Sequence[str] | None = None) -> list[list[Cell]]:
        """The first n rows as lists of cells (in `columns` order, default all)."""
        wanted = list(columns if columns is not None else self.columns)
        rows: list[list[Cell]] = []
        for batch in self.batches(wanted, batch_rows=max(n, 1)):
            cols = [as_list(batch.columns[c]) for c in wanted]
            for i in range(batch.n_rows):
                rows.append([col[i] for col in cols])
                if len(rows) >= n:
                    return rows
        return rows

    def progress(self) -> float | None:
        """Fraction of the file read by the running `batches`, when the reader knows it."""
        return None

    def describe(self) -> str:
        return self.fmt

    def close(self) -> None:
        """Let go of the file (a spreadsheet keeps its zip open while rows are read)."""

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def as_list(values: Any) -> list[Cell]:
    """A batch column's cells as a list, whatever kind of array the reader gave."""
    if isinstance(values, list):
        return values
    if isinstance(values, np.ndarray):
        return values.tolist()
    return values.to_pylist()  # an Arrow array


def header_names(raw: Sequence[Any], name: str) -> list[str]:
    """Header cells as names: stripped; blank ones named by position; repeats numbered
    (a repeated or unnamed column is only an error if the bounty needs it)."""
    if len(raw) > MAX_COLUMNS:
        raise DataError(f"{name}: more than {MAX_COLUMNS:,} columns.")
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(raw):
        text = "" if cell is None else str(cell).strip()
        text = text or f"column {i + 1}"
        if text in seen:
            seen[text] += 1
            text = f"{text} ({seen[text]})"
        seen.setdefault(text, 1)
        names.append(text)
    return names


def check_zip(path: Path, what: str, limit: int | None = None) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path.name}: not a readable {what} file ({one_line(exc)}).") from None
    limit = limit or MAX_UNZIPPED_BYTES
    if total > limit:
        raise DataError(f"{path.name}: uncompresses to more than {limit // 1024**2:,} MiB"
                        + ("; save it as CSV or .xlsx." if what == ".ods" else "."))


class RowsTable(Table):
    """A table whose rows arrive as lists of cells (spreadsheets, JSON)."""

    def __init__(self, path: Path, header: Sequence[Any]) -> None:
        super().__init__(path, header_names(header, path.name))
        self.total_rows: int | None = None
        self._done = 0

    def rows(self) -> Iterator[Sequence[Any]]:
        raise NotImplementedError

    def progress(self) -> float | None:
        return None if not self.total_rows else min(self._done / self.total_rows, 1.0)

    @property
    def estimated_rows(self) -> int | None:  # type: ignore[override]
        return self.total_rows

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        index = [self.columns.index(c) for c in columns]
        first, block = 1, []
        self._done = 0
        for row in self.rows():
            block.append(row)
            if len(block) >= batch_rows:
                self._done += len(block)
                yield self._batch(columns, index, first, block)
                first, block = first + len(block), []
        if block:
            self._done += len(block)
            yield self._batch(columns, index, first, block)

    @staticmethod
    def _batch(columns: Sequence[str], index: list[int], first: int, block: list) -> Batch:
        cols = {c: [row[i] if i < len(row) else None for row in block]
                for c, i in zip(columns, index, strict=True)}
        return Batch(first, len(block), cols)
