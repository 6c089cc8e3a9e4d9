"""Reading the data owner's own tables, whatever program wrote them, behind one interface.

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

Every reader is bounded (file size, uncompressed size of zipped formats, line length, JSON
depth) and only reads: nothing is written anywhere. A file that cannot be read raises one
DataError naming the file and what is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer import jsonsafe
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
            for batch in self._batches(columns, batch_rows):
                row = batch.first_row + batch.n_rows
                yield batch
        except DataError:
            raise
        except Exception as exc:  # an untrusted file, read by third-party code
            raise DataError(f"{self.name}: not a readable {self.fmt} file near {self.row_word} "
                            f"{row} ({_one_line(exc)}).") from None

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        raise NotImplementedError

    def head(self, n: int = 10, columns: Sequence[str] | None = None) -> list[list[Cell]]:
        """The first n rows as lists of cells (in `columns` order, default all)."""
        wanted = list(columns if columns is not None else self.columns)
        rows: list[list[Cell]] = []
        for batch in self.batches(wanted, batch_rows=max(n, 1)):
            cols = [_as_list(batch.columns[c]) for c in wanted]
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
    opener = {
        ".xlsx": _XlsxTable, ".ods": _OdsTable, ".parquet": _ParquetTable, ".pq": _ParquetTable,
        ".jsonl": _JsonLinesTable, ".ndjson": _JsonLinesTable, ".json": _JsonArrayTable,
        ".npz": _NpzTable,
    }.get(suffix)
    if suffix in CSV_SUFFIXES:
        opener = _CsvTable
    if opener is None:
        raise DataError(f"{path.name}: unsupported file type '{suffix}' (use {SUPPORTED_TEXT}).")
    try:
        if opener in (_XlsxTable, _OdsTable):
            return opener(path, sheet)
        return opener(path)
    except DataError:
        raise
    except Exception as exc:  # an untrusted file: each library raises its own kinds of errors
        raise DataError(f"{path.name}: not a readable {_FORMAT_NAMES[opener]} file "
                        f"({_one_line(exc)}).") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _as_list(values: Any) -> list[Cell]:
    if isinstance(values, list):
        return values
    if isinstance(values, np.ndarray):
        return values.tolist()
    return values.to_pylist()  # an Arrow array


def _header(raw: Sequence[Any], name: str) -> list[str]:
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


def _check_zip(path: Path, what: str, limit: int | None = None) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path.name}: not a readable {what} file ({_one_line(exc)}).") from None
    limit = limit or MAX_UNZIPPED_BYTES
    if total > limit:
        raise DataError(f"{path.name}: uncompresses to more than {limit // 1024**2:,} MiB"
                        + ("; save it as CSV or .xlsx." if what == ".ods" else "."))


# ---------------------------------------------------------------------------------------------
# CSV / TSV

_NUMBER_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_NUMBER_DOT = re.compile(r"^\s*[-+]?\d*\.\d+([eE][-+]?\d+)?\s*$")


def sniff_encoding(sample: bytes) -> str:
    """The encoding of a text file from its first bytes: BOMs, then UTF-16's NUL pattern,
    then strict UTF-8 (a multi-byte character cut at the sample's end is fine), else
    Latin-1 (every byte is a character, so it never fails; cp1252 files read the same
    for the digits, separators and ASCII names a table needs)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    if len(head) >= 4:
        even_nul = head[0::2].count(0) / max(len(head[0::2]), 1)
        odd_nul = head[1::2].count(0) / max(len(head[1::2]), 1)
        if odd_nul > 0.4 and even_nul < 0.1:
            return "utf-16-le"
        if even_nul > 0.4 and odd_nul < 0.1:
            return "utf-16-be"
    if b"\x00" in head:
        raise DataError("binary")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


class _CsvTable(Table):
    fmt = "CSV"
    row_word = "line"

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            sample = f.read(SNIFF_BYTES)
        if not sample.strip():
            raise DataError(f"{path.name}: the file is empty (a header row is needed).")
        try:
            self.encoding = sniff_encoding(sample)
        except DataError:
            raise DataError(f"{path.name}: not a text file (it holds NUL bytes); "
                            f"save it as CSV or choose {SUPPORTED_TEXT}.") from None
        decoder = codecs.getincrementaldecoder(self.encoding)()
        text = decoder.decode(sample, final=False)
        if len(sample) == SNIFF_BYTES and "\n" in text:
            text = text[: text.rfind("\n") + 1]  # whole lines only
        lines = text.splitlines()
        size = path.stat().st_size
        # rows from the average line of the first 64 KiB: sizes the arrays the rows go into
        self.estimated_rows = max(int(size / max(len(sample), 1) * len(lines)) - 1, 0)
        if not lines or not lines[0].strip():
            raise DataError(f"{path.name}: the first line is empty (a header row is needed).")
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t|")
            self.delimiter, self.quote = dialect.delimiter, dialect.quotechar or '"'
        except csv.Error:
            self.delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
            self.quote = '"'
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines[:200])), delimiter=self.delimiter,
                                   quotechar=self.quote))
        except csv.Error as exc:
            raise DataError(f"{path.name}: not a readable CSV file ({exc}).") from None
        header = rows[0] if rows else []
        super().__init__(path, _header(header, path.name))
        self.decimal_comma = self.delimiter != "," and _looks_decimal_comma(rows[1:])
        self._fraction: float | None = 0.0
        self.problems: list[tuple[int | None, str]] = []  # (line, text) of rows pyarrow skipped

    def describe(self) -> str:
        sep = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}.get(self.delimiter,
                                                                          repr(self.delimiter))
        enc = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "latin-1": "Latin-1"}.get(
            self.encoding, self.encoding.upper())
        return f"CSV, {enc}, {sep}-separated" + (", decimal comma" if self.decimal_comma else "")

    def progress(self) -> float | None:
        return self._fraction

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        batch_rows = batch_rows or BATCH_ROWS
        import pyarrow as pa
        import pyarrow.csv as pacsv

        wanted = list(dict.fromkeys(columns))
        n_cols = len(self.columns)
        self.problems = []

        def skip_row(row: Any) -> str:
            # a row with the wrong number of cells is reported, not fatal to the whole file
            self.problems.append((row.number, f"{row.actual_columns} cells, the header has "
                                              f"{row.expected_columns}"))
            return "skip"

        read = pacsv.ReadOptions(
            column_names=self.columns, skip_rows=1, encoding=self.encoding, use_threads=False,
            # blocks of at most 1 MiB: the reader holds about ten times a block while parsing
            # it (measured: 13 MiB blocks peaked at 175 MB, 1 MiB ones at ~20 MB)
            block_size=max(1 << 14, min(1 << 20, batch_rows * 8 * max(n_cols, 1))))
        parse = pacsv.ParseOptions(delimiter=self.delimiter, quote_char=self.quote,
                                   newlines_in_values=True, invalid_row_handler=skip_row)
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in wanted}, include_columns=wanted,
            strings_can_be_null=False, quoted_strings_can_be_null=False)
        row = 2  # line 1 is the header; approximate when quoted cells hold newlines
        with self.path.open("rb") as raw:
            try:
                reader = pacsv.open_csv(raw, read_options=read, parse_options=parse,
                                        convert_options=convert)
                for record_batch in reader:
                    n = record_batch.num_rows
                    # by rows, not raw.tell(): the reader reads ahead of what it has parsed
                    self._fraction = min((row - 2 + n) / max(self.estimated_rows or 1, 1), 0.99)
                    cols = {c: record_batch.column(c) for c in wanted}
                    yield Batch(row, n, cols)
                    row += n
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                raise DataError(f"{self.name}: not a readable CSV file near line {row} "
                                f"({_one_line(exc)}).") from None
        self._fraction = 1.0


def _looks_decimal_comma(rows: list[list[str]]) -> bool:
    comma = dot = 0
    for row in rows[:200]:
        for cell in row:
            if _NUMBER_COMMA.match(cell):
                comma += 1
            elif _NUMBER_DOT.match(cell):
                dot += 1
    return comma > 0 and dot == 0


# ---------------------------------------------------------------------------------------------
# Spreadsheets


def _sheet_choice(name: str, sheets: list[str], sheet: str | None,
                  rows: Callable[[int], int] | None = None) -> int:
    """The sheet asked for (by name or 1-based number); by default the first sheet with a
    header and at least one row under it (a workbook often opens on a notes sheet)."""
    if not sheets:
        raise DataError(f"{name}: the workbook has no sheets.")
    if sheet is None:
        if rows is not None:
            for i in range(min(len(sheets), 100)):
                if rows(i) >= 2:
                    return i
        return 0
    if sheet in sheets:
        return sheets.index(sheet)
    if sheet.isdigit() and 1 <= int(sheet) <= len(sheets):
        return int(sheet) - 1
    raise DataError(f"{name}: no sheet named '{sheet}' (sheets: {', '.join(sheets[:10])}).")


class _RowsTable(Table):
    """A table whose rows arrive as lists of cells (spreadsheets, JSON)."""

    def __init__(self, path: Path, header: Sequence[Any]) -> None:
        super().__init__(path, _header(header, path.name))
        self.total_rows: int | None = None
        self._done = 0

    def rows(self) -> Iterator[Sequence[Any]]:
        raise NotImplementedError

    def progress(self) -> float | None:
        return None if not self.total_rows else min(self._done / self.total_rows, 1.0)

    @property
    def estimated_rows(self) -> int | None:  # type: ignore[override]
        return self.total_rows

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        batch_rows = batch_rows or BATCH_ROWS
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


class _XlsxTable(_RowsTable):
    fmt = ".xlsx"

    def __init__(self, path: Path, sheet: str | None) -> None:
        import openpyxl

        _check_zip(path, ".xlsx")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        self._book = book
        self.sheets = tuple(book.sheetnames)
        self.sheet = book.sheetnames[_sheet_choice(
            path.name, book.sheetnames, sheet, lambda i: book.worksheets[i].max_row or 0)]
        ws = book[self.sheet]
        header = next(ws.iter_rows(max_row=1, values_only=True), ())
        header = _trim(list(header))
        if not header:
            raise DataError(f"{path.name}: sheet '{self.sheet}' is empty (a header row is needed).")
        super().__init__(path, header)
        self.total_rows = max((ws.max_row or 1) - 1, 0)

    def describe(self) -> str:
        return f".xlsx, sheet '{self.sheet}'"

    def close(self) -> None:
        self._book.close()

    def rows(self) -> Iterator[Sequence[Any]]:
        ws = self._book[self.sheet]
        width = len(self.columns)
        yield from ws.iter_rows(min_row=2, max_col=width, values_only=True)


class _OdsTable(_RowsTable):
    fmt = ".ods"

    def __init__(self, path: Path, sheet: str | None) -> None:
        from python_calamine import CalamineWorkbook

        _check_zip(path, ".ods", MAX_ODS_UNZIPPED_BYTES)
        book = CalamineWorkbook.from_path(str(path))
        names = list(book.sheet_names)
        self.sheets = tuple(names)
        self.sheet = names[_sheet_choice(
            path.name, names, sheet, lambda i: book.get_sheet_by_index(i).height)]
        data = book.get_sheet_by_name(self.sheet).to_python(skip_empty_area=False)
        book.close()  # the sheet is in memory now
        if not data or not _trim(list(data[0])):
            raise DataError(f"{path.name}: sheet '{self.sheet}' is empty (a header row is needed).")
        super().__init__(path, _trim(list(data[0])))
        self._data = data
        self.total_rows = len(data) - 1

    def describe(self) -> str:
        return f".ods, sheet '{self.sheet}'"

    def rows(self) -> Iterator[Sequence[Any]]:
        for row in self._data[1:]:
            yield [None if cell == "" else cell for cell in row]


def _trim(header: list[Any]) -> list[Any]:
    """A header without the empty cells after its last name (spreadsheets pad rows)."""
    while header and (header[-1] is None or str(header[-1]).strip() == ""):
        header.pop()
    return header


# ---------------------------------------------------------------------------------------------
# Parquet


class _ParquetTable(Table):
    fmt = "Parquet"

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(path)
        names = list(self._file.schema_arrow.names)
        super().__init__(path, _header(names, path.name))
        self._source = dict(zip(self.columns, names, strict=True))
        self.total_rows = self._file.metadata.num_rows
        self.estimated_rows = self.total_rows
        self._done = 0

    def progress(self) -> float | None:
        return min(self._done / self.total_rows, 1.0) if self.total_rows else None

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        batch_rows = batch_rows or BATCH_ROWS
        import pyarrow as pa

        wanted = list(dict.fromkeys(columns))
        source = [self._source[c] for c in wanted]
        first = 1
        self._done = 0
        try:
            for record_batch in self._file.iter_batches(batch_size=batch_rows, columns=source):
                n = record_batch.num_rows
                cols = {c: record_batch.column(i) for i, c in enumerate(wanted)}
                self._done += n
                yield Batch(first, n, cols)
                first += n
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{self.name}: not a readable Parquet file near row {first} "
                            f"({_one_line(exc)}).") from None


# ---------------------------------------------------------------------------------------------
# JSON


def _object_keys(obj: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"{name} {where}: expected an object {{\"column\": value, ...}}, "
                        f"got {type(obj).__name__}.")
    return obj


def _json_cell(value: Any) -> Cell:
    # nested lists/objects are not cells of a table: shown as text, so they count as bad
    return json.dumps(value) if isinstance(value, (list, dict)) else value


class _JsonLinesTable(_RowsTable):
    fmt = "JSON Lines"
    row_word = "line"
    HEADER_LINES = 1000  # the columns are the keys seen in the first objects

    def __init__(self, path: Path) -> None:
        keys: dict[str, None] = {}
        for _line_no, obj in self._objects(path, limit=self.HEADER_LINES):
            keys.update(dict.fromkeys(obj))
        if not keys:
            raise DataError(f"{path.name}: no JSON objects in the file.")
        super().__init__(path, list(keys))
        self._source = dict(zip(self.columns, keys, strict=True))
        self._fraction = 0.0

    @staticmethod
    def _objects(path: Path, limit: int | None = None,
                 where: list[float] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        size = max(path.stat().st_size, 1)
        count = 0
        with path.open("rb") as f:
            for line_no, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""),
                                          start=1):
                if len(raw) > MAX_LINE_BYTES:
                    raise DataError(f"{path.name} line {line_no}: longer than "
                                    f"{MAX_LINE_BYTES // 1024**2} MiB.")
                if where is not None:
                    where[0] = f.tell() / size
                text = raw.strip()
                if not text:
                    continue
                try:
                    obj = jsonsafe.loads(text.decode("utf-8-sig" if line_no == 1 else "utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise DataError(f"{path.name} line {line_no}: not valid JSON "
                                    f"({_one_line(exc)}).") from None
                yield line_no, _object_keys(obj, path.name, f"line {line_no}")
                count += 1
                if limit is not None and count >= limit:
                    return

    def progress(self) -> float | None:
        return self._fraction

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        batch_rows = batch_rows or BATCH_ROWS
        keys = [self._source[c] for c in columns]
        where = [0.0]
        block: list[dict[str, Any]] = []
        first = None
        for line_no, obj in self._objects(self.path, where=where):
            if first is None:
                first = line_no
            block.append(obj)
            if len(block) >= batch_rows:
                self._fraction = where[0]
                yield self._json_batch(columns, keys, first, block)
                block, first = [], None
        if block:
            yield self._json_batch(columns, keys, first or 1, block)
        self._fraction = 1.0

    @staticmethod
    def _json_batch(columns: Sequence[str], keys: list[str], first: int, block: list) -> Batch:
        # lines are counted in the file; a blank line between objects shifts later numbers
        # by one, which the messages accept (they say "line" of the first object of a block)
        cols = {c: [_json_cell(obj.get(k)) for obj in block]
                for c, k in zip(columns, keys, strict=True)}
        return Batch(first, len(block), cols)


class _JsonArrayTable(_RowsTable):
    fmt = "JSON"

    def __init__(self, path: Path) -> None:
        if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
            raise DataError(f"{path.name}: a JSON array larger than "
                            f"{MAX_JSON_ARRAY_BYTES // 1024**2} MiB; save it as JSON Lines.")
        try:
            data = jsonsafe.loads(path.read_bytes().decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{path.name}: not valid JSON ({_one_line(exc)}).") from None
        if not isinstance(data, list):
            raise DataError(f"{path.name}: expected a JSON array of objects "
                            f"[{{\"column\": value, ...}}, ...].")
        keys: dict[str, None] = {}
        for i, obj in enumerate(data):
            keys.update(dict.fromkeys(_object_keys(obj, path.name, f"item {i + 1}")))
        if not keys:
            raise DataError(f"{path.name}: the array holds no objects.")
        super().__init__(path, list(keys))
        self._data, self._keys = data, list(keys)
        self.total_rows = len(data)

    def rows(self) -> Iterator[Sequence[Any]]:
        for obj in self._data:
            yield [_json_cell(obj.get(k)) for k in self._keys]


# ---------------------------------------------------------------------------------------------
# .npz


class _NpzTable(Table):
    fmt = ".npz"

    def __init__(self, path: Path) -> None:
        _check_zip(path, ".npz")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        if "X" in arrays and "y" in arrays:
            X = arrays.pop("X")
            if X.ndim != 2:
                raise DataError(f"{path.name}: array 'X' has shape {X.shape}; expected (rows, columns).")
            arrays = {**{f"X[{i}]": X[:, i] for i in range(X.shape[1])}, **arrays}
        for key, arr in arrays.items():
            if arr.ndim != 1:
                raise DataError(f"{path.name}: array '{key}' has shape {arr.shape}; "
                                "arrays must be 1-D, one per column.")
            if arr.dtype.kind not in "iufbUS":
                raise DataError(f"{path.name}: array '{key}' has unsupported dtype {arr.dtype}.")
        if not arrays:
            raise DataError(f"{path.name}: the .npz file holds no arrays.")
        lengths = {arr.shape[0] for arr in arrays.values()}
        if len(lengths) > 1:
            raise DataError(f"{path.name}: arrays must be of equal length; got "
                            f"{ {k: v.shape[0] for k, v in arrays.items()} }.")
        super().__init__(path, _header(list(arrays), path.name))
        self._arrays = dict(zip(self.columns, arrays.values(), strict=True))

    def _batches(self, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
        batch_rows = batch_rows or BATCH_ROWS
        n = len(next(iter(self._arrays.values()))) if self._arrays else 0
        for start in range(0, n, batch_rows):
            stop = min(start + batch_rows, n)
            cols = {}
            for c in columns:
                arr = self._arrays[c][start:stop]
                if arr.dtype.kind == "S":
                    arr = np.char.decode(arr, "utf-8", "replace")
                cols[c] = arr
            yield Batch(start, stop - start, cols)


_FORMAT_NAMES = {
    _CsvTable: "CSV", _XlsxTable: ".xlsx", _OdsTable: ".ods", _ParquetTable: "Parquet",
    _JsonLinesTable: "JSON Lines", _JsonArrayTable: "JSON", _NpzTable: ".npz",
}
