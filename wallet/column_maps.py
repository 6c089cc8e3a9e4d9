"""The owner's column mappings, remembered per bounty and file (issue 11).

When the owner confirms how a file's columns map to a bounty's schema (the GUI's mapping
table, or `quarry train --map`), the wallet keeps it in its own database (store table
`column_maps`, keyed by the bounty's spec hash and the file's absolute path): the next round,
and standing contributions, reuse it without asking. It stays on this computer like the file
itself; nothing of it is ever sent.

    remember(store, spec_hash, bounty_id, path, ColumnMap(columns={...}, label_values={...}))
    saved = recall(store, spec_hash, path)            # ColumnMap or None
    options = load_options([...paths], store, spec_hash, chosen=..., strict=...)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.data import LoadOptions, inspect_file, preview_rows
from trainer.errors import TrainerError, TrainingCancelled
from trainer.mapping import Proposal
from trainer.spec import BountySpec
from wallet.store import Store

MAX_MAPPING_BYTES = 1_000_000


@dataclass(frozen=True)
class ColumnMap:
    columns: dict[str, str] = field(default_factory=dict)  # spec column -> file column
    label_values: dict[str, Any] = field(default_factory=dict)  # file value -> class
    sheet: str | None = None
    drop_unknown_labels: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "labelValues": self.label_values, "sheet": self.sheet,
                "dropUnknownLabels": self.drop_unknown_labels}

    @classmethod
    def from_json(cls, obj: Any) -> ColumnMap | None:
        """The saved mapping, or None when the row is not one this wallet wrote."""
        if not isinstance(obj, dict):
            return None
        columns, values = obj.get("columns") or {}, obj.get("labelValues") or {}
        sheet = obj.get("sheet")
        if not (isinstance(columns, dict) and isinstance(values, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())
                and (sheet is None or isinstance(sheet, str))):
            return None
        return cls(dict(columns), {str(k): v for k, v in values.items()}, sheet,
                   bool(obj.get("dropUnknownLabels", False)))


def file_key(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def remember(store: Store, spec_hash: str, bounty_id: int, path: str | Path,
             mapping: ColumnMap) -> None:
    text = json.dumps(mapping.to_json(), sort_keys=True)
    if len(text) > MAX_MAPPING_BYTES:
        return  # a mapping this large is no owner's choice: not worth keeping
    store.db["column_maps"].upsert(
        {"spec_hash": spec_hash.lower(), "file": file_key(path), "bounty_id": int(bounty_id),
         "mapping": text, "saved_at": time.time()},
        pk=("spec_hash", "file"))


def recall(store: Store, spec_hash: str, path: str | Path) -> ColumnMap | None:
    rows = list(store.db["column_maps"].rows_where(
        "spec_hash = ? and file = ?", [spec_hash.lower(), file_key(path)]))
    if not rows:
        return None
    try:
        return ColumnMap.from_json(json.loads(rows[0]["mapping"]))
    except ValueError:
        return None


def forget(store: Store, spec_hash: str, path: str | Path) -> None:
    store.db["column_maps"].delete_where("spec_hash = ? and file = ?",
                                         [spec_hash.lower(), file_key(path)])


@dataclass(frozen=True)
class DataChoices:
    """What the owner chose for reading their files now (CLI flags, the GUI's mapping table);
    the remembered mapping fills in the rest."""

    columns: Mapping[str, str] = field(default_factory=dict)  # spec column -> file column
    files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # the same, per file
    label_values: Mapping[str, Any] = field(default_factory=dict)  # file value -> class
    strict: bool = False  # refuse instead of dropping incomplete rows
    drop_unknown_labels: bool = False
    sheet: str | None = None  # every spreadsheet (--sheet)
    sheets: Mapping[str, str] = field(default_factory=dict)  # per file (the GUI's sheet list)


def options_for(paths: Sequence[str | Path], store: Store | None, spec_hash: str,
                choices: DataChoices | None = None) -> LoadOptions:
    choices = choices or DataChoices()
    options = load_options(paths, store, spec_hash, chosen=choices.columns,
                           label_values=choices.label_values, strict=choices.strict,
                           drop_unknown_labels=choices.drop_unknown_labels, sheet=choices.sheet)
    return dataclasses.replace(
        options, chosen_per_file={str(p): dict(c) for p, c in choices.files.items()},
        sheets={**options.sheets, **{str(p): s for p, s in choices.sheets.items()}})


def load_options(
    paths: Sequence[str | Path],
    store: Store | None,
    spec_hash: str,
    *,
    chosen: Mapping[str, str] | None = None,
    label_values: Mapping[str, Any] | None = None,
    strict: bool = False,
    drop_unknown_labels: bool = False,
    sheet: str | None = None,
) -> LoadOptions:
    """LoadOptions for these files: each file's remembered mapping, under what the owner
    chose now (`chosen`, `label_values`, `sheet` win over what was remembered)."""
    per_file: dict[str, dict[str, str]] = {}
    values: dict[str, Any] = {}
    sheets: dict[str, str] = {}
    drop = drop_unknown_labels
    for path in paths:
        saved = recall(store, spec_hash, path) if store is not None else None
        if saved is None:
            continue
        per_file[str(path)] = dict(saved.columns)
        values.update(saved.label_values)
        drop = drop or saved.drop_unknown_labels
        if saved.sheet and not sheet:
            sheets[str(path)] = saved.sheet
    values.update(label_values or {})
    return LoadOptions(chosen=dict(chosen or {}), per_file=per_file, label_values=values,
                       strict=strict, drop_unknown_labels=drop, sheet=sheet, sheets=sheets)


@dataclass
class FileInspection:
    """One file as the mapping step shows it: its columns, the proposed mapping, the first
    rows as they will be used; or why it cannot be read."""

    path: str
    name: str
    fmt: str = ""
    columns: list[str] = field(default_factory=list)
    sheet: str | None = None  # the sheet shown, for a spreadsheet
    sheets: tuple[str, ...] = ()  # its sheets
    proposal: Proposal | None = None
    preview: list[list[str]] = field(default_factory=list)
    error: str | None = None


def inspect_files(paths: Sequence[str | Path], spec: BountySpec, options: LoadOptions,
                  preview: int = 5) -> list[FileInspection]:
    """Open each file and propose its mapping (under the owner's choices in `options`);
    a file that cannot be read, or a choice that does not fit, is that file's `error`."""
    out = []
    for raw in paths:
        item = FileInspection(str(raw), Path(raw).name)
        try:
            table, proposal = inspect_file(raw, spec, options)
            with table:
                item.fmt, item.columns, item.proposal = table.describe(), list(table.columns), proposal
                item.sheet, item.sheets = table.sheet, table.sheets
                item.preview = preview_rows(table, proposal, spec, preview, options.label_values)
        except TrainerError as exc:
            item.error = str(exc)
        out.append(item)
    return out


@dataclass
class MappingCheck:
    """The mapping step's answer: each file's mapping and preview, and either the loaded
    data (the check passed) or the problems and the label values that are not classes."""

    inspections: list[FileInspection]
    dataset: Any | None = None  # trainer.data.Dataset
    problem: str | None = None
    unknown_labels: list[str] = field(default_factory=list)


def check_mapping(contribution: Any, files: Sequence[str | Path], choices: DataChoices,
                  *, progress: Any = None, should_stop: Any = None) -> MappingCheck:
    """Propose/preview each file's mapping and run the schema check with the owner's
    choices (a prepared wallet.contribute.Contribution: its spec is known). A check that
    fails is an answer, not an error: the page shows the table to fix it."""
    options = contribution.load_options(files, choices)
    inspections = inspect_files(files, contribution.spec, options)
    try:
        dataset = contribution.load_data(files, choices=choices, progress=progress,
                                         should_stop=should_stop)
    except TrainingCancelled:
        raise
    except TrainerError as exc:
        return MappingCheck(inspections, None, str(exc), list(getattr(exc, "unknown_labels", [])))
    return MappingCheck(inspections, dataset)


def remember_used(store: Store, spec_hash: str, bounty_id: int, dataset: Any,
                  options: LoadOptions) -> None:
    """Keep the mapping each file of a successful check was read with."""
    for report in getattr(dataset, "reports", ()):
        remember(store, spec_hash, bounty_id, report.path, ColumnMap(
            columns=report.mapping.as_dict(), label_values=dict(options.label_values),
            sheet=report.sheet, drop_unknown_labels=options.drop_unknown_labels))
