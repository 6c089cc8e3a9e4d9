"""Checking the data owner's own files against a bounty's schema and loading them to train.

    dataset = load_dataset(paths, spec, LoadOptions(chosen={"label": "target"}),
                           progress=..., should_stop=...)
    dataset.X, dataset.y        # float64 standardised features, int64 class indices
    dataset.summary(spec)       # what will be used: rows read, dropped and why, per class

Each file is opened by trainer.tables (CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON, .npz),
its columns are matched to the spec's by trainer.mapping (the owner's choices first, then
names, normalised names, the spec's aliases, usual label names), and only the matched
columns are read, a block of rows at a time: a million-row file never sits in memory as
text. Extra columns are listed, never an error.

Missing and bad cells ("NA", empty, "abc" in a number column, 2.5 in an int column, inf):
each spec column may declare a policy (`missing`: drop the row, fill a constant, or fill
the owner's own column mean/median, computed here and never sent); without one the row is
dropped and the summary says how many and why. `strict=True` refuses instead: every
problem in every file is listed in ONE DataError (the first 20, then "... and N more").
A label that is not one of the classes (after the owner's `label_values` table) is listed
per row unless `drop_unknown_labels`; a missing label drops its row. Nothing is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.cells import numbers
from trainer.errors import DataError, TrainingCancelled
from trainer.mapping import (
    MISSING,
    UNKNOWN,
    LabelResolver,
    Proposal,
    cell_text,
    propose_mapping,
)
from trainer.spec import BountySpec
from trainer.table_readers import open_table
from trainer.tables import SUPPORTED_TEXT, Table, as_list

MAX_LISTED_PROBLEMS = 20
MAX_LISTED_NAMES = 8
SAMPLE_ROWS = 200  # rows read to recognise a label column by its values


def rows_text(count: int) -> str:
    """'1 row', '2 rows', '1,000 rows'."""
    return f"{count:,} row" + ("" if count == 1 else "s")


Progress = Callable[[float, str], None]  # (fraction of all files, message)


@dataclass(frozen=True)
class LoadOptions:
    chosen: Mapping[str, str] = field(default_factory=dict)  # spec column -> file column, all files
    # remembered per file (by path as given); an entry the file no longer fits is ignored
    per_file: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    label_values: Mapping[str, Any] = field(default_factory=dict)  # file value -> class
    strict: bool = False
    drop_unknown_labels: bool = False
    sheet: str | None = None  # a spreadsheet's sheet (name or 1-based number), every file
    sheets: Mapping[str, str] = field(default_factory=dict)  # the same per file, by path as given

    def sheet_for(self, path: str) -> str | None:
        return self.sheets.get(path) or self.sheet

    # chosen for one file only (the GUI's table shows one file at a time), by path as given
    chosen_per_file: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def chosen_for(self, path: str) -> dict[str, str]:
        return {**self.chosen, **self.chosen_per_file.get(path, {})}


@dataclass
class FileReport:
    """What was read from one file and what will be used."""

    path: str
    name: str
    fmt: str
    mapping: Proposal
    sheet: str | None = None  # the sheet read, for a spreadsheet
    rows_read: int = 0
    rows_used: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    filled: dict[str, int] = field(default_factory=dict)  # "column (how)" -> cells
    unknown_labels: dict[str, int] = field(default_factory=dict)  # value -> rows


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # float64 (n_rows, n_features), standardised with the spec's mean/std
    y: np.ndarray  # int64 class indices into spec.schema.classes
    files: tuple[str, ...]
    reports: tuple[FileReport, ...] = ()

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self, n_classes: int) -> list[int]:
        return np.bincount(self.y, minlength=n_classes).tolist()

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.reports)

    @property
    def as_is(self) -> bool:
        """Every file was used whole, under the spec's own column names."""
        return all(not r.dropped and not r.filled and not r.mapping.extras
                   and all(m.how == "exact" for m in r.mapping.matches) for r in self.reports)

    def summary(self, spec: BountySpec, total: str = "Will train on") -> str:
        """What will be used, for people: per file the rows read, dropped and why, filled
        cells, unused columns; then the rows per class."""
        lines = []
        for r in self.reports:
            lines.append(f"{r.name} ({r.fmt}): {rows_text(r.rows_read)} read, {r.rows_used:,} used.")
            renamed = [f"{m.spec_column} <- {m.file_column!r}" for m in r.mapping.matches
                       if m.file_column is not None and m.file_column != m.spec_column]
            if renamed:
                lines.append(f"  columns matched: {_names(renamed)}")
            for reason, count in r.dropped.items():
                lines.append(f"  dropped {count:,} row(s): {reason}")
            for what, count in r.filled.items():
                lines.append(f"  filled {count:,} cell(s) of {what}")
            if r.mapping.extras:
                lines.append(f"  not used: {_names(list(r.mapping.extras))}")
        counts = self.class_counts(spec.n_classes)
        per_class = ", ".join(f"{c}: {n:,}" for c, n in zip(spec.schema.classes, counts, strict=True))
        lines.append(f"{total} {rows_text(self.n_rows)}; per class {per_class}.")
        batch = spec.training.batch_size
        if self.n_rows < batch:  # trainer.train.batch_weight: said before anyone trains
            lines.append(f"That is fewer than one training batch ({batch:,} rows): your update moves "
                         f"the model {self.n_rows:,}/{batch:,} as far as a full batch would, and "
                         "is valued by what it does, so small data earns in proportion.")
        return "\n".join(lines)


class _Problems:
    """Collects problems; keeps the first few for the message and counts the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED_PROBLEMS:
            self.items.append(message)

    def insert(self, at: int, message: str) -> None:
        """A problem listed at position `at` (a file's summary before its per-row lines)."""
        self.count += 1
        self.items.insert(min(at, len(self.items)), message)
        del self.items[MAX_LISTED_PROBLEMS:]

    def more(self, count: int) -> None:
        """Count problems that are not listed (the list is full anyway)."""
        self.count += max(count, 0)

    def raise_if_any(self, unknown_labels: Sequence[str] = ()) -> None:
        """DataError listing the problems; `error.unknown_labels` holds the label values that
        are not classes (a face offers a class for each)."""
        if not self.count:
            return
        lines = [f"Your data does not match the bounty's schema ({self.count} problem(s)):"]
        lines += [f"- {p}" for p in self.items]
        if self.count > len(self.items):
            lines.append(f"... and {self.count - len(self.items)} more.")
        error = DataError("\n".join(lines))
        error.unknown_labels = list(unknown_labels)  # type: ignore[attr-defined]
        raise error


def _names(items: list[str]) -> str:
    """A list of names for a message; a long one is cut (a wrong file can have hundreds)."""
    shown = ", ".join(items[:MAX_LISTED_NAMES])
    more = len(items) - MAX_LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def load_data(paths: Sequence[str | Path], spec: BountySpec,
              options: LoadOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(X standardised float64, y class indices int64) from the user's files."""
    dataset = load_dataset(paths, spec, options)
    return dataset.X, dataset.y


# ---------------------------------------------------------------------------------------------
# Mapping a file


def sample_columns(table: Table, rows: int = SAMPLE_ROWS) -> dict[str, list[Any]]:
    """The first rows of every column, to recognise a label column by its values."""
    head = table.head(rows)
    return {c: [row[i] for row in head] for i, c in enumerate(table.columns)}


def inspect_file(path: str | Path, spec: BountySpec, options: LoadOptions | None = None,
                 ) -> tuple[Table, Proposal]:
    """Open a file and propose its mapping (DataError when it cannot be read, or when the
    owner's choices name columns that do not exist)."""
    options = options or LoadOptions()
    table = open_table(path, sheet=options.sheet_for(str(path)))
    try:
        proposal = _propose(table, path, spec, options)
    except BaseException:
        table.close()
        raise
    return table, proposal


def _propose(table: Table, path: str | Path, spec: BountySpec, options: LoadOptions) -> Proposal:
    return propose_mapping(table.columns, spec, chosen=options.chosen_for(str(path)),
                           remembered=options.per_file.get(str(path)),
                           sample=sample_columns(table), label_values=options.label_values)


def preview_rows(table: Table, proposal: Proposal, spec: BountySpec, n: int = 5,
                 label_values: Mapping[str, Any] | None = None) -> list[list[str]]:
    """The first n rows as they will be used (before standardising): the spec's columns in
    order, numbers as parsed, "(missing)"/"(not a number)" marked, the label as its class."""
    matches = [m for m in proposal.matches if m.file_column is not None]
    if not matches:
        return []
    cols = list(dict.fromkeys(m.file_column for m in matches))
    batch = next(table.batches(cols, batch_rows=n), None)
    if batch is None:
        return []
    resolver = LabelResolver(spec, label_values)
    out: list[list[str]] = [[] for _ in range(min(n, batch.n_rows))]
    types = {c.name: c.type for c in spec.schema.columns}
    for m in proposal.matches:
        if m.file_column is None:
            for row in out:
                row.append("")
            continue
        values = batch.columns[m.file_column]
        if m is proposal.label:
            for i, cell in enumerate(as_list(values)[: len(out)]):
                code = resolver.resolve(cell_text(cell))
                out[i].append("(missing)" if code == MISSING else "(not a class) " + cell_text(cell)
                              if code == UNKNOWN else str(spec.schema.classes[code]))
            continue
        vals, missing, bad = numbers(values, table.decimal_comma, types[m.spec_column])
        for i in range(len(out)):
            out[i].append("(missing)" if missing[i] else "(not a number)" if bad[i]
                          else f"{vals[i]:g}")
    return out


# ---------------------------------------------------------------------------------------------
# Loading


def load_dataset(
    paths: Sequence[str | Path] | str | Path,
    spec: BountySpec,
    options: LoadOptions | None = None,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Dataset:
    """Map, check and load the files; one DataError lists every problem (module doc)."""
    options = options or LoadOptions()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError(f"Choose at least one data file ({SUPPORTED_TEXT}).")
    problems = _Problems()
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    reports: list[FileReport] = []
    unknown: dict[str, None] = {}  # label values that are not classes, in every file
    for index, raw in enumerate(paths):
        try:
            table, proposal = inspect_file(raw, spec, options)
        except DataError as exc:
            problems.add(str(exc))
            continue
        for line in proposal.problems(table.name):
            problems.add(line)
        if proposal.unresolved:
            table.close()
            continue
        report = FileReport(str(raw), table.name, table.describe(), proposal, table.sheet)

        def file_progress(fraction: float, index: int = index, name: str = table.name) -> None:
            if progress is not None:
                progress((index + fraction) / len(paths), f"Reading {name}")

        try:
            loaded = _load_table(table, proposal, spec, options, report, problems,
                                 file_progress, should_stop)
        finally:
            table.close()
        unknown.update(dict.fromkeys(v for v in report.unknown_labels if v != "(other values)"))
        if loaded is not None:
            xs.append(loaded[0])
            ys.append(loaded[1])
            reports.append(report)
    n_rows = sum(len(y) for y in ys)
    if not problems.count and n_rows < spec.schema.min_rows:
        dropped = sum(sum(r.dropped.values()) for r in reports)
        problems.add(
            f"Only {n_rows} usable row(s) in total"
            + (f" ({dropped:,} dropped)" if dropped else "")
            + f"; this bounty needs at least {spec.schema.min_rows}."
        )
    problems.raise_if_any(list(unknown))
    X = np.concatenate(xs, axis=0) if len(xs) > 1 else xs[0]
    y = np.concatenate(ys).astype(np.int64) if len(ys) > 1 else ys[0]
    X -= np.asarray(spec.standardize.mean, dtype=np.float64)
    X /= np.asarray(spec.standardize.std, dtype=np.float64)
    return Dataset(X=X, y=y, files=tuple(str(p) for p in paths), reports=tuple(reports))


def _load_table(
    table: Table, proposal: Proposal, spec: BountySpec, options: LoadOptions,
    report: FileReport, problems: _Problems, progress: Callable[[float], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    name, word = table.name, table.row_word
    schema = spec.schema
    columns = list(schema.columns)
    feature_files = [m.file_column for m in proposal.features]
    label_file = proposal.label.file_column
    assert label_file is not None and all(feature_files)
    resolver = LabelResolver(spec, options.label_values)
    policies = [c.missing or "drop" for c in columns]
    n_problems_before, listed_before = problems.count, len(problems.items)
    capacity = min(table.estimated_rows or 0, 50_000_000)
    kept_x = _Rows((capacity, len(columns)), np.float64)
    kept_y = _Rows((capacity,), np.int64)
    dropped_missing = np.zeros(len(columns), dtype=np.int64)
    dropped_bad = np.zeros(len(columns), dtype=np.int64)
    filled = np.zeros(len(columns), dtype=np.int64)
    no_label = unknown = 0
    memo: dict[Any, int] = {}

    def code_of(cell: Any) -> int:
        try:
            return memo[cell]
        except (KeyError, TypeError):
            code = resolver.resolve(cell_text(cell))
            if len(memo) < 100_000:
                with contextlib.suppress(TypeError):  # an unhashable cell is not cached
                    memo[cell] = code
            return code

    wanted = list(dict.fromkeys([*feature_files, label_file]))
    for batch in table.batches(wanted):  # type: ignore[arg-type]
        if should_stop is not None and should_stop():
            raise TrainingCancelled("Cancelled; nothing was sent.")
        n = batch.n_rows
        report.rows_read += n
        X = np.empty((n, len(columns)), dtype=np.float64)
        drop = np.zeros(n, dtype=bool)
        for j, (col, file_col) in enumerate(zip(columns, feature_files, strict=True)):
            vals, missing, bad = numbers(batch.columns[file_col], table.decimal_comma, col.type)
            X[:, j] = vals
            if options.strict and policies[j] == "drop":
                for i in np.flatnonzero(missing | bad)[: MAX_LISTED_PROBLEMS + 1]:
                    problems.add(_cell_problem(name, word, batch.first_row + i, col,
                                               batch.columns[file_col], int(i), bool(bad[i])))
                problems.more(int((missing | bad).sum()) - MAX_LISTED_PROBLEMS - 1)
            if policies[j] == "drop":
                # a row is counted under the first column that drops it
                first_missing = missing & ~drop
                first_bad = bad & ~drop & ~missing
                dropped_missing[j] += int(first_missing.sum())
                dropped_bad[j] += int(first_bad.sum())
                drop |= missing | bad
            else:
                filled[j] += int((missing | bad).sum())
        cells = as_list(batch.columns[label_file])
        codes = np.fromiter((code_of(c) for c in cells), dtype=np.int64, count=n)
        missing_label = (codes == MISSING) & ~drop
        no_label += int(missing_label.sum())
        if options.strict:
            absent = np.flatnonzero(codes == MISSING)
            for i in absent[:MAX_LISTED_PROBLEMS]:
                problems.add(f"{name} {word} {batch.first_row + i}, label '{schema.label}': "
                             "missing.")
            problems.more(absent.size - MAX_LISTED_PROBLEMS)
        drop |= codes == MISSING
        is_unknown = codes == UNKNOWN
        if is_unknown.any():
            for i in np.flatnonzero(is_unknown):
                value = cell_text(cells[i])
                if value not in report.unknown_labels and len(report.unknown_labels) >= 50:
                    value = "(other values)"
                report.unknown_labels[value] = report.unknown_labels.get(value, 0) + 1
                if options.drop_unknown_labels:
                    continue
                if report.unknown_labels[value] > 3:  # a few rows per value say it; all count
                    problems.more(1)
                else:
                    problems.add(
                        f"{name} {word} {batch.first_row + i}, label '{schema.label}': "
                        f"{value!r} is not one of the classes {list(schema.classes)}.")
            unknown += int((is_unknown & ~drop).sum())
            drop |= is_unknown
        keep = ~drop
        fraction = table.progress()
        kept_x.extend(X[keep] if drop.any() else X)
        kept_y.extend(codes[keep])
        progress(fraction if fraction is not None else 0.0)
    progress(1.0)
    skipped = getattr(table, "problems", [])
    report.rows_read += len(skipped)
    for line, text in skipped[:MAX_LISTED_PROBLEMS]:
        where = f"{name} line {line}" if line is not None else name
        if options.strict:
            problems.add(f"{where}: {text}.")
    if skipped:
        report.dropped[f"wrong number of cells (e.g. line {skipped[0][0]}: {skipped[0][1]})"] = \
            len(skipped)
        if options.strict:
            problems.more(len(skipped) - MAX_LISTED_PROBLEMS)
    if report.unknown_labels and not options.drop_unknown_labels:
        values = ", ".join(f"{v!r} ({c} rows)" for v, c in list(report.unknown_labels.items())[:8])
        problems.insert(listed_before, f"{name}: label values that are not classes: {values}. "
                        f"Map each to one of {list(schema.classes)}, or drop those rows.")
    if problems.count > n_problems_before:
        return None
    if report.rows_read == 0:
        problems.add(f"{name}: has a header but no data rows.")
        return None
    X, y = kept_x.array(), kept_y.array()
    for j, col in enumerate(columns):
        if dropped_missing[j]:
            report.dropped[f"missing value in '{col.name}'"] = int(dropped_missing[j])
        if dropped_bad[j]:
            what = "an integer" if col.type == "int" else "a finite number"
            report.dropped[f"not {what} in '{col.name}'"] = int(dropped_bad[j])
        if filled[j]:
            X[:, j] = _filled(X[:, j], col, report)
    if no_label:
        report.dropped["no label"] = no_label
    if unknown:
        report.dropped["label not one of the classes"] = unknown
    report.rows_used = int(y.shape[0])
    if report.rows_used == 0:
        problems.add(f"{name}: no usable rows ({report.rows_read:,} read, all dropped: "
                     f"{'; '.join(report.dropped)}).")
        return None
    return X, y


class _Rows:
    """Rows appended a block at a time into one array, allocated for the rows the reader
    expects (a CSV's estimate from its first 64 KiB; the count other formats know) and
    grown by a quarter when that was short: a big file is never held twice (as a list of
    blocks and their concatenation)."""

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self._data = np.empty(shape, dtype=dtype)
        self._n = 0

    def extend(self, block: np.ndarray) -> None:
        need = self._n + block.shape[0]
        if need > self._data.shape[0]:
            capacity = max(need, int(self._data.shape[0] * 1.25) + 1024)
            grown = np.empty((capacity, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n: need] = block
        self._n = need

    def array(self) -> np.ndarray:
        if self._n == self._data.shape[0]:
            return self._data
        if self._n < 0.9 * self._data.shape[0]:  # a poor guess: give the rest back
            return self._data[: self._n].copy()
        return self._data[: self._n]


def _filled(values: np.ndarray, col: Any, report: FileReport) -> np.ndarray:
    """The column with its missing cells filled by the spec's policy. Mean and median are of
    the owner's own rows (computed here; the value never leaves the computer)."""
    holes = np.isnan(values)
    present = values[~holes]
    if col.missing == "fill":
        value, how = float(col.fill), f"the bounty's value {col.fill:g}"
    elif present.size == 0:
        value, how = 0.0, "0 (the column has no values)"
    elif col.missing == "mean":
        value, how = float(present.mean()), "your column's mean"
    else:
        value, how = float(np.median(present)), "your column's median"
    if col.type == "int":
        value = float(round(value))
    report.filled[f"'{col.name}' with {how}"] = int(holes.sum())
    values[holes] = value
    return values


def _cell_problem(name: str, word: str, row: int, col: Any, values: Any, i: int, bad: bool) -> str:
    cells = values if isinstance(values, list) else None
    if cells is not None:
        cell = cells[i]
    elif isinstance(values, np.ndarray):
        cell = values[i].item()
    else:
        cell = values[i].as_py()
    shown = cell_text(cell) or "(empty)"
    if not bad:
        return f"{name} {word} {row}, column '{col.name}': {shown!r} is a missing value."
    what = "an integer" if col.type == "int" else "a finite number"
    return f"{name} {word} {row}, column '{col.name}': {shown!r} is not {what}."
