"""Lock screen: unlock with the password, or with the one remembered in the OS keyring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QProgressBar, QVBoxLayout, QWidget

from ui import theme
from ui.widgets import Banner, button, card, muted_label, title_label
from wallet import remember

if TYPE_CHECKING:
    from ui.context import AppContext


class LockScreen(QWidget):
    unlocked = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.task = None
        self.setAccessibleName("Wallet locked")
        logo = QLabel()
        logo.setPixmap(theme.pixmap("lock", theme.colors().accent, 48))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner = Banner()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Password")
        self.password.setAccessibleName("Wallet password")
        self.password.returnPressed.connect(self.unlock_with_password)
        self.unlock_button = button("Unlock", "unlock", primary=True,
                                    on_click=self.unlock_with_password)
        self.remembered_button = button("Unlock with the saved password", "key",
                                        on_click=self.unlock_with_keyring)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Unlocking")
        self.busy.hide()
        heading = title_label("Quarry is locked")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        note = muted_label("Enter your password to open your wallet.")
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner = QWidget()
        box = QVBoxLayout(inner)
        box.addWidget(logo)
        box.addWidget(heading)
        box.addWidget(note)
        box.addSpacing(8)
        box.addWidget(self.password)
        box.addWidget(self.unlock_button)
        box.addWidget(self.remembered_button)
        box.addWidget(self.busy)
        panel = card(inner, margins=24)
        panel.setFixedWidth(380)
        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(self.banner)
        column.addWidget(panel)
        column.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column)
        outer.addStretch(1)

    def reset(self) -> None:
        self.password.clear()
        self.banner.clear()
        self._set_busy(False)
        self.remembered_button.hide()
        self._check_remembered()
        self.password.setFocus()

    def _check_remembered(self) -> None:
        # Keyring backends may talk to a daemon (D-Bus) or prompt: never on the GUI thread.
        home = self.ctx.home
        self.ctx.runner.run(lambda _c: remember.is_remembered(home),
                            on_success=lambda found: self.remembered_button.setVisible(
                                bool(found) and self.unlock_button.isEnabled()))

    def unlock_if_remembered(self) -> None:
        """At start: unlock quietly with a remembered password; else wait for the person."""
        vault, home = self.ctx.vault, self.ctx.home
        self._set_busy(True)

        def work(_ctx):
            return remember.recall_password(home) is not None and \
                remember.unlock_with_remembered(vault)

        def done(unlocked: object) -> None:
            self._set_busy(False)
            if unlocked:
                self._done(None)

        self.task = self.ctx.runner.run(work, on_success=done, on_failure=self._failed)

    def unlock_with_password(self) -> None:
        password = self.password.text()
        if not password:
            self.banner.error("Enter your password.")
            return
        vault = self.ctx.vault
        self._set_busy(True)
        self.task = self.ctx.runner.run(lambda _ctx: vault.unlock(password),
                                        on_success=self._done, on_failure=self._failed)

    def unlock_with_keyring(self) -> None:
        vault = self.ctx.vault
        self._set_busy(True)

        def work(_ctx):
            if not remember.unlock_with_remembered(vault):
                from wallet.errors import WrongPassword

                raise WrongPassword("The saved password no longer opens this wallet; "
                                    "enter your password.")
        self.task = self.ctx.runner.run(work, on_success=self._done, on_failure=self._failed)

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.unlock_button.setEnabled(not busy)
        self.remembered_button.setEnabled(not busy)
        self.password.setEnabled(not busy)

    def _done(self, _result: object) -> None:
        self._set_busy(False)
        self.password.clear()
        self.banner.clear()
        self.unlocked.emit()

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self._check_remembered()
        self.banner.error(message)
        self.password.selectAll()
        self.password.setFocus()
