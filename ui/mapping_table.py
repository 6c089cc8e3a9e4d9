"""The mapping step of a contribution: which column of the owner's file feeds each of the
bounty's columns, and the first rows as they will be used (issue 11).

    table = MappingTable()
    table.show_file(inspection, spec)     # a wallet.column_maps.FileInspection
    table.chosen()                        # {spec column: file column} as the dropdowns say
    table.label_values()                  # {file value: class} from the label-values table
    table.changed.connect(...)            # the owner changed a dropdown: re-check the preview

One row per spec column (the label last) with a dropdown of the file's columns, preselected
with the wallet's proposal, and how it was matched; unmatched or ambiguous columns say so in
the dropdown's row. Under it: the columns the bounty does not use, the preview, and, when
label values are not classes, a dropdown per value (or drop those rows). Nothing here reads
files: the page runs wallet.column_maps.inspect_files in a worker and hands the result in.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import muted_label

NOT_CHOSEN = "— choose a column —"
NOT_MAPPED = "— not a class —"
HOW_TEXT = {
    "exact": "same name", "normalised": "same name, other spelling", "alias": "bounty's alias",
    "label name": "usual label name, values fit", "position": "by position (.npz X/y)",
    "chosen": "your choice", "remembered": "your choice last time",
}


class MappingTable(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec_columns: list[str] = []
        self._combos: list[QComboBox] = []
        self._value_combos: dict[str, QComboBox] = {}
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # file names come from the owner
        self.columns = QTableWidget(0, 3)
        self.columns.setHorizontalHeaderLabels(["Bounty's column", "Column in your file", "Matched by"])
        self.columns.setAccessibleName("Column mapping")
        self.columns.verticalHeader().hide()
        self.columns.setMinimumHeight(200)
        self.columns.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.columns.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.columns.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.extras = muted_label()
        self.extras.setTextFormat(Qt.TextFormat.PlainText)
        self.preview = QTableWidget(0, 0)
        self.preview.setAccessibleName("Preview of the rows as they will be used")
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.setMaximumHeight(170)
        self.values_note = muted_label("Label values that are not one of the bounty's classes: "
                                       "choose a class for each, or drop those rows.")
        self.values = QTableWidget(0, 2)
        self.values.setHorizontalHeaderLabels(["Value in your file", "Class"])
        self.values.setAccessibleName("Label values")
        self.values.verticalHeader().hide()
        self.values.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.values.setMaximumHeight(140)
        self.drop_unknown = QCheckBox("Drop rows whose label is not one of the classes")
        self.drop_unknown.setAccessibleName("Drop rows with unknown labels")
        self.drop_unknown.toggled.connect(lambda _on: self.changed.emit())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.title)
        box.addWidget(self.columns, 2)
        box.addWidget(self.extras)
        box.addWidget(muted_label("First rows as they will be used (before the bounty's scaling):"))
        box.addWidget(self.preview, 1)
        box.addWidget(self.values_note)
        box.addWidget(self.values)
        box.addWidget(self.drop_unknown)
        self.set_unknown_labels([], [])

    # -- filling ----------------------------------------------------------------------

    def show_file(self, inspection: Any, spec: Any) -> None:
        """Show one file's proposal (a FileInspection) for this spec (a BountySpec)."""
        proposal = inspection.proposal
        self.title.setText(f"{inspection.name} ({inspection.fmt})" if inspection.fmt
                           else inspection.name)
        self._spec_columns = [*spec.schema.feature_names, spec.schema.label]
        self.columns.blockSignals(True)
        self.columns.setRowCount(len(self._spec_columns))
        self._combos = []
        matches = {m.spec_column: m for m in proposal.matches} if proposal is not None else {}
        for row, name in enumerate(self._spec_columns):
            is_label = row == len(self._spec_columns) - 1
            item = QTableWidgetItem(f"{name}  (label)" if is_label else name)
            self.columns.setItem(row, 0, item)
            combo = QComboBox()
            combo.addItems([NOT_CHOSEN, *inspection.columns])
            combo.setAccessibleName(f"File column for {name}")
            match = matches.get(name)
            if match is not None and match.file_column is not None:
                combo.setCurrentText(match.file_column)
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
            self.columns.setCellWidget(row, 1, combo)
            self._combos.append(combo)
            self.columns.setItem(row, 2, QTableWidgetItem(self._how(match)))
        self.columns.blockSignals(False)
        extras = list(proposal.extras) if proposal is not None else []
        self.extras.setText(f"Not used (the bounty does not ask for them): {', '.join(extras)}"
                            if extras else "")
        self.extras.setVisible(bool(extras))
        self.set_preview(inspection.preview)

    @staticmethod
    def _how(match: Any) -> str:
        if match is None:
            return ""
        if match.file_column is not None:
            return HOW_TEXT.get(match.how, match.how)
        if match.candidates:
            return "several fit: " + ", ".join(match.candidates[:4])
        return "not found: choose one"

    def set_preview(self, rows: list[list[str]]) -> None:
        self.preview.setColumnCount(len(self._spec_columns))
        self.preview.setHorizontalHeaderLabels(self._spec_columns)
        self.preview.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.preview.setItem(r, c, QTableWidgetItem(text))
        self.preview.resizeColumnsToContents()

    def set_unknown_labels(self, values: list[str], classes: list[Any]) -> None:
        """A dropdown of classes for each label value that is not a class (kept choices stay)."""
        kept = self.label_values()
        self.values.setRowCount(len(values))
        self._value_combos = {}
        for row, value in enumerate(values):
            self.values.setItem(row, 0, QTableWidgetItem(value))
            combo = QComboBox()
            combo.addItems([NOT_MAPPED, *[str(c) for c in classes]])
            combo.setAccessibleName(f"Class for the label value {value}")
            if value in kept:
                combo.setCurrentText(str(kept[value]))
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
            self.values.setCellWidget(row, 1, combo)
            self._value_combos[value] = combo
        for widget in (self.values_note, self.values, self.drop_unknown):
            widget.setVisible(bool(values))

    # -- reading ----------------------------------------------------------------------

    def chosen(self) -> dict[str, str]:
        return {name: combo.currentText() for name, combo in zip(self._spec_columns, self._combos,
                                                                  strict=True)
                if combo.currentIndex() > 0}

    def label_values(self) -> dict[str, str]:
        return {value: combo.currentText() for value, combo in self._value_combos.items()
                if combo.currentIndex() > 0}

    def complete(self) -> bool:
        """Every spec column has a file column."""
        return bool(self._combos) and all(c.currentIndex() > 0 for c in self._combos)
