"""Settings: network, auto-lock, keyring, backups, recovery phrase, password, theme."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui import network_link, theme
from ui.context import UI_THEME
from ui.dialogs import MnemonicDialog, PasswordDialog, close_dialog
from ui.onboarding_steps import check_new_password
from ui.pages.base import Page
from ui.widgets import button, left, muted_label
from wallet import remember
from wallet.errors import QuarryError

if TYPE_CHECKING:
    from ui.context import AppContext

AUTO_LOCK_KEY = "auto_lock_minutes"


class SettingsPage(Page):
    title = "Settings"
    icon_name = "settings"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.dialog: Any = None
        self.keyring_status: Any = None
        content = QWidget()
        content.setMaximumWidth(820)
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 8, 0)
        column.addWidget(self._network_group())
        column.addWidget(self._security_group())
        column.addWidget(self._backup_group())
        column.addWidget(self._privacy_group())
        column.addWidget(self._appearance_group())
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)
        self.body.addWidget(scroll)

    # -- groups -----------------------------------------------------------------------

    def _network_group(self) -> QGroupBox:
        group = QGroupBox("Network")
        form = QFormLayout(group)
        self.network_choice = QComboBox()
        self.network_choice.setAccessibleName("Network")
        self.network_choice.addItem("Embedded network (on this computer)", network_link.EMBEDDED)
        self.network_choice.addItem("Ethereum JSON-RPC URL", "rpc")
        self.rpc_url = QLineEdit()
        self.rpc_url.setPlaceholderText("http://127.0.0.1:8545")
        self.rpc_url.setAccessibleName("RPC URL")
        self.chain_id = QSpinBox()
        self.chain_id.setRange(1, 2**31 - 1)
        self.chain_id.setValue(31337)
        self.chain_id.setAccessibleName("Expected chain id")
        self.network_apply = button("Connect", "network", on_click=self.apply_network)
        self.network_state = muted_label()
        form.addRow("Network", self.network_choice)
        form.addRow("RPC URL", self.rpc_url)
        form.addRow("Chain id", left(self.chain_id))
        form.addRow("", left(self.network_apply))
        form.addRow("Status", self.network_state)
        self.network_choice.currentIndexChanged.connect(self._network_choice_changed)
        self.ctx.network.changed.connect(lambda _s, text: self.network_state.setText(text))
        self.network_state.setText(self.ctx.network.text)
        return group

    def _security_group(self) -> QGroupBox:
        group = QGroupBox("Security")
        form = QFormLayout(group)
        self.auto_lock = QSpinBox()
        self.auto_lock.setRange(0, 24 * 60)
        self.auto_lock.setSuffix(" min")
        self.auto_lock.setSpecialValueText("Never")
        self.auto_lock.setAccessibleName("Lock after minutes of inactivity")
        self.auto_lock.valueChanged.connect(self.set_auto_lock)
        self.remember_box = QCheckBox("Remember the password on this computer")
        self.remember_box.setAccessibleName("Remember the password on this computer")
        self.remember_box.toggled.connect(self._remember_toggled)
        self.keyring_note = muted_label()
        self.change_password_button = button("Change password…", "key",
                                             on_click=self.ask_change_password)
        form.addRow("Auto-lock", left(self.auto_lock))
        form.addRow("Keyring", self.remember_box)
        form.addRow("", self.keyring_note)
        form.addRow("Password", left(self.change_password_button))
        return group

    def _backup_group(self) -> QGroupBox:
        group = QGroupBox("Backups")
        form = QFormLayout(group)
        self.export_account = QComboBox()
        self.export_account.setAccessibleName("Account to export")
        self.export_button = button("Export keystore file…", "export",
                                    on_click=self.ask_export)
        row = QHBoxLayout()
        row.addWidget(self.export_account, 1)
        row.addWidget(self.export_button)
        self.reveal_button = button("Show recovery phrase…", "eye", on_click=self.ask_reveal)
        form.addRow("Account backup", row)
        form.addRow("", muted_label("A keystore v3 file, encrypted with your wallet password; "
                                    "MetaMask, geth and other wallets import it."))
        form.addRow("Recovery phrase", left(self.reveal_button))
        return group

    def _privacy_group(self) -> QGroupBox:
        group = QGroupBox("Privacy budget")
        form = QFormLayout(group)
        self.ceiling_box = QCheckBox("Refuse a contribution that would take a data file past")
        self.ceiling_box.setAccessibleName("Limit the privacy loss of each data file")
        self.ceiling_value = QDoubleSpinBox()
        self.ceiling_value.setRange(0.1, 1000.0)
        self.ceiling_value.setDecimals(1)
        self.ceiling_value.setSingleStep(0.5)
        self.ceiling_value.setValue(10.0)
        self.ceiling_value.setPrefix("ε = ")
        self.ceiling_value.setAccessibleName("Privacy ceiling epsilon")
        self.ceiling_box.toggled.connect(self._ceiling_changed)
        self.ceiling_value.valueChanged.connect(self._ceiling_changed)
        row = QHBoxLayout()
        row.addWidget(self.ceiling_box)
        row.addWidget(self.ceiling_value)
        row.addStretch(1)
        self.privacy_spent = muted_label()
        self.privacy_spent.setAccessibleName("Privacy spent per data file")
        self.privacy_export = button("Export privacy ledger CSV…", "export",
                                     on_click=self.export_privacy_csv)
        form.addRow("Ceiling", row)
        form.addRow("Spent", self.privacy_spent)
        form.addRow("", left(self.privacy_export))
        form.addRow("", muted_label("Every contribution's privacy loss, composed per data file by "
                                    "the accountant (δ = 1e-5), for any one row of that file."))
        return group

    def _ceiling_changed(self, *_args: Any) -> None:
        from wallet.privacy_budget import PrivacyBudget

        self.ceiling_value.setEnabled(self.ceiling_box.isChecked())
        if getattr(self, "_loading", False):
            return
        PrivacyBudget(self.ctx.store).set_ceiling(
            float(self.ceiling_value.value()) if self.ceiling_box.isChecked() else None)

    def _show_privacy(self) -> None:
        from wallet.privacy_budget import PrivacyBudget, format_epsilon

        budget = PrivacyBudget(self.ctx.store)
        ceiling = budget.ceiling()
        self.ceiling_box.setChecked(ceiling is not None)
        if ceiling is not None:
            self.ceiling_value.setValue(ceiling)
        self.ceiling_value.setEnabled(ceiling is not None)
        files = budget.files()
        self.privacy_spent.setText("\n".join(
            f"{f['file_name']}: ε = {format_epsilon(f['spent'])} in {f['contributions']} contribution(s)"
            for f in files[:8]) or "Nothing sent yet.")

    def export_privacy_csv(self) -> None:
        from common.atomic import atomic_write_text
        from wallet.privacy_budget import PrivacyBudget, privacy_csv

        path, _ = QFileDialog.getSaveFileName(self, "Export the privacy ledger",
                                              str(Path.home() / "quarry-privacy.csv"), "CSV (*.csv)")
        if path:
            atomic_write_text(path, privacy_csv(PrivacyBudget(self.ctx.store)), mode=0o644)

    def _appearance_group(self) -> QGroupBox:
        group = QGroupBox("Appearance")
        form = QFormLayout(group)
        self.theme_choice = QComboBox()
        self.theme_choice.setAccessibleName("Theme")
        self.theme_choice.addItem("Light", "light")
        self.theme_choice.addItem("Dark", "dark")
        self.theme_choice.currentIndexChanged.connect(self._theme_changed)
        form.addRow("Theme", left(self.theme_choice))
        form.addRow("", muted_label("Ctrl+1…4 switch pages, Ctrl+L locks, Ctrl+Q quits."))
        return group

    # -- refresh ----------------------------------------------------------------------

    def refresh(self) -> None:
        self._loading = True
        try:
            minutes = self.ctx.setting(AUTO_LOCK_KEY, 15)
            self.auto_lock.setValue(int(minutes or 0))
            self._show_privacy()
            home = self.ctx.home
            self.ctx.runner.run(lambda _c: (remember.keyring_status(), remember.is_remembered(home)),
                                on_success=self.latest_only("keyring", self._show_keyring))
            name = str(self.ctx.setting(UI_THEME, "light"))
            self.theme_choice.setCurrentIndex(max(0, self.theme_choice.findData(name)))
            selected = network_link.selected_network(self.ctx)
            if selected.is_embedded:
                self.network_choice.setCurrentIndex(0)
            else:
                self.network_choice.setCurrentIndex(1)
                self.rpc_url.setText(selected.rpc_url)
                self.chain_id.setValue(int(selected.chain_id))
            self._network_choice_changed()
            self._fill_accounts()
            vault = self.ctx.vault
            self.reveal_button.setEnabled(bool(vault is not None and vault.has_mnemonic))
        finally:
            self._loading = False

    def _show_keyring(self, found: tuple[Any, bool]) -> None:
        status, remembered = found
        self._loading = True
        try:
            self.keyring_status = status
            self.remember_box.setEnabled(status.available and self.ctx.vault is not None)
            self.remember_box.setChecked(remembered)
            self.keyring_note.setText(status.message)
        finally:
            self._loading = False

    def _fill_accounts(self) -> None:
        current = self.export_account.currentData()
        self.export_account.clear()
        vault = self.ctx.vault
        if vault is None:
            return
        for info in vault.accounts():
            self.export_account.addItem(f"{info.label} · {info.address}", info.address)
        index = self.export_account.findData(current)
        if index >= 0:
            self.export_account.setCurrentIndex(index)

    # -- actions ----------------------------------------------------------------------

    def _network_choice_changed(self, *_args: Any) -> None:
        rpc = self.network_choice.currentData() == "rpc"
        self.rpc_url.setEnabled(rpc)
        self.chain_id.setEnabled(rpc)

    def apply_network(self) -> None:
        self.banner.clear()
        if self.network_choice.currentData() == network_link.EMBEDDED:
            network_link.use(self.ctx, network_link.EMBEDDED, on_failure=self.banner.error)
        else:
            network_link.use(self.ctx, self.rpc_url.text().strip(), self.chain_id.value(),
                             on_failure=self.banner.error)

    def set_auto_lock(self, minutes: int) -> None:
        if getattr(self, "_loading", False):
            return
        self.ctx.set_setting(AUTO_LOCK_KEY, int(minutes))

    def _theme_changed(self, *_args: Any) -> None:
        if getattr(self, "_loading", False):
            return
        name = self.theme_choice.currentData()
        self.ctx.set_setting(UI_THEME, name)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
            theme.retint()

    def _remember_toggled(self, checked: bool) -> None:
        if getattr(self, "_loading", False):
            return
        if not checked:
            home = self.ctx.home
            self.ctx.runner.run(
                lambda _c: remember.forget_password(home),
                on_success=lambda _r: self.banner.success(
                    "Quarry no longer remembers your password."),
                on_failure=self.banner.error, on_finished=self.refresh)
            return
        # Remembering needs the password, checked against the wallet first.
        def submit(dialog: PasswordDialog) -> None:
            password = dialog.password.text()
            vault, home = self.ctx.vault, self.ctx.home

            def work(_c: Any) -> None:
                vault.unlock(password)  # checks the password before it goes to the keyring
                remember.remember_password(home, password)
            self.ctx.runner.run(work, on_success=lambda _r: self._remembered(dialog),
                                on_failure=dialog.failed)

        self.dialog = PasswordDialog(self, "Remember the password",
                                     "Enter your wallet password to keep it in "
                                     f"{getattr(self.keyring_status, 'backend_name', 'the keyring')}.",
                                     submit, ok_text="Remember")
        self.dialog.rejected.connect(self.request_refresh_now)
        self.dialog.open()

    def _remembered(self, dialog: PasswordDialog) -> None:
        close_dialog(dialog)
        self.banner.success("Your password is remembered on this computer.")
        self.request_refresh_now()

    def request_refresh_now(self) -> None:
        self.refresh()

    def ask_export(self) -> None:
        address = self.export_account.currentData()
        if not address:
            self.banner.error("There is no account to export.")
            return
        path, _f = QFileDialog.getSaveFileName(self, "Save keystore file",
                                               str(Path.home() / f"{address}.json"),
                                               "Keystore (*.json)")
        if not path:
            return
        vault = self.ctx.vault

        def submit(dialog: PasswordDialog) -> None:
            password = dialog.password.text()
            self.ctx.runner.run(lambda _c: vault.export_keystore(address, password, path),
                                on_success=lambda p: self._exported(dialog, p),
                                on_failure=dialog.failed)

        self.dialog = PasswordDialog(self, "Export keystore file",
                                     f"The file is encrypted with your wallet password.\n{path}",
                                     submit, ok_text="Export")
        self.dialog.open()

    def _exported(self, dialog: PasswordDialog, path: Any) -> None:
        close_dialog(dialog)
        self.banner.success(f"Saved the keystore file to {path}.")

    def ask_reveal(self) -> None:
        vault = self.ctx.vault

        def submit(dialog: PasswordDialog) -> None:
            password = dialog.password.text()
            self.ctx.runner.run(lambda _c: vault.reveal_mnemonic(password),
                                on_success=lambda phrase: self._reveal(dialog, phrase),
                                on_failure=dialog.failed)

        self.dialog = PasswordDialog(self, "Show recovery phrase",
                                     "Make sure nobody can see your screen.", submit,
                                     ok_text="Show")
        self.dialog.open()

    def _reveal(self, dialog: PasswordDialog, phrase: str) -> None:
        if not (shiboken6.isValid(dialog) and dialog.isVisible()):
            return  # the wallet locked while the password was checked: show nothing
        close_dialog(dialog)
        self.dialog = MnemonicDialog(self, phrase)
        self.dialog.open()

    def ask_change_password(self) -> None:
        vault = self.ctx.vault

        def submit(dialog: PasswordDialog) -> None:
            assert dialog.new_password is not None and dialog.confirmation is not None
            old, new = dialog.password.text(), dialog.new_password.text()
            try:
                check_new_password(new, dialog.confirmation.text())
            except QuarryError as exc:
                dialog.failed(str(exc))
                return
            self.ctx.runner.run(lambda _c: vault.change_password(old, new),
                                on_success=lambda _r: self._password_changed(dialog),
                                on_failure=dialog.failed)

        self.dialog = PasswordDialog(self, "Change password",
                                     "Every key file is re-encrypted with the new password.",
                                     submit, new_password=True, ok_text="Change password")
        self.dialog.open()

    def _password_changed(self, dialog: PasswordDialog) -> None:
        close_dialog(dialog)
        self.banner.success("Your password was changed.")

    def on_locked(self) -> None:
        self.dialog = None
