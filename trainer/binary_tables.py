"""Readers of the owner's workbooks and binary tables (trainer.tables' interface): .xlsx
(openpyxl, read-only), .ods (python-calamine), Parquet (pyarrow, a row group batch at a
time) and .npz (numpy, allow_pickle=False)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import trainer.tables as tables
from trainer.errors import DataError
from trainer.tables import Batch, RowsTable, Table, check_zip, header_names, one_line


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


class XlsxTable(RowsTable):
    fmt = ".xlsx"
    has_sheets = True

    def __init__(self, path: Path, sheet: str | None) -> None:
        import openpyxl

        check_zip(path, ".xlsx")
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


class OdsTable(RowsTable):
    fmt = ".ods"
    has_sheets = True

    def __init__(self, path: Path, sheet: str | None) -> None:
        from python_calamine import CalamineWorkbook

        check_zip(path, ".ods", tables.MAX_ODS_UNZIPPED_BYTES)
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


class ParquetTable(Table):
    fmt = "Parquet"

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(path)
        names = list(self._file.schema_arrow.names)
        super().__init__(path, header_names(names, path.name))
        self._source = dict(zip(self.columns, names, strict=True))
        self.total_rows = self._file.metadata.num_rows
        self.estimated_rows = self.total_rows
        self._done = 0

    def progress(self) -> float | None:
        return min(self._done / self.total_rows, 1.0) if self.total_rows else None

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
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
                            f"({one_line(exc)}).") from None



# ---------------------------------------------------------------------------------------------
# .npz


class NpzTable(Table):
    fmt = ".npz"

    def __init__(self, path: Path) -> None:
        check_zip(path, ".npz")
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
        super().__init__(path, header_names(list(arrays), path.name))
        self._arrays = dict(zip(self.columns, arrays.values(), strict=True))

    def _batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
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
