"""Standing contributions: the list (last run, next round, earnings, status and reason) with
Pause / Resume / Stop, and the "Keep contributing" dialog the Bounties page opens.

The work is wallet.autopilot's (the passes run in ui/autopilot_runner.py); this page reads
the store and shows it. Token amounts are formatted in a worker (a token's symbol and
decimals come from its contract).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ui import network_link
from ui.pages.base import Page
from ui.widgets import Banner, button, muted_label

if TYPE_CHECKING:
    from ui.context import AppContext

COLUMNS = ("Bounty", "Status", "Rounds", "Last run", "Next", "Earned")


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%d %b %H:%M") if timestamp else "not yet"


class StandingPage(Page):
    title = "Standing"
    icon_name = "refresh"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.rows: list[Any] = []
        self.body.addWidget(muted_label(
            "Bounties this wallet keeps contributing to, round after round, from the files or folder "
            "you chose (Bounties › Keep contributing). It trains and submits while Quarry runs and the "
            "wallet is unlocked; 'quarry autopilot' does the same without a desktop."))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Standing contributions")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.pause_button = button("Pause", on_click=lambda: self._set_status("paused"))
        self.resume_button = button("Resume", "refresh", on_click=lambda: self._set_status("active"))
        self.stop_button = button("Stop", "close", on_click=lambda: self._set_status("stopped"))
        self.run_button = button("Run a pass now", "train", on_click=self.run_now)
        row = QHBoxLayout()
        for widget in (self.pause_button, self.resume_button, self.stop_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.run_button)
        self.detail = QTextBrowser()
        self.detail.setAccessibleName("Standing contribution details")
        self.detail.setMaximumHeight(220)
        self.body.addWidget(self.table, 1)
        self.body.addLayout(row)
        self.body.addWidget(self.detail)
        self._selection_changed()

    # -- data -------------------------------------------------------------------------

    def refresh(self) -> None:
        client = network_link.bounty_client(self.ctx)
        store = self.ctx.store

        def work(_c: Any) -> list[tuple[Any, str]]:
            from wallet.autopilot import list_standing

            rows = list_standing(store) if client is None else list_standing(store, client.network,
                                                                              client.board_address)
            shown = []
            for s in rows:
                earned = "-"
                if s.earned and s.token and client is not None:
                    earned = client.token(s.token).amount(s.earned, 4)
                shown.append((s, earned))
            return shown

        self.ctx.runner.run(work, on_success=self.latest_only("standing", self._show),
                            on_failure=self.banner.error)

    def _show(self, rows: list[tuple[Any, str]]) -> None:
        selected = self.selected()
        self.rows = [s for s, _ in rows]
        self.table.setRowCount(len(rows))
        for index, (s, earned) in enumerate(rows):
            status = s.status + (f": {s.reason}" if s.reason else "")
            cells = (f"{s.bounty_id} · {s.title}", status, s.rounds_text, _when(s.last_run),
                     s.next_note if s.status == "active" else "-", earned)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # titles and reasons can be long
                self.table.setItem(index, column, item)
        if selected is not None:
            for index, s in enumerate(self.rows):
                if s.id == selected.id:
                    self.table.selectRow(index)
        runner = self.ctx.extras.get("autopilot")
        if runner is not None and runner.last_error:
            self.banner.warning(f"The last pass failed: {runner.last_error} It runs again in a minute.")
        self._selection_changed()

    def selected(self) -> Any:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def _selection_changed(self) -> None:
        s = self.selected()
        self.pause_button.setEnabled(s is not None and s.status == "active")
        self.resume_button.setEnabled(s is not None and s.status == "paused")
        self.stop_button.setEnabled(s is not None and s.status in ("active", "paused"))
        if s is None:
            self.detail.setHtml("<p>Select a standing contribution to see what it did.</p>"
                                if self.rows else "<p>No standing contributions yet.</p>")
            return
        from wallet.autopilot import conditions, power_source, privacy_text, standing_events
        from wallet.privacy_budget import PrivacyBudget

        vault = self.ctx.vault
        unlocked = bool(vault is not None and vault.is_unlocked)
        lines = [f"<b>{html.escape(s.title)}</b> (bounty {s.bounty_id}) from {html.escape(s.account)}",
                 "Data: " + html.escape(", ".join(s.sources)),
                 f"Privacy: {html.escape(privacy_text(s))}; at most {s.max_rounds} round(s)"]
        if s.reason:
            lines.append(f"<b>{html.escape(s.status.capitalize())}:</b> {html.escape(s.reason)}")
        lines += [f"{html.escape(name.capitalize())}: {html.escape(state)}"
                  for name, state in conditions(s, power=power_source(), unlocked=unlocked,
                                                budget_ceiling=PrivacyBudget(self.ctx.store).ceiling())]
        events = standing_events(self.ctx.store, s.id, limit=8)
        lines.append("<br><b>What it did</b>")
        lines += [f"{_when(e['at'])}: {html.escape(e['message'] or e['kind'])}" for e in events]
        self.detail.setHtml("<br>".join(lines))

    # -- actions ----------------------------------------------------------------------

    def _set_status(self, status: str) -> None:
        s = self.selected()
        if s is None:
            return
        from wallet.autopilot import set_status
        from wallet.errors import QuarryError

        reason = "" if status == "active" else "by hand"
        try:
            set_status(self.ctx.store, s.id, status, reason)
        except QuarryError as exc:
            self.banner.error(str(exc))
            return
        self.banner.clear()
        self.ctx.events.notify("standing")
        self.request_refresh()

    def run_now(self) -> None:
        runner = self.ctx.extras.get("autopilot")
        if runner is None or not runner.run_pass():
            self.banner.info("A pass is already running, or nothing is ready to run (no network "
                             "or no active standing contribution).")
            return
        self.banner.info("Running a pass in the background…")


class KeepContributingDialog(QDialog):
    """Bounty › Keep contributing: files or a folder, privacy, rounds and conditions."""

    def __init__(self, ctx: AppContext, details: Any, account: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.details, self.account = ctx, details, account
        self.sources: list[str] = []
        self.standing: Any = None
        spec = details.spec or {}
        self.title = str(spec.get("title") or f"bounty {details.bounty.id}")
        self.setWindowTitle("Keep contributing")
        self.banner = Banner()
        heading = QLabel(f"Keep contributing to: {self.title}")
        heading.setTextFormat(Qt.TextFormat.PlainText)  # a stranger's title
        heading.setObjectName("AppTitle")
        self.source_list = QListWidget()
        self.source_list.setAccessibleName("Chosen files or folder")
        self.source_list.setMaximumHeight(80)
        self.folder_button = button("Choose a folder…", "folder", on_click=self.choose_folder)
        self.files_button = button("Choose files…", "folder", on_click=self.choose_files)
        b = details.bounty
        remaining = max(b.rounds - b.current_round, 1)
        self.rounds = QSpinBox()
        self.rounds.setRange(1, max(remaining, 1))
        self.rounds.setValue(remaining)
        self.rounds.setAccessibleName("Maximum number of rounds")
        cap = (spec.get("privacy") or {}).get("max_noise_multiplier")
        self.privacy = QComboBox()
        self.privacy.setAccessibleName("Privacy mode")
        for text, mode in (("Protect each row (DP-SGD, recommended)", "row"),
                           ("Protect my whole dataset (noise on the update)", "dataset"),
                           ("No noise", "none")):
            self.privacy.addItem(text, mode)
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, float(cap) if cap is not None else 10.0)
        self.noise.setSingleStep(0.1)
        self.noise.setAccessibleName("Privacy noise multiplier")
        self.noise.setSpecialValueText("the wallet's default")  # 0: DP-SGD's default noise
        self.privacy.currentIndexChanged.connect(self._privacy_changed)
        self.mains_only = QCheckBox("Only on mains power (when this computer has a battery)")
        self.mains_only.setChecked(True)
        self.gasless = QCheckBox("Submit without paying gas (the bounty's inbox relays it)")
        self.gasless.setEnabled(bool(spec.get("inbox_url")))
        from wallet.autopilot import power_source
        from wallet.privacy_budget import PrivacyBudget

        power = power_source()
        notes = [f"Power now: {power}."]
        ceiling = PrivacyBudget(ctx.store).ceiling()
        notes.append(f"It pauses when a file's privacy budget (ε = {ceiling:g}) would be exceeded."
                     if ceiling is not None else
                     "No privacy budget ceiling is set (Settings): the rounds are not limited by it.")
        notes.append("Nothing is sent while the wallet is locked; each round's update is trained "
                     "on the files as they are then (new files in the folder that match the schema "
                     "are included).")
        form = QFormLayout()
        form.addRow("At most", self._with_suffix(self.rounds, f"round(s) of the {remaining} left"))
        form.addRow("Privacy", self.privacy)
        form.addRow("Noise multiplier", self.noise)
        sources = QHBoxLayout()
        sources.addWidget(self.folder_button)
        sources.addWidget(self.files_button)
        sources.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Keep contributing")
        self.save_button.setEnabled(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(heading)
        box.addWidget(self.banner)
        box.addWidget(QLabel("Your data"))
        box.addWidget(self.source_list)
        box.addLayout(sources)
        box.addLayout(form)
        box.addWidget(self.mains_only)
        box.addWidget(self.gasless)
        box.addWidget(muted_label(" ".join(notes)))
        box.addWidget(buttons)
        self.resize(580, 500)

    def _privacy_changed(self, *_args: Any) -> None:
        mode = self.privacy.currentData()
        self.noise.setEnabled(mode != "none")
        # dataset mode needs a multiplier of its own; for DP-SGD 0 means the wallet's default
        self.noise.setSpecialValueText("the wallet's default" if mode == "row" else "")
        if mode == "none":
            self.noise.setValue(0.0)

    @staticmethod
    def _with_suffix(widget: QWidget, text: str) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(widget)
        row.addWidget(QLabel(text))
        row.addStretch(1)
        return holder

    def set_sources(self, paths: list[str]) -> None:
        self.sources = [str(p) for p in paths]
        self.source_list.clear()
        self.source_list.addItems(self.sources)
        self.save_button.setEnabled(bool(self.sources))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder of your data", str(Path.home()))
        if folder:
            self.set_sources([folder])

    def choose_files(self) -> None:
        paths, _f = QFileDialog.getOpenFileNames(self, "Choose your data files", str(Path.home()),
                                                 "Data (*.csv *.npz);;All files (*)")
        if paths:
            self.set_sources(paths)

    def save(self) -> None:
        client = network_link.bounty_client(self.ctx)
        if client is None:
            self.banner.error("Not connected to a network yet.")
            return
        from wallet.autopilot import add_standing
        from wallet.errors import QuarryError

        try:  # local checks and one insert: fast enough for the GUI thread
            self.standing = add_standing(
                self.ctx.store, client.network, client.board_address, self.details.bounty.id,
                self.account, self.sources, title=self.title, privacy=self.privacy.currentData(),
                noise_multiplier=self.noise.value(),
                gasless=self.gasless.isChecked(), max_rounds=self.rounds.value(),
                mains_only=self.mains_only.isChecked())
        except QuarryError as exc:
            self.banner.error(str(exc))
            return
        self.ctx.events.notify("standing")
        runner = self.ctx.extras.get("autopilot")
        if runner is not None:
            runner.run_pass()  # the current round, if open, without waiting for the timer
        self.accept()
