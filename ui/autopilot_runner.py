"""The running app's autopilot: standing contributions passes in the background, a tray icon
and notifications ("Submitted to round 3 of Wine cultivar"; "Earned 12 QDT from …").

A QTimer starts one pass at a time on the task runner (never on the GUI thread); the pass is
wallet.autopilot's, the same `quarry autopilot` runs headless. While the wallet is locked
the pass still runs: a standing contribution whose round is open then waits for the unlock
(the autopilot asks `signer_for`, which answers None while locked).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from ui import network_link, theme

if TYPE_CHECKING:
    from ui.context import AppContext

log = logging.getLogger(__name__)

PASS_INTERVAL_MS = 60_000
FIRST_PASS_MS = 5_000  # after start: let the window and the network come up first
MAX_NOTES = 50


class AutopilotRunner(QObject):
    """Owns the pass timer and the tray icon; `notes` keeps what was announced (newest last)."""

    passed = Signal(object)  # wallet.autopilot.PassReport, on the GUI thread
    notified = Signal(str)

    def __init__(self, ctx: AppContext, parent: QObject | None = None,
                 interval_ms: int = PASS_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.ctx = ctx
        ctx.extras["autopilot"] = self
        self.notes: list[str] = []
        self.task: Any = None
        self.passes = 0
        self.last_error: str | None = None
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(theme.icon("quarry", None, 32), self)
            self.tray.setToolTip("Quarry")
            self.tray.show()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.run_pass)
        self.timer.start()
        QTimer.singleShot(FIRST_PASS_MS, self.run_pass)

    def stop(self) -> None:
        self.timer.stop()
        if self.task is not None and self.task.running:
            self.task.cancel()
        if self.tray is not None:
            self.tray.hide()

    def run_pass(self) -> bool:
        """Start a pass unless one is running or nothing can run yet; True when started."""
        if self.task is not None and self.task.running:
            return False
        client = network_link.bounty_client(self.ctx)
        if client is None:
            return False
        from wallet.autopilot import ACTIVE, list_standing
        from wallet.errors import QuarryError

        try:  # one small local query: what there is to do
            standing = list_standing(self.ctx.store, client.network, client.board_address)
        except QuarryError:  # the store closed with the window
            return False
        from wallet.outbox import Outbox

        if not any(s.status == ACTIVE or s.rounds_done for s in standing) \
                and not Outbox(self.ctx.home / "outbox").pending():
            return False  # nothing to do: no work started, nothing imported, no upload waiting
        ctx = self.ctx

        def signer_for(account: str) -> Any:
            vault = ctx.vault
            if vault is None or not vault.is_unlocked:
                return None
            from wallet.errors import QuarryError

            try:
                return vault.signer(account)
            except QuarryError:  # locked meanwhile, or not an account of this wallet
                return None

        def work(c: Any) -> Any:
            from wallet.autopilot import Autopilot

            pilot = Autopilot(ctx.store, client, home=ctx.home, signer_for=signer_for,
                              sync_lock=ctx.sync_lock)
            return pilot.run_pass(c.should_stop)

        self.task = self.ctx.runner.run(work, on_success=self._passed, on_failure=self._failed)
        return True

    def _passed(self, report: Any) -> None:
        self.passes += 1
        self.last_error = None
        for message in report.notifications():
            self.notify(message)
        if report.outcomes:
            self.ctx.events.notify("standing")
        self.passed.emit(report)

    def _failed(self, message: str) -> None:
        # the node went away, say: said on the Standing page; the next pass tries again
        self.passes += 1
        self.last_error = message
        self.ctx.events.notify("standing")

    def notify(self, message: str) -> None:
        self.notes.append(message)
        del self.notes[:-MAX_NOTES]
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage("Quarry", message, QSystemTrayIcon.MessageIcon.Information, 8_000)
        self.notified.emit(message)
