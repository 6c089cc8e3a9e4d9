"""Readers of the owner's text tables (trainer.tables' interface): CSV/TSV with a sniffed
encoding, delimiter, quote and decimal comma (pyarrow's streaming reader), JSON Lines
(streamed) and JSON arrays of objects (parsed whole, bounded)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trainer import jsonsafe
from trainer.errors import DataError
from trainer.tables import (
    MAX_JSON_ARRAY_BYTES,
    MAX_LINE_BYTES,
    SNIFF_BYTES,
    SUPPORTED_TEXT,
    Batch,
    Cell,
    RowsTable,
    Table,
    header_names,
    one_line,
)

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


class CsvTable(Table):
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
        super().__init__(path, header_names(header, path.name))
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

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
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
                                f"({one_line(exc)}).") from None
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
# JSON


def _object_keys(obj: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"{name} {where}: expected an object {{\"column\": value, ...}}, "
                        f"got {type(obj).__name__}.")
    return obj


def _json_cell(value: Any) -> Cell:
    # nested lists/objects are not cells of a table: shown as text, so they count as bad
    return json.dumps(value) if isinstance(value, (list, dict)) else value


class JsonLinesTable(RowsTable):
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
                                    f"({one_line(exc)}).") from None
                yield line_no, _object_keys(obj, path.name, f"line {line_no}")
                count += 1
                if limit is not None and count >= limit:
                    return

    def progress(self) -> float | None:
        return self._fraction

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
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


class JsonArrayTable(RowsTable):
    fmt = "JSON"

    def __init__(self, path: Path) -> None:
        if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
            raise DataError(f"{path.name}: a JSON array larger than "
                            f"{MAX_JSON_ARRAY_BYTES // 1024**2} MiB; save it as JSON Lines.")
        try:
            data = jsonsafe.loads(path.read_bytes().decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{path.name}: not valid JSON ({one_line(exc)}).") from None
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
