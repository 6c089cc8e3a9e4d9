"""Loading the data owner's own files and checking them against a bounty's schema.

CSV files need a header row naming the spec's feature columns and label column (any order).
NumPy .npz files (read with allow_pickle=False) hold either one 1-D array per column, named
like the columns, or a 2-D array "X" (features in the spec's column order) and a 1-D "y".
Every problem in every file is collected and reported in ONE DataError (the first 20 listed,
then "... and N more"), so the user can fix everything in one go. Nothing is written anywhere.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.errors import DataError
from trainer.spec import BountySpec, Schema

MAX_LISTED_PROBLEMS = 20
MAX_LISTED_NAMES = 8
MAX_FILE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # float64 (n_rows, n_features), standardised with the spec's mean/std
    y: np.ndarray  # int64 class indices into spec.schema.classes
    files: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self, n_classes: int) -> list[int]:
        return np.bincount(self.y, minlength=n_classes).tolist()


class _Problems:
    """Collects problems; keeps the first few for the message and counts the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED_PROBLEMS:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if not self.count:
            return
        lines = [f"Your data does not match the bounty's schema ({self.count} problem(s)):"]
        lines += [f"- {p}" for p in self.items]
        if self.count > len(self.items):
            lines.append(f"... and {self.count - len(self.items)} more.")
        raise DataError("\n".join(lines))


def load_data(paths: Sequence[str | Path], spec: BountySpec) -> tuple[np.ndarray, np.ndarray]:
    """(X standardised float64, y class indices int64) from the user's files."""
    dataset = load_dataset(paths, spec)
    return dataset.X, dataset.y


def load_dataset(paths: Sequence[str | Path], spec: BountySpec) -> Dataset:
    """Load, validate and concatenate CSV/.npz files; one DataError lists every problem."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("Choose at least one data file (.csv or .npz).")
    problems = _Problems()
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    names = []
    for raw in paths:
        path = Path(raw)
        names.append(str(path))
        label = path.name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.add(f"{raw}: no such file.")
            continue
        except OSError as exc:
            problems.add(f"{label}: cannot be read ({exc.strerror or exc}).")
            continue
        if not path.is_file():
            problems.add(f"{label}: is not a file.")
            continue
        if size > MAX_FILE_BYTES:
            problems.add(f"{label}: larger than {MAX_FILE_BYTES // 1024**3} GiB.")
            continue
        suffix = path.suffix.lower()
        if suffix in (".csv", ".txt", ".tsv"):
            loaded = _load_csv(path, spec, problems)
        elif suffix == ".npz":
            loaded = _load_npz(path, spec, problems)
        else:
            problems.add(f"{label}: unsupported file type '{suffix}' (use .csv or .npz).")
            continue
        if loaded is not None:
            xs.append(loaded[0])
            ys.append(loaded[1])
    n_rows = sum(len(y) for y in ys)
    if not problems.count and n_rows < spec.schema.min_rows:
        problems.add(
            f"Only {n_rows} row(s) in total; this bounty needs at least {spec.schema.min_rows}."
        )
    problems.raise_if_any()
    X = np.concatenate(xs, axis=0)
    y = np.concatenate(ys).astype(np.int64)
    mean = np.asarray(spec.standardize.mean, dtype=np.float64)
    std = np.asarray(spec.standardize.std, dtype=np.float64)
    X = (X - mean) / std
    return Dataset(X=X, y=y, files=tuple(names))


def _parse_feature(cell: str, col_type: str) -> float | None:
    """float value, or None when the cell is not acceptable for the column type."""
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if col_type == "int" and not value.is_integer():
        return None
    return value


def _class_lookup(spec: BountySpec) -> dict:
    return {c: i for i, c in enumerate(spec.schema.classes)}


def _parse_label(cell, classes: dict, int_classes: bool) -> int | None:
    if int_classes:
        try:
            value = float(str(cell).strip())
        except ValueError:
            return None
        if not math.isfinite(value) or not value.is_integer():
            return None
        return classes.get(int(value))
    return classes.get(str(cell).strip())


def _names(items: list[str]) -> str:
    """A list of names for a message; a long one is cut (a wrong file can have hundreds)."""
    shown = ", ".join(items[:MAX_LISTED_NAMES])
    more = len(items) - MAX_LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _has_every_column(
    name: str, present: list[str], schema: Schema, problems: _Problems, noun: str
) -> bool:
    """Report the schema's columns missing from `present` and the unexpected ones."""
    wanted = [*schema.feature_names, schema.label]
    missing = [c for c in wanted if c not in set(present)]
    extra = [h for h in present if h not in set(wanted)]
    if missing:
        problems.add(f"{name}: missing {noun}(s): {_names(missing)}.")
    if extra:
        problems.add(f"{name}: unexpected {noun}(s): {_names(extra)}.")
    return not missing


def _load_csv(path: Path, spec: BountySpec, problems: _Problems):
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.add(f"{name}: is not UTF-8 text.")
        return None
    except OSError as exc:
        problems.add(f"{name}: cannot be read ({exc.strerror or exc}).")
        return None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        problems.add(f"{name}: the file is empty (a header row is needed).")
        return None
    except csv.Error as exc:
        problems.add(f"{name}: not a readable CSV file ({exc}).")
        return None
    header = [h.strip() for h in header]
    index = {}
    for i, h in enumerate(header):
        if h in index:
            problems.add(f"{name}: column '{h}' appears twice in the header.")
        index[h] = i
    schema = spec.schema
    if not _has_every_column(name, header, schema, problems, "column"):
        return None
    classes = _class_lookup(spec)
    int_classes = isinstance(schema.classes[0], int)
    feature_idx = [index[c] for c in schema.feature_names]
    types = [c.type for c in schema.columns]
    label_idx = index[schema.label]
    rows_x: list[list[float]] = []
    rows_y: list[int] = []
    ok = True
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            if len(row) != len(header):
                problems.add(
                    f"{name} line {line_no}: {len(row)} cells, the header has {len(header)}."
                )
                ok = False
                continue
            values = []
            for col, idx, col_type in zip(schema.feature_names, feature_idx, types, strict=True):
                cell = row[idx]
                value = _parse_feature(cell, col_type)
                if value is None:
                    ok = False
                    what = "an integer" if col_type == "int" else "a finite number"
                    shown = cell.strip() or "(empty)"
                    problems.add(f"{name} line {line_no}, column '{col}': {shown!r} is not {what}.")
                values.append(value)
            label = _parse_label(row[label_idx], classes, int_classes)
            if label is None:
                ok = False
                problems.add(
                    f"{name} line {line_no}, label '{schema.label}': {row[label_idx].strip()!r} "
                    f"is not one of the classes {list(schema.classes)}."
                )
            if ok:
                rows_x.append(values)
                rows_y.append(label)
    except csv.Error as exc:
        problems.add(f"{name}: not a readable CSV file ({exc}).")
        return None
    if not ok:
        return None
    if not rows_y:
        problems.add(f"{name}: has a header but no data rows.")
        return None
    X = np.asarray(rows_x, dtype=np.float64).reshape(len(rows_y), len(feature_idx))
    return X, np.asarray(rows_y, dtype=np.int64)


def _load_npz(path: Path, spec: BountySpec, problems: _Problems):
    name = path.name
    schema = spec.schema
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
        if total > MAX_FILE_BYTES:
            problems.add(f"{name}: uncompresses to more than {MAX_FILE_BYTES // 1024**3} GiB.")
            return None
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # an untrusted file: zipfile and numpy raise many kinds of errors
        problems.add(f"{name}: not a readable .npz file ({exc}).")
        return None
    if "X" in arrays and "y" in arrays and schema.label not in arrays:
        X, y_raw = arrays["X"], arrays["y"]
        if X.ndim != 2 or X.shape[1] != len(schema.columns):
            problems.add(
                f"{name}: array 'X' has shape {X.shape}; expected (rows, {len(schema.columns)})."
            )
            return None
        columns = {c: X[:, i] for i, c in enumerate(schema.feature_names)}
    else:
        if not _has_every_column(name, list(arrays), schema, problems, "array"):
            return None
        columns = {c: arrays[c] for c in schema.feature_names}
        y_raw = arrays[schema.label]
    lengths = {k: (v.shape[0] if v.ndim == 1 else None) for k, v in columns.items()}
    lengths["(label)"] = y_raw.shape[0] if y_raw.ndim == 1 else None
    if None in lengths.values() or len(set(lengths.values())) != 1:
        problems.add(f"{name}: arrays must be 1-D and of equal length; got {lengths}.")
        return None
    ok = True
    feature_cols = []
    for col in schema.columns:
        arr = columns[col.name]
        if arr.dtype.kind not in "iufb":
            problems.add(f"{name}, column '{col.name}': not numeric (dtype {arr.dtype}).")
            ok = False
            continue
        values = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if col.type == "int":
            bad = np.union1d(
                bad, np.flatnonzero(np.isfinite(values) & (values != np.round(values)))
            )
        for row in bad[:MAX_LISTED_PROBLEMS]:
            what = "an integer" if col.type == "int" else "a finite number"
            problems.add(f"{name} row {row}, column '{col.name}': {values[row]!r} is not {what}.")
        if bad.size > MAX_LISTED_PROBLEMS:
            problems.add(
                f"{name}, column '{col.name}': {bad.size - MAX_LISTED_PROBLEMS} more bad value(s)."
            )
        ok = ok and bad.size == 0
        feature_cols.append(values)
    classes = _class_lookup(spec)
    int_classes = isinstance(schema.classes[0], int)
    if y_raw.dtype.kind not in "iufbUS":
        problems.add(f"{name}, label '{schema.label}': unsupported dtype {y_raw.dtype}.")
        return None
    y = np.empty(y_raw.shape[0], dtype=np.int64)
    bad_labels = 0
    for row, cell in enumerate(y_raw.tolist()):
        if isinstance(cell, bytes):
            cell = cell.decode("utf-8", "replace")
        label = _parse_label(cell, classes, int_classes)
        if label is None:
            bad_labels += 1
            if bad_labels <= MAX_LISTED_PROBLEMS:
                problems.add(
                    f"{name} row {row}, label '{schema.label}': {cell!r} is not one of the "
                    f"classes {list(schema.classes)}."
                )
        else:
            y[row] = label
    if bad_labels > MAX_LISTED_PROBLEMS:
        problems.add(f"{name}: {bad_labels - MAX_LISTED_PROBLEMS} more bad label(s).")
    if not ok or bad_labels:
        return None
    if y.size == 0:
        problems.add(f"{name}: has no rows.")
        return None
    return np.column_stack(feature_cols), y
