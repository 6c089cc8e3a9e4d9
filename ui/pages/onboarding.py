"""Onboarding wizard: create (phrase, quiz, password) or import (phrase, keystore, key)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ui import onboarding_steps as steps
from ui.widgets import Banner, button, card, muted_label, password_strength, title_label
from wallet import remember
from wallet.errors import QuarryError

if TYPE_CHECKING:
    from ui.context import AppContext

IMPORT_METHODS = ("mnemonic", "keystore", "private_key")


class PasswordForm(QWidget):
    """Password + confirmation + a strength hint + the optional 'remember' checkbox."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("New password")
        self.password.setPlaceholderText("At least 8 characters")
        self.confirmation = QLineEdit()
        self.confirmation.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirmation.setAccessibleName("Repeat the password")
        self.strength = QProgressBar()
        self.strength.setRange(0, 4)
        self.strength.setTextVisible(False)
        self.strength.setMaximumHeight(8)
        self.strength.setAccessibleName("Password strength")
        self.hint = muted_label("")
        self.remember = QCheckBox("Remember the password on this computer")
        self.remember.setAccessibleName("Remember the password on this computer")
        self.keyring_note = muted_label("Looking for a system keyring…")
        self.remember.setEnabled(False)
        form = QFormLayout(self)
        form.addRow("Password", self.password)
        form.addRow("Repeat", self.confirmation)
        form.addRow("", self.strength)
        form.addRow("", self.hint)
        form.addRow("", self.remember)
        form.addRow("", self.keyring_note)
        self.password.textChanged.connect(self._update_strength)
        self._update_strength("")

    def show_keyring_status(self, status: object) -> None:
        self.keyring_note.setText(getattr(status, "message", ""))
        self.remember.setEnabled(bool(getattr(status, "available", False)))

    def _update_strength(self, text: str) -> None:
        score, hint = password_strength(text)
        self.strength.setValue(score)
        self.hint.setText(hint)

    def clear(self) -> None:
        self.password.clear()
        self.confirmation.clear()


class OnboardingPage(QWidget):
    """The wizard. Emits `completed` with the unlocked vault."""

    completed = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAccessibleName("Set up your wallet")
        self.mode = "create"
        self.phrase = ""
        self.quiz: steps.Quiz | None = None
        self.task = None
        self.banner = Banner()
        self.steps = QStackedWidget()
        self.welcome = self._build_welcome()
        self.show_phrase = self._build_phrase()
        self.quiz_step = self._build_quiz()
        self.import_step = self._build_import()
        self.password_step = self._build_password()
        for widget in (self.welcome, self.show_phrase, self.quiz_step, self.import_step,
                       self.password_step):
            self.steps.addWidget(widget)
        column = QVBoxLayout()
        column.addWidget(self.banner)
        column.addWidget(card(self.steps, margins=24))
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(640)
        holder.setMaximumHeight(560)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(holder, 4)
        outer.addStretch(1)

    # -- steps ------------------------------------------------------------------------

    def _build_welcome(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(title_label("Welcome to Quarry"))
        box.addWidget(muted_label(
            "Your wallet holds the keys that receive rewards for what your data teaches. "
            "Keys stay on this computer, encrypted with your password."))
        box.addSpacing(12)
        self.create_button = button("Create a new wallet", "add", primary=True,
                                    on_click=self.start_create)
        self.import_button = button("Import an existing wallet", "receive",
                                    on_click=self.start_import)
        box.addWidget(self.create_button)
        box.addWidget(self.import_button)
        box.addStretch(1)
        return page

    def _build_phrase(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(title_label("Your recovery phrase"))
        box.addWidget(muted_label(
            "Write these 12 words down on paper, in order, and keep them somewhere safe. "
            "Anyone with them controls your wallet; Quarry shows them only now."))
        self.word_grid = QGridLayout()
        self.word_labels: list[QLabel] = []
        for i in range(12):
            label = QLabel()
            label.setObjectName("Mnemonic")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.word_labels.append(label)
            self.word_grid.addWidget(label, i // 3, i % 3)
        box.addSpacing(8)
        box.addLayout(self.word_grid)
        box.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(button("Back", on_click=self.restart))
        row.addStretch(1)
        row.addWidget(button("I have written it down", "check", primary=True,
                             on_click=self.start_quiz))
        box.addLayout(row)
        return page

    def _build_quiz(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(title_label("Check your copy"))
        box.addWidget(muted_label("Pick the right word for each position."))
        self.quiz_rows = QVBoxLayout()
        box.addLayout(self.quiz_rows)
        self.quiz_groups: dict[int, QButtonGroup] = {}
        box.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(button("Show the words again", on_click=self.show_words_again))
        row.addStretch(1)
        row.addWidget(button("Continue", primary=True, on_click=self.check_quiz))
        box.addLayout(row)
        return page

    def _build_import(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(title_label("Import a wallet"))
        self.import_method = QComboBox()
        self.import_method.addItem("Recovery phrase (12–24 words)", "mnemonic")
        self.import_method.addItem("Keystore file (JSON)", "keystore")
        self.import_method.addItem("Private key", "private_key")
        self.import_method.setAccessibleName("Import from")
        box.addWidget(self.import_method)
        self.import_forms = QStackedWidget()
        # Recovery phrase
        phrase_form = QWidget()
        form = QFormLayout(phrase_form)
        self.import_phrase = QPlainTextEdit()
        self.import_phrase.setAccessibleName("Recovery phrase")
        self.import_phrase.setPlaceholderText("word1 word2 word3 …")
        self.import_phrase.setMaximumHeight(90)
        self.import_index = QSpinBox()
        self.import_index.setRange(0, 1000)
        self.import_index.setAccessibleName("Account number")
        form.addRow("Phrase", self.import_phrase)
        form.addRow("Account index", self.import_index)
        self.import_forms.addWidget(phrase_form)
        # Keystore
        keystore_form = QWidget()
        form = QFormLayout(keystore_form)
        self.keystore_path = QLineEdit()
        self.keystore_path.setAccessibleName("Keystore file")
        browse = button("Browse…", "folder", on_click=self.browse_keystore)
        path_row = QHBoxLayout()
        path_row.addWidget(self.keystore_path, 1)
        path_row.addWidget(browse)
        self.keystore_password = QLineEdit()
        self.keystore_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.keystore_password.setAccessibleName("Keystore file password")
        form.addRow("File", path_row)
        form.addRow("File password", self.keystore_password)
        self.import_forms.addWidget(keystore_form)
        # Private key
        key_form = QWidget()
        form = QFormLayout(key_form)
        self.private_key = QLineEdit()
        self.private_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.private_key.setAccessibleName("Private key")
        self.private_key.setPlaceholderText("0x… (64 hex digits)")
        form.addRow("Private key", self.private_key)
        self.import_forms.addWidget(key_form)
        self.import_method.currentIndexChanged.connect(self.import_forms.setCurrentIndex)
        box.addWidget(self.import_forms)
        # a restored account's earlier rounds are checked from what the old computer kept
        self.import_recover_note = muted_label(
            "Restoring an account that sent updates from another computer? Once the wallet is open, "
            "Rewards › Recover sent updates gets back what checks the copy claims and openings of its rounds.")
        box.addWidget(self.import_recover_note)
        box.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(button("Back", on_click=self.restart))
        row.addStretch(1)
        row.addWidget(button("Continue", primary=True, on_click=self.check_import))
        box.addLayout(row)
        return page

    def _build_password(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(title_label("Choose a password"))
        box.addWidget(muted_label(
            "The password encrypts your keys on this computer. Quarry cannot recover it; "
            "your recovery phrase or a backup file can."))
        self.password_form = PasswordForm()
        # Keyring probing may talk to a daemon: in a worker, answered before anyone gets here.
        self.ctx.runner.run(lambda _c: remember.keyring_status(),
                            on_success=self.password_form.show_keyring_status)
        box.addWidget(self.password_form)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Encrypting your keys")
        self.busy.hide()
        box.addWidget(self.busy)
        box.addStretch(1)
        row = QHBoxLayout()
        self.password_back = button("Back", on_click=self.password_back_clicked)
        row.addWidget(self.password_back)
        row.addStretch(1)
        self.finish_button = button("Create wallet", "check", primary=True, on_click=self.finish)
        row.addWidget(self.finish_button)
        box.addLayout(row)
        return page

    # -- navigation -------------------------------------------------------------------

    def restart(self) -> None:
        self._forget_phrase()
        self.banner.clear()
        self.steps.setCurrentWidget(self.welcome)

    def start_create(self) -> None:
        self.mode = "create"
        self.banner.clear()
        self.phrase = steps.new_mnemonic(12)
        self._fill_words()
        self.steps.setCurrentWidget(self.show_phrase)

    def show_words_again(self) -> None:
        self._fill_words()
        self.steps.setCurrentWidget(self.show_phrase)

    def start_quiz(self) -> None:
        self.banner.clear()
        self.quiz = steps.make_quiz(self.phrase)
        while self.quiz_rows.count():
            item = self.quiz_rows.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.quiz_groups = {}
        for question in self.quiz.questions:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 4, 0, 4)
            number = QLabel(f"Word #{question.position}")
            number.setFixedWidth(80)
            line.addWidget(number)
            group = QButtonGroup(row)
            for choice in question.choices:
                radio = QRadioButton(choice)
                radio.setAccessibleName(f"Word {question.position}: {choice}")
                group.addButton(radio)
                line.addWidget(radio)
            line.addStretch(1)
            self.quiz_groups[question.position] = group
            self.quiz_rows.addWidget(row)
        # The phrase is on paper now; hide it from the screen while the quiz runs.
        for label in self.word_labels:
            label.setText("")
        self.steps.setCurrentWidget(self.quiz_step)

    def quiz_answers(self) -> dict[int, str]:
        picked = {}
        for position, group in self.quiz_groups.items():
            checked = group.checkedButton()
            if checked is not None:
                picked[position] = checked.text()
        return picked

    def check_quiz(self) -> None:
        assert self.quiz is not None
        wrong = self.quiz.check(self.quiz_answers())
        if wrong:
            self.banner.error("Not quite: check word " + ", ".join(f"#{p}" for p in wrong)
                              + " against your paper copy, or show the words again.")
            return
        self.banner.clear()
        self._go_password("Create wallet")

    def _fill_words(self) -> None:
        for label, (i, word) in zip(self.word_labels, enumerate(self.phrase.split()), strict=True):
            label.setText(f"{i + 1:>2}. {word}")

    def start_import(self) -> None:
        self.mode = "import"
        self.banner.clear()
        self.steps.setCurrentWidget(self.import_step)

    def browse_keystore(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Choose a keystore file", str(Path.home()),
                                                    "Keystore (*.json);;All files (*)")
        if path:
            self.keystore_path.setText(path)

    def check_import(self) -> None:
        method = self.import_method.currentData()
        try:
            if method == "mnemonic":
                steps.check_mnemonic(self.import_phrase.toPlainText())
            elif method == "keystore":
                path = Path(self.keystore_path.text().strip())
                if not self.keystore_path.text().strip() or not path.is_file():
                    raise QuarryError("Choose an existing keystore file.")
                if not self.keystore_password.text():
                    raise QuarryError("Enter the keystore file's password.")
            elif not self.private_key.text().strip():
                raise QuarryError("Paste the private key.")
        except QuarryError as exc:
            self.banner.error(str(exc))
            return
        self.banner.clear()
        self._go_password("Import wallet")

    def _go_password(self, finish_text: str) -> None:
        self.finish_button.setText(finish_text)
        self.finish_button.setAccessibleName(finish_text)
        self.password_form.clear()
        self.steps.setCurrentWidget(self.password_step)

    def password_back_clicked(self) -> None:
        if self.mode == "create":
            self.start_quiz()
        else:
            self.steps.setCurrentWidget(self.import_step)

    # -- finishing (scrypt runs in a worker) -----------------------------------------

    def finish(self) -> None:
        form = self.password_form
        password = form.password.text()
        try:
            steps.check_new_password(password, form.confirmation.text())
        except QuarryError as exc:
            self.banner.error(str(exc))
            return
        remember_me = form.remember.isChecked() and form.remember.isEnabled()
        home, store = self.ctx.home, self.ctx.store
        work = self._work_for(home, store, password, remember_me)
        self.banner.clear()
        self._set_busy(True)
        self.task = self.ctx.runner.run(work, on_success=self._done, on_failure=self._failed)

    def _work_for(self, home: Path, store: Any, password: str, remember_me: bool):
        if self.mode == "create":
            phrase = self.phrase
            return lambda _ctx: steps.finish_create(home, store, phrase, password, remember_me)
        method = self.import_method.currentData()
        if method == "mnemonic":
            phrase = steps.check_mnemonic(self.import_phrase.toPlainText())
            index = self.import_index.value()
            return lambda _ctx: steps.finish_import_mnemonic(home, store, phrase, password, index,
                                                             remember_me)
        if method == "keystore":
            path = Path(self.keystore_path.text().strip())
            ks_password = self.keystore_password.text()
            return lambda _ctx: steps.finish_import_keystore(home, store, path, ks_password,
                                                             password, remember_me)
        key = self.private_key.text()
        return lambda _ctx: steps.finish_import_private_key(home, store, key, password, remember_me)

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.finish_button.setEnabled(not busy)
        self.password_back.setEnabled(not busy)

    def _done(self, vault: Any) -> None:
        self._set_busy(False)
        self._forget_phrase()
        self.password_form.clear()
        self.keystore_password.clear()
        self.private_key.clear()
        self.import_phrase.clear()
        self.completed.emit(vault)

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self.banner.error(message)

    def _forget_phrase(self) -> None:
        self.phrase = ""
        self.quiz = None
        for label in self.word_labels:
            label.setText("")
