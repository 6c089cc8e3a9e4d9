"""Dialogs that hold secrets (password prompts, the revealed phrase); all close on lock."""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ui.main_window import SECRET_PROPERTY
from ui.widgets import Banner, muted_label


def close_dialog(dialog: QDialog) -> None:
    """Accept a dialog a task finished for, unless the lock already closed (and deleted) it."""
    if shiboken6.isValid(dialog) and dialog.isVisible():
        dialog.accept()


class SecretDialog(QDialog):
    """A window-modal dialog, opened with open() (never exec(), which would nest event loops)."""

    def __init__(self, parent: QWidget | None, title: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setProperty(SECRET_PROPERTY, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(420)
        self.banner = Banner()
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.banner)

    def set_busy(self, busy: bool) -> None:
        """Dialogs that submit to a task disable their inputs while it runs."""

    def failed(self, message: str) -> None:
        """The task it submitted to failed: inputs back, and the message shown."""
        if not shiboken6.isValid(self):
            return  # closed by the lock meanwhile
        self.set_busy(False)
        self.show_error(message)

    def show_error(self, message: str) -> None:
        self.banner.error(message)
        self.adjustSize()  # the banner's wrapped lines need the height


def password_field(name: str) -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setAccessibleName(name)
    return field


class PasswordDialog(SecretDialog):
    """Asks for the wallet password (and optionally a new one); calls on_submit(values)."""

    def __init__(self, parent: QWidget | None, title: str, note: str,
                 on_submit: Callable[[PasswordDialog], None], *, new_password: bool = False,
                 ok_text: str = "OK") -> None:
        super().__init__(parent, title)
        self.on_submit = on_submit
        self.layout_.addWidget(muted_label(note))
        form = QFormLayout()
        self.password = password_field("Wallet password")
        form.addRow("Password", self.password)
        self.new_password: QLineEdit | None = None
        self.confirmation: QLineEdit | None = None
        if new_password:
            self.new_password = password_field("New password")
            self.confirmation = password_field("Repeat the new password")
            form.addRow("New password", self.new_password)
            form.addRow("Repeat", self.confirmation)
        self.layout_.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setAccessibleName(ok_text)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)

    def _submit(self) -> None:
        if not self.password.text():
            self.show_error("Enter your password.")
            return
        self.set_busy(True)
        self.on_submit(self)

    def set_busy(self, busy: bool) -> None:
        self.ok_button.setEnabled(not busy)
        self.password.setEnabled(not busy)



class MnemonicDialog(SecretDialog):
    """Shows the recovery phrase the person asked to see."""

    def __init__(self, parent: QWidget | None, phrase: str) -> None:
        super().__init__(parent, "Recovery phrase")
        self.layout_.addWidget(muted_label(
            "Anyone who sees these words can take your funds. Close this window when done."))
        words = phrase.split()
        self.phrase_label = QLabel("\n".join(
            "   ".join(f"{i + 1:>2}. {w}" for i, w in list(enumerate(words))[row:row + 3])
            for row in range(0, len(words), 3)))
        self.phrase_label.setObjectName("Mnemonic")
        self.phrase_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.phrase_label.setAccessibleName("Recovery phrase words")
        self.layout_.addWidget(self.phrase_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def done(self, result: int) -> None:
        self.phrase_label.clear()  # do not leave the phrase in a hidden widget
        super().done(result)


class InvitationCodeDialog(SecretDialog):
    """Asks for the invitation code a practitioner gave (a secret until redeemed: whoever holds
    it can join once); calls on_submit(dialog), or on_file() for an invitation file instead."""

    def __init__(self, parent: QWidget | None, bounty_id: int, on_submit: Callable[[InvitationCodeDialog], None],
                 on_file: Callable[[], None]) -> None:
        super().__init__(parent, f"Invitation to bounty {bounty_id}")
        self.on_submit = on_submit
        self.on_file = on_file
        self.layout_.addWidget(muted_label(
            "Enter the invitation code the practitioner gave you. Quarry sends it with your address "
            "to the practitioner's inbox, which answers with your invitation; Quarry checks it and "
            "keeps it. If the practitioner sent you a file instead, choose the file."))
        form = QFormLayout()
        self.code = QLineEdit()
        self.code.setAccessibleName("Invitation code")
        self.code.setPlaceholderText("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")
        form.addRow("Code", self.code)
        self.layout_.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Redeem code")
        self.ok_button.setAccessibleName("Redeem code")
        self.file_button = self.buttons.addButton("Choose a file instead…", QDialogButtonBox.ButtonRole.ActionRole)
        self.file_button.setAccessibleName("Choose an invitation file instead")
        self.file_button.clicked.connect(self._choose_file)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)

    def _submit(self) -> None:
        from wallet.errors import InvalidInput
        from wallet.invitations import normalize_code

        try:
            normalize_code(self.code.text())
        except InvalidInput as exc:
            self.show_error(str(exc))
            return
        self.set_busy(True)
        self.on_submit(self)

    def _choose_file(self) -> None:
        self.reject()
        self.on_file()

    def set_busy(self, busy: bool) -> None:
        for widget in (self.ok_button, self.file_button, self.code):
            widget.setEnabled(not busy)
