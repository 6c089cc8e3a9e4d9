"""Accepting a bounty: files → schema check → training (live chart) → privacy → encryption →
review and submit. Every slow step runs in a worker with progress and Cancel.

The work is wallet.contribute's staged `Contribution` (the same steps `quarry train` and the
autopilot run); this page only holds the widgets, runs each step in a worker when the person
moves on, and shows what it returned. It imports nothing from trainer/ (tests/test_contribute.py
checks that).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QRadioButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ui import network_link
from ui.mapping_table import MappingTable
from ui.tasks import user_errors
from ui.widgets import Banner, BusyPanel, LazyWidget, button, muted_label

if TYPE_CHECKING:
    from ui.context import AppContext
    from wallet.contribute import Contribution  # imported when used: it loads the trainer (~0.7 s)

STEP_TITLES = ("Your files", "Training", "Privacy", "Encryption", "Review and submit")
NOISE_STEPS = 100  # slider resolution between 0 and the bounty's maximum noise multiplier
DEFAULT_MAX_NOISE = 2.0


def _training_chart() -> QWidget:
    from ui.charts import TrainingChart

    return TrainingChart()

class ContributeFlow(QWidget):
    closed = Signal()
    submitted = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.details: Any = None
        self.account: str | None = None
        self.files: list[str] = []
        self.prepared: Contribution | None = None  # the staged contribution, once prepared
        self.trained: Any = None  # the trained update (clipped, no noise)
        self.update: Any = None  # with the chosen noise
        self.blob: bytes | None = None
        self.task: Any = None
        self.result: dict[str, Any] | None = None
        self.banner = Banner()
        self.heading = QLabel()
        self.heading.setObjectName("AppTitle")
        self.heading.setTextFormat(Qt.TextFormat.PlainText)  # the title comes from a stranger
        self.step_label = muted_label()
        self.steps = QStackedWidget()
        for build in (self._files_step, self._train_step, self._privacy_step,
                      self._encrypt_step, self._review_step):
            self.steps.addWidget(build())
        self.leave_button = button("Leave", "close", on_click=self.leave,
                                   accessible="Leave this contribution")
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.leave_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.step_label)
        box.addWidget(self.banner)
        box.addWidget(self.steps, 1)
        self._reset_mapping()

    # -- steps ------------------------------------------------------------------------

    def _files_step(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.schema_note = muted_label()
        self.file_list = QListWidget()
        self.file_list.setAccessibleName("Chosen data files")
        self.file_list.setMaximumHeight(120)
        self.choose_button = button("Choose files…", "folder", on_click=self.choose_files)
        self.check_button = button("Check my data", "check", primary=True,
                                   on_click=self.check_files)
        self.check_busy = BusyPanel("Checking…")
        self.check_busy.cancel_requested.connect(self.cancel_task)
        self.check_busy.hide()
        self.check_result = QLabel()
        self.check_result.setTextFormat(Qt.TextFormat.PlainText)
        self.check_result.setWordWrap(True)
        self.check_result.setAccessibleName("Schema check result")
        self.to_training = button("Continue to training", "train", primary=True,
                                  on_click=lambda: self.go(1))
        self.to_training.setEnabled(False)
        # how each file's columns feed the bounty's (issue 11): shown after a check
        self.map_file = QComboBox()
        self.map_file.setAccessibleName("File whose columns are shown")
        self.map_file.currentIndexChanged.connect(self._show_mapping)
        self.map_sheet = QComboBox()  # a workbook's sheets: the data may not be on the first
        self.map_sheet.setAccessibleName("Sheet of the workbook to read")
        self.map_sheet.activated.connect(self._sheet_chosen)
        self.mapping = MappingTable()
        self.mapping.changed.connect(self._mapping_edited)
        self.recheck_button = button("Check again with this mapping", "check",
                                     on_click=self.check_files)
        self.map_box = QWidget()
        map_layout = QVBoxLayout(self.map_box)
        map_layout.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        pick.addWidget(self.map_file)
        pick.addWidget(self.map_sheet)
        pick.addStretch(1)
        map_layout.addLayout(pick)
        map_layout.addWidget(self.mapping, 1)
        map_layout.addWidget(self.recheck_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.map_box.hide()
        row = QHBoxLayout()
        row.addWidget(self.choose_button)
        row.addWidget(self.check_button)
        row.addStretch(1)
        box.addWidget(self.schema_note)
        box.addWidget(self.file_list)
        box.addLayout(row)
        box.addWidget(self.check_busy)
        box.addWidget(self.check_result)
        box.addWidget(self.map_box, 1)
        box.addWidget(self.to_training, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def _train_step(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setAccessibleName("Epochs")
        self.epochs.valueChanged.connect(self._noise_changed)  # DP-SGD's ε depends on them
        self.train_button = button("Start training", "train", primary=True,
                                   on_click=self.start_training)
        row = QHBoxLayout()
        row.addWidget(QLabel("Epochs"))
        row.addWidget(self.epochs)
        row.addWidget(self.train_button)
        row.addStretch(1)
        self.train_busy = BusyPanel("Training on your computer…")
        self.train_busy.cancel_requested.connect(self.cancel_task)
        self.train_busy.hide()
        self.chart = LazyWidget(_training_chart)  # pyqtgraph loads when training is first shown
        self.train_result = muted_label()
        self.to_privacy = button("Continue to privacy", "shield", primary=True,
                                 on_click=lambda: self.go(2))
        self.to_privacy.setEnabled(False)
        box.addWidget(muted_label("The model trains here, on your files; they never leave this "
                                  "computer."))
        box.addLayout(row)
        box.addWidget(self.train_busy)
        box.addWidget(self.chart, 1)
        box.addWidget(self.train_result)
        box.addWidget(self.to_privacy, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def _privacy_step(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.noise_slider = QSlider(Qt.Orientation.Horizontal)
        self.noise_slider.setRange(0, NOISE_STEPS)
        self.noise_slider.setAccessibleName("Privacy noise multiplier")
        self.noise_slider.valueChanged.connect(self._noise_changed)
        self.noise_value = QLabel()
        self.noise_value.setMinimumWidth(170)
        self.epsilon_label = QLabel()
        self.epsilon_label.setObjectName("BigNumber")
        self.epsilon_label.setAccessibleName("Privacy loss epsilon")
        self.epsilon_words = QLabel()
        self.epsilon_words.setWordWrap(True)
        self.epsilon_words.setAccessibleName("What epsilon means")
        row = QHBoxLayout()
        row.addWidget(QLabel("Less noise"))
        row.addWidget(self.noise_slider, 1)
        row.addWidget(QLabel("More noise"))
        row.addWidget(self.noise_value)
        self.to_encrypt = button("Encrypt my update", "lock", primary=True,
                                 on_click=self.start_encryption)
        # the privacy modes (wallet.privacy_choice): DP-SGD by default
        from wallet.privacy_choice import MODES

        self.mode_group = QButtonGroup(page)
        modes = QHBoxLayout()
        self.mode_buttons: dict[str, QRadioButton] = {}
        for mode, title in MODES.items():
            radio = QRadioButton(title)
            radio.setAccessibleName(f"Privacy mode: {title}")
            self.mode_group.addButton(radio)
            self.mode_buttons[mode] = radio
            modes.addWidget(radio)
            radio.toggled.connect(self._mode_changed)
        modes.addStretch(1)
        self.mode_note = muted_label()
        self.mode_note.setWordWrap(True)
        # room for the longest note (two lines): the step's layout is not redone per mode
        self.mode_note.setMinimumHeight(3 * self.mode_note.fontMetrics().lineSpacing())
        self.measured_label = muted_label()
        self.measured_label.setWordWrap(True)
        self.measured_label.setAccessibleName("Measured cost of this setting")
        self.effect_label = QLabel()
        self.effect_label.setWordWrap(True)
        self.effect_label.setAccessibleName("Effect on your own rows")
        self.measure_button = button("Measure on my rows", "chart", on_click=self.measure_effect)
        box.addWidget(muted_label(
            "Before your update leaves, noise can protect what it reveals about your data. "
            "Choose what to protect and how much."))
        box.addLayout(modes)
        box.addWidget(self.mode_note)
        box.addLayout(row)
        box.addWidget(self.epsilon_label)
        box.addWidget(self.epsilon_words)
        box.addWidget(self.measured_label)
        effect = QHBoxLayout()
        effect.addWidget(self.effect_label, 1)
        effect.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignTop)
        box.addLayout(effect)
        box.addStretch(1)
        box.addWidget(self.to_encrypt, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def _encrypt_step(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.encrypt_busy = BusyPanel("Encrypting…")
        self.encrypt_busy.cancel_requested.connect(self.cancel_task)
        self.encrypt_note = muted_label(
            "Your update is encrypted with the practitioner's public key; only the sum of "
            "everyone's updates is ever decrypted.")
        self.retry_encrypt = button("Encrypt again", "refresh", on_click=self.start_encryption)
        self.retry_encrypt.hide()
        box.addWidget(self.encrypt_note)
        box.addWidget(self.encrypt_busy)
        box.addWidget(self.retry_encrypt, 0, Qt.AlignmentFlag.AlignLeft)
        box.addStretch(1)
        return page

    def _review_step(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.review = QLabel()
        self.review.setWordWrap(True)
        self.review.setTextFormat(Qt.TextFormat.RichText)
        self.review.setAccessibleName("What will be sent")
        self.gasless = QCheckBox("Submit without paying gas (the bounty's inbox relays it)")
        self.gasless.setAccessibleName("Gasless submission")
        self.submit_busy = BusyPanel("Submitting…")
        self.submit_busy.cancel_requested.connect(self.cancel_task)
        self.submit_busy.hide()
        self.submit_button = button("Submit", "send", primary=True, on_click=self.submit)
        self.done_button = button("Back to bounties", on_click=self.leave)
        self.done_button.hide()
        self.retrain_button = button("Train again for the current round", "train", primary=True,
                                     on_click=self.retrain)
        self.retrain_button.hide()
        self.retry_upload_button = button("Retry upload", "refresh", on_click=self.retry_upload)
        self.retry_upload_button.hide()
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.retry_upload_button)
        row.addWidget(self.done_button)
        row.addWidget(self.retrain_button)
        row.addWidget(self.submit_button)
        box.addWidget(self.review)
        box.addWidget(self.gasless)
        box.addWidget(self.submit_busy)
        box.addStretch(1)
        box.addLayout(row)
        return page

    # -- navigation -------------------------------------------------------------------

    def start(self, details: Any, account: str | None) -> None:
        self.details, self.account = details, account
        self.files, self.prepared, self.trained, self.update, self.blob = [], None, None, None, None
        self.result = None
        spec = details.spec or {}
        schema = spec.get("schema", {})
        names = [str(c.get("name")) for c in schema.get("columns", [])]
        self.heading.setText(f"Contribute to: {spec.get('title', f'bounty {details.bounty.id}')}")
        self.schema_note.setText(
            f"Choose your files (CSV, spreadsheet, Parquet, JSON or .npz) with the columns "
            f"{', '.join(names[:8])}{', …' if len(names) > 8 else ''} and the label column "
            f"'{schema.get('label')}', under these or other names: you will see how they match. "
            f"At least {schema.get('min_rows', 1)} rows.")
        self.file_list.clear()
        self.check_result.clear()
        self._reset_mapping()
        self.to_training.setEnabled(False)
        self.epochs.setValue(int(spec.get("training", {}).get("epochs", 5)))
        self.chart.clear_points()
        self.train_result.clear()
        self.to_privacy.setEnabled(False)
        self.train_button.setEnabled(True)
        privacy = spec.get("privacy", {})
        self.max_noise = float(privacy.get("max_noise_multiplier", DEFAULT_MAX_NOISE) or 0.0)
        self.effect_label.clear()
        self.set_mode("row")
        self.gasless.setChecked(False)
        self.gasless.setEnabled(bool(spec.get("inbox_url")))
        self.submit_button.show()
        self.submit_button.setEnabled(True)
        self.done_button.hide()
        self.retrain_button.hide()
        self.retry_upload_button.hide()
        self.banner.clear()
        self.go(0)

    def go(self, step: int) -> None:
        self.steps.setCurrentIndex(step)
        self.step_label.setText("  ›  ".join(
            f"<b>{t}</b>" if i == step else t for i, t in enumerate(STEP_TITLES)))
        self.step_label.setTextFormat(Qt.TextFormat.RichText)

    def leave(self) -> None:
        self.cancel_task()
        self.prepared = self.trained = self.update = None
        self.blob = None
        self.closed.emit()

    def cancel_task(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()

    def on_locked(self) -> None:
        # Training and encryption need no key and may go on; submitting waits for unlock.
        pass

    # -- step 1: files and the schema check ----------------------------------------

    def choose_files(self) -> None:
        paths, _f = QFileDialog.getOpenFileNames(
            self, "Choose your data files", str(Path.home()),
            "Data (*.csv *.tsv *.txt *.xlsx *.ods *.parquet *.jsonl *.ndjson *.json *.npz);;"
            "All files (*)")
        if paths:
            self.set_files(paths)

    def set_files(self, paths: list[str]) -> None:
        self.files = [str(p) for p in paths]
        self.file_list.clear()
        self.file_list.addItems(self.files)
        self.to_training.setEnabled(False)
        self.check_result.clear()
        self.prepared = None  # other files: checked again before training
        self._reset_mapping()

    def check_files(self) -> None:
        if not self.files:
            self.banner.error("Choose at least one data file first.")
            return
        client = network_link.bounty_client(self.ctx)
        if client is None:
            self.banner.error("Not connected to a network yet.")
            return
        from wallet.column_maps import check_mapping

        # the bounty's round, spec and model once; a re-check with another mapping reuses them
        contribution = self._opened or self._new_contribution(client)
        opened = contribution is self._opened
        files, choices = list(self.files), self._choices()
        self.banner.clear()
        self.check_button.setEnabled(False)
        self.recheck_button.setEnabled(False)
        self.to_training.setEnabled(False)
        self.check_busy.start("Checking your files…" if opened else
                              "Fetching the model and checking your files…", 0)

        def work(c: Any) -> Any:
            if not opened:
                contribution.open_round(should_stop=c.should_stop)
            def reading(_step: str, fraction: float, message: str) -> None:
                c.progress(round(fraction * 100), 100, message)  # a big file takes a while

            return contribution, check_mapping(contribution, files, choices, progress=reading,
                                               should_stop=c.should_stop)

        self.task = self.ctx.runner.run(
            work, on_success=self._checked, on_failure=self._check_failed,
            on_progress=self.check_busy.update_progress,
            on_cancelled=lambda: self._check_failed("Cancelled."),
            on_finished=lambda: (self.check_button.setEnabled(True),
                                 self.recheck_button.setEnabled(True), self.check_busy.hide()))

    def _new_contribution(self, client: Any) -> Contribution:
        from wallet.contribute import Contribution

        # file:// URIs from the chain are read only inside the wallet's data directory
        from wallet.privacy_budget import PrivacyBudget

        return Contribution(client, self.details.bounty.id, account=self.account,
                            file_roots=[self.ctx.home], budget=PrivacyBudget(self.ctx.store),
                            store=self.ctx.store)  # column mappings remembered per bounty and file

    def _checked(self, answer: Any) -> None:
        """(contribution, wallet.column_maps.MappingCheck) from the check's worker, or a
        contribution already prepared by the caller (tests of later steps)."""
        if isinstance(answer, tuple):
            contribution, check = answer
        else:
            from wallet.column_maps import MappingCheck

            contribution, check = answer, MappingCheck([], answer.dataset)
        self._opened, self._inspections = contribution, check.inspections
        self.map_file.blockSignals(True)
        current = self.map_file.currentIndex()
        self.map_file.clear()
        self.map_file.addItems([item.name for item in check.inspections])
        self.map_file.setCurrentIndex(max(current, 0))
        self.map_file.setVisible(len(check.inspections) > 1)
        self.map_file.blockSignals(False)
        self._show_mapping()
        self.mapping.set_unknown_labels(check.unknown_labels, list(contribution.spec.schema.classes))
        self.map_box.setVisible(bool(check.inspections))
        if check.dataset is None:  # the table shows what to fix; nothing goes on yet
            self.prepared = None
            self.check_result.setText("")
            lines = (check.problem or "Your files do not match the bounty's schema.").splitlines()
            # the table below is where it is fixed: a few lines here, not a wall of rows
            more = f"\n… and {len(lines) - 7} more line(s)." if len(lines) > 8 else ""
            self.banner.error("\n".join(lines[:7] if more else lines) + more)
            return
        self.prepared = contribution
        spec, dataset = contribution.spec, check.dataset
        self.check_result.setText(
            f"✓ Your files match the bounty's schema ({spec.n_features} features). "
            f"What will be used:\n{dataset.summary(spec)}")
        self.to_training.setEnabled(True)
        self._noise_changed()  # ε of the chosen setting depends on how many rows there are

    def _check_failed(self, message: str) -> None:
        self.check_result.setText("")
        self.banner.error(message)

    # the mapping table (ui.mapping_table): one file at a time, choices kept per file

    def _reset_mapping(self) -> None:
        self._opened: Contribution | None = None
        self._inspections: list[Any] = []
        self._file_choices: dict[str, dict[str, str]] = {}
        self._file_sheets: dict[str, str] = {}
        self.map_box.hide()

    def _show_mapping(self, *_args: Any) -> None:
        index = self.map_file.currentIndex()
        if self._opened is None or not 0 <= index < len(self._inspections):
            return
        item = self._inspections[index]
        self.mapping.show_file(item, self._opened.spec)
        self.map_sheet.clear()
        self.map_sheet.addItems([f"Sheet: {name}" for name in item.sheets])
        if item.sheet in item.sheets:
            self.map_sheet.setCurrentIndex(item.sheets.index(item.sheet))
        self.map_sheet.setVisible(len(item.sheets) > 1)

    def _sheet_chosen(self, position: int) -> None:
        """Another sheet of the workbook: its columns differ, so check it at once."""
        index = self.map_file.currentIndex()
        if not 0 <= index < len(self._inspections):
            return
        item = self._inspections[index]
        if 0 <= position < len(item.sheets) and item.sheets[position] != item.sheet:
            self._file_sheets[item.path] = item.sheets[position]
            self._file_choices.pop(item.path, None)  # columns of another sheet
            self.check_files()

    def _mapping_edited(self) -> None:
        index = self.map_file.currentIndex()
        if 0 <= index < len(self._inspections):
            item = self._inspections[index]
            # only what the owner changed is a choice; the rest stays matched as it was
            auto = {m.spec_column: m.file_column for m in item.proposal.matches
                    if m.how not in ("chosen", "")} if item.proposal is not None else {}
            self._file_choices[item.path] = {k: v for k, v in self.mapping.chosen().items()
                                             if auto.get(k) != v}
        self.to_training.setEnabled(False)  # the data to use changed: check again first
        self.prepared = None

    def _choices(self) -> Any:
        from wallet.column_maps import DataChoices

        return DataChoices(files=dict(self._file_choices), sheets=dict(self._file_sheets),
                           label_values=self.mapping.label_values(),
                           drop_unknown_labels=self.mapping.drop_unknown.isChecked())

    # -- step 2: training ----------------------------------------------------------

    def start_training(self) -> None:
        prepared = self.prepared
        if prepared is None:
            return
        epochs = self.epochs.value()
        self.chart.clear_points()
        self.banner.clear()
        self.train_button.setEnabled(False)
        self.to_privacy.setEnabled(False)
        self.train_busy.start(f"Training for {epochs} epochs…", epochs)

        def work(c: Any) -> Any:
            def on_epoch(epoch: int, loss: float, accuracy: float) -> None:
                c.partial((epoch, loss, accuracy))
                c.progress(epoch, epochs, f"Epoch {epoch} of {epochs}: loss {loss:.4f}, "
                                          f"accuracy {accuracy:.1%}")
            # No noise yet: the privacy step adds it to this clipped update.
            return prepared.train(epochs, on_epoch=on_epoch, should_stop=c.should_stop)

        self.task = self.ctx.runner.run(
            work, on_partial=lambda p: self.chart.add_point(*p),
            on_progress=self.train_busy.update_progress, on_success=self._trained,
            on_failure=self._train_failed,
            on_cancelled=lambda: self._train_failed("Training cancelled; nothing was sent."))

    def _trained(self, update: Any) -> None:
        self.trained = update
        self.train_busy.finish("Training finished.")
        self.train_button.setEnabled(True)
        last = update.train_history[-1] if update.train_history else None
        text = f"Trained on {update.n_samples} rows."
        if last is not None:
            text += f" Final loss {last.loss:.4f}, accuracy on your data {last.accuracy:.1%}."
        if update.clipped:
            text += " The update was scaled down to the bounty's bound."
        self.train_result.setText(text)
        self.to_privacy.setEnabled(True)

    def _train_failed(self, message: str) -> None:
        self.train_busy.hide()
        self.train_button.setEnabled(True)
        self.banner.error(message)

    # -- step 3: privacy -----------------------------------------------------------

    def mode(self) -> str:
        return next((m for m, b in self.mode_buttons.items() if b.isChecked()), "row")

    def set_mode(self, mode: str) -> None:
        """Choose a privacy mode; the slider moves to that mode's default."""
        self._setting_mode = True
        try:
            self.mode_buttons[mode].setChecked(True)
            if mode == "row":
                from wallet.privacy_choice import ROW_NOISE_RANGE, PrivacyChoice

                low, high = ROW_NOISE_RANGE
                default = PrivacyChoice().noise_multiplier
                self.noise_slider.setEnabled(True)
                self.noise_slider.setValue(round(NOISE_STEPS * (default - low) / (high - low)))
            elif mode == "dataset":
                self.noise_slider.setEnabled(self.max_noise > 0)
                self.noise_slider.setValue(NOISE_STEPS // 2 if self.max_noise > 0 else 0)
            else:
                self.noise_slider.setEnabled(False)
                self.noise_slider.setValue(0)
        finally:
            self._setting_mode = False
        self._noise_changed()

    def _mode_changed(self, checked: bool) -> None:
        if checked and not getattr(self, "_setting_mode", False):
            self.set_mode(self.mode())

    def noise_multiplier(self) -> float:
        mode = self.mode()
        if mode == "row":
            from wallet.privacy_choice import ROW_NOISE_RANGE

            low, high = ROW_NOISE_RANGE
            return round(low + (high - low) * self.noise_slider.value() / NOISE_STEPS, 2)
        if mode == "dataset":
            return round(self.max_noise * self.noise_slider.value() / NOISE_STEPS, 4)
        return 0.0

    def privacy_choice(self) -> Any:
        from wallet.privacy_choice import PrivacyChoice

        return PrivacyChoice(self.mode(), self.noise_multiplier())

    def _noise_changed(self, *_args: Any) -> None:
        if getattr(self, "_setting_mode", False):
            return
        mode, sigma = self.mode(), self.noise_multiplier()
        self.effect_label.clear()
        self.noise_value.setText("no noise" if mode == "none" else f"noise multiplier {sigma:.2f}")
        self.mode_note.setText({
            "row": "Noise is added to each training step, so no single row of your data can be "
                   "told from the update. The model still learns from all of them.",
            "dataset": "Noise is added once to the whole update, so nobody can tell whether you "
                       "took part at all. On a bounty's small model this is far more noise: the "
                       "update is much less useful and rarely paid.",
            "none": "Your update is encrypted, but the practitioner who decrypts it could learn "
                    "something about your rows."}[mode])
        # a bounty that opens its updates to the round's contributors at the reveal takes none
        # without noise (wallet.contribute.OpenUpdateWithoutNoise): said here, before training
        from wallet.contribute import sends_without_noise

        opened = self.details is not None and (self.details.spec or {}).get("open_updates") is True
        blocked = opened and sends_without_noise(mode, sigma)
        if blocked:
            self.mode_note.setText(
                "This bounty opens every counted update to the round's other contributors once its "
                "validation set is revealed, so that each of them can check every value: an update "
                "without noise is not sent to it. Protect each row to contribute.")
        prepared = self.prepared
        if prepared is None or prepared.spec is None or prepared.dataset is None:
            delta = float((self.details.spec or {}).get("privacy", {}).get("delta", 1e-5)) \
                if self.details is not None else 1e-5
            if mode == "row":  # ε needs the owner's row count: known once the files are checked
                self.epsilon_label.setText("ε: after your files are checked")
                self.epsilon_words.clear()
                self.measured_label.clear()
                return
            from wallet.contribute import privacy_preview

            eps, words = privacy_preview(sigma, delta)
            self.epsilon_label.setText("ε = ∞ (no noise)" if math.isinf(eps) else f"ε = {eps:.2f}")
            self.epsilon_words.setText(words)
            return
        from wallet.privacy_choice import describe_choice

        # the epochs of step 2 are the ones DP-SGD will run: ε is for exactly that
        text = describe_choice(self.privacy_choice(), prepared.spec, prepared.dataset.n_rows,
                               self.epochs.value())
        self.epsilon_label.setText(text.headline)
        self.epsilon_words.setText(text.words + (f" {text.over_cap}" if text.over_cap else ""))
        self.measured_label.setText(text.measured)
        self.to_encrypt.setEnabled(not text.over_cap and not blocked)

    def measure_effect(self) -> None:
        """Accuracy on a held-out slice of the owner's rows with and without this setting."""
        prepared = self.prepared
        if prepared is None or prepared.spec is None or prepared.dataset is None:
            return
        choice, epochs = self.privacy_choice(), self.epochs.value()
        spec, params, dataset = prepared.spec, prepared.global_params, prepared.dataset

        def work(_c: Any) -> str:
            from wallet.privacy_choice import measure_choice

            return measure_choice(choice, spec, params, dataset.X, dataset.y, epochs)

        self.effect_label.setText("Measuring on your rows…")
        self.measure_button.setEnabled(False)
        self.task = self.ctx.runner.run(
            work, on_success=self.effect_label.setText,
            on_failure=lambda message: self.effect_label.setText(f"Could not measure: {message}"),
            on_finished=lambda: self.measure_button.setEnabled(True))

    # -- step 4: encryption --------------------------------------------------------

    def start_encryption(self) -> None:
        if self.trained is None or self.prepared is None:
            return
        prepared = self.prepared
        choice, epochs = self.privacy_choice(), self.epochs.value()
        row_level = choice.mode == "row"
        if not row_level:
            try:  # the spec's caps and the privacy budget (fast: one vector operation)
                self.update = prepared.privatise(choice.user_noise())
            except user_errors() as exc:
                self.banner.error(str(exc))
                return
        self.go(3)
        self.banner.clear()
        self.retry_encrypt.hide()
        self.encrypt_busy.start("Training with noise on each row, then encrypting…" if row_level
                                else "Encrypting your update…", 0)

        def work(c: Any) -> bytes:
            if row_level:  # DP-SGD: the noise is part of training, so it trains again here
                assert prepared.spec is not None and prepared.dataset is not None
                config = choice.dp_sgd(prepared.spec, prepared.dataset.n_rows, epochs)
                prepared.train(epochs, dp_sgd=config, should_stop=c.should_stop,
                               progress=lambda _s, f, text: c.progress(round(f * 1000), 1000, text))
                self.update = prepared.privatise(0.0)
            return prepared.encrypt(
                progress=lambda _step, f, text: c.progress(round(f * 1000), 1000, text),
                should_stop=c.should_stop)

        self.task = self.ctx.runner.run(
            work,
            on_progress=self.encrypt_busy.update_progress, on_success=self._encrypted,
            on_failure=self._encrypt_failed, background=True,
            on_cancelled=lambda: self._encrypt_failed("Encryption cancelled; nothing was sent."))

    def _encrypted(self, blob: bytes) -> None:
        self.blob = blob
        self.encrypt_busy.finish("Encrypted.")
        prepared, update = self.prepared, self.update
        assert prepared is not None and update is not None
        eps = "∞ (no noise)" if math.isinf(update.epsilon) else f"{update.epsilon:.2f}"
        spec = prepared.spec
        where = html.escape(spec.inbox_url) if spec.inbox_url else \
            "a file on this computer that the practitioner reads"
        self.review.setText(
            f"<h3>Review</h3><table cellspacing='4'>"
            f"<tr><td>Bounty</td><td>{prepared.bounty.id} · {html.escape(spec.title)}</td></tr>"
            f"<tr><td>Round</td><td>{prepared.bounty.current_round + 1}</td></tr>"
            f"<tr><td>From</td><td>{self.account}</td></tr>"
            f"<tr><td>Trained on</td><td>{update.n_samples} rows (the count is not sent)</td></tr>"
            f"<tr><td>Privacy</td><td>{self._privacy_review(update, eps)}</td></tr>"
            f"<tr><td>Encrypted update</td><td>{len(blob):,} bytes, hash "
            f"<code>{(prepared.blob_hash or '')[:18]}…</code>, key {spec.key_fingerprint_short}</td></tr>"
            f"<tr><td>Goes to</td><td>{where}</td></tr>"
            + ("<tr><td>Opened</td><td>once the validation set is revealed, this round's other "
               "contributors see each counted update, yours too, so that everyone can check every "
               "value</td></tr>" if spec.open_updates else "")
            + "</table><p>Only the encrypted update and its hash leave this computer; your files do not.</p>")
        self.go(4)

    @staticmethod
    def _privacy_review(update: Any, eps: str) -> str:
        from wallet.privacy_choice import MECHANISM

        if update.mechanism == MECHANISM["row"]:
            return f"each row protected (DP-SGD, noise multiplier {update.noise_multiplier:.2f}): ε = {eps}"
        if update.mechanism == MECHANISM["dataset"]:
            return (f"whole dataset protected (noise multiplier {update.noise_multiplier:.2f}): "
                    f"ε = {eps}")
        return "no noise (ε = ∞)"

    def _encrypt_failed(self, message: str) -> None:
        self.encrypt_busy.hide()
        self.retry_encrypt.show()
        self.banner.error(message)

    # -- step 5: submit ------------------------------------------------------------

    def submit(self) -> None:
        prepared, blob, vault = self.prepared, self.blob, self.ctx.vault
        client = network_link.bounty_client(self.ctx)
        if prepared is None or blob is None or client is None or self.account is None:
            return
        if vault is None or not vault.is_unlocked:
            self.banner.error("Unlock the wallet to submit.")
            return
        from wallet.bounties import StaleRound
        from wallet.history import round_title

        account, gasless = self.account, self.gasless.isChecked()
        blob_dir, outbox_dir = self.ctx.home / "blobs", self.ctx.home / "outbox"
        bounty_id = prepared.bounty_id
        self.banner.clear()
        self.submit_button.setEnabled(False)
        self.submit_busy.start("Committing on chain, then uploading…", 0)

        def work(c: Any) -> dict[str, Any]:
            signer = vault.signer(account)
            try:
                # for the round it was built for; kept at home, committed on chain, then uploaded
                result = prepared.submit(signer, gasless=gasless, blob_dir=blob_dir,
                                         outbox_dir=outbox_dir, should_stop=c.should_stop, refuse_repeat=True,
                                         refuse_open_without_noise=True)
            except StaleRound as exc:  # the page offers to train again for the current round
                return {"bounty_id": bounty_id, "current_round": exc.current, "stale": (
                    f"This update was built for {round_title(exc.built_for, exc.rounds).lower()}, which "
                    f"has closed; {round_title(exc.current, exc.rounds).lower()} is open now. Nothing "
                    "was sent. Train again on the current round's model.")}
            return {"bounty_id": bounty_id, "blob_hash": result.blob_hash, "uri": result.uri,
                    "tx_hash": result.tx_hash, "upload_error": result.upload_error}

        self.task = self.ctx.runner.run(
            work, on_success=self._submitted, on_failure=self._submit_failed,
            on_cancelled=lambda: self._submit_failed("Cancelled before submitting."))

    def _submitted(self, result: dict[str, Any]) -> None:
        if result.get("stale"):
            self.submit_busy.hide()
            self.submit_button.hide()
            self.blob = None  # built for a closed round: never to be sent
            bounty = self.prepared.bounty if self.prepared is not None else None
            rounds = bounty.rounds if bounty is not None else 0
            self.retrain_button.setText(f"Train again for round {result['current_round'] + 1}"
                                        + (f" of {rounds}" if rounds else ""))
            self.retrain_button.show()
            self.banner.error(result["stale"])
            return
        self.result = result
        self.submit_button.hide()
        self.gasless.setEnabled(False)  # sent: the choice is made
        self.done_button.show()
        self.blob = None
        if result.get("upload_error"):
            from wallet.outbox import upload_window_text

            self.submit_busy.finish("Committed on chain; not uploaded yet.")
            self.retry_upload_button.show()
            self.banner.warning(
                f"Submitted to bounty {result['bounty_id']} in transaction {result['tx_hash']}, but "
                f"the upload failed ({result['upload_error'].rstrip('.')}). The encrypted update is "
                "kept on this computer: the app retries it every minute while it runs, and Retry "
                f"upload sends it now ({upload_window_text()}).")
        else:
            self.submit_busy.finish("Submitted.")
            self.banner.success(f"Submitted to bounty {result['bounty_id']} in transaction "
                                f"{result['tx_hash']}. Rewards appear once the round is scored.")
        self.submitted.emit(result)
        self.ctx.events.notify("submitted")

    def retry_upload(self) -> None:
        client = network_link.bounty_client(self.ctx)
        if client is None:
            self.banner.error("Not connected to a network yet.")
            return
        from wallet.outbox import Outbox, retry_uploads

        outbox_dir = self.ctx.home / "outbox"
        self.retry_upload_button.setEnabled(False)
        self.submit_busy.start("Uploading…", 0)
        self.task = self.ctx.runner.run(
            lambda _c: retry_uploads(client, Outbox(outbox_dir)), on_success=self._retried,
            on_failure=self._retry_failed)

    def _retried(self, results: list[Any]) -> None:
        failed = [r for r in results if r.outcome == "failed"]
        self.retry_upload_button.setEnabled(True)
        if failed:
            self.submit_busy.hide()
            self.banner.warning(f"Still not uploaded: {failed[0].message} Try again later.")
            return
        self.submit_busy.finish("Uploaded.")
        self.retry_upload_button.hide()
        self.banner.success("Uploaded: the practitioner has your encrypted update.")

    def _retry_failed(self, message: str) -> None:
        self.submit_busy.hide()
        self.retry_upload_button.setEnabled(True)
        self.banner.error(message)

    def retrain(self) -> None:
        """The round moved on while this update was built: fetch the current round's model and
        go back to training with the same files (their schema check is redone too)."""
        client = network_link.bounty_client(self.ctx)
        if client is None or self.details is None:
            return
        contribution = self._new_contribution(client)
        files = list(self.files)
        self.retrain_button.setEnabled(False)
        self.submit_busy.start("Fetching the current round's model…", 0)
        self.task = self.ctx.runner.run(
            lambda c: contribution.prepare(files, should_stop=c.should_stop,
                                           choices=self._choices()),  # the mapping checked before
            on_success=self._ready_to_retrain, on_failure=self._retry_failed,
            on_finished=lambda: self.retrain_button.setEnabled(True))

    def _ready_to_retrain(self, prepared: Contribution) -> None:
        self.prepared = prepared
        self.trained = self.update = self.blob = None
        self.submit_busy.hide()
        self.retrain_button.hide()
        self.submit_button.show()
        self.submit_button.setEnabled(True)
        self.chart.clear_points()
        self.train_result.clear()
        self.to_privacy.setEnabled(False)
        self.train_button.setEnabled(True)
        self.go(1)
        self.banner.info(f"Round {prepared.bounty.current_round + 1} of {prepared.bounty.rounds} "
                         "is open: train again on its model.")

    def _submit_failed(self, message: str) -> None:
        self.submit_busy.hide()
        self.submit_button.setEnabled(True)
        self.banner.error(message)
