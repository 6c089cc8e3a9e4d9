"""Onboarding, lock screen, idle lock and the Settings page's secret operations, offscreen."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tests.test_ui_support import (  # noqa: F401 - fixtures
    PASSWORD,
    TEST_PHRASE,
    TEST_PHRASE_ADDRESS,
    file_keyring,
    make_context,
    make_flow,
    wait_idle,
)
from ui import onboarding_steps as steps
from ui.dialogs import MnemonicDialog
from ui.flow import AppFlow
from ui.main_window import close_secret_dialogs
from wallet import remember
from wallet.vault import Vault

KEY = "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"


def test_quiz_logic_headless():
    phrase = steps.new_mnemonic(12)
    quiz = steps.make_quiz(phrase)
    words = phrase.split()
    assert [q.position for q in quiz.questions] == [3, 7, 11]
    for question in quiz.questions:
        assert question.answer == words[question.position - 1]
        assert len(set(question.choices)) == 4 and question.answer in question.choices
    right = {q.position: q.answer for q in quiz.questions}
    assert quiz.check(right) == []
    wrong = dict(right)
    wrong[7] = next(c for c in quiz.questions[1].choices if c != quiz.questions[1].answer)
    assert quiz.check(wrong) == [7]


def _answer_quiz(page, correct: bool = True) -> None:
    for question in page.quiz.questions:
        group = page.quiz_groups[question.position]
        for radio in group.buttons():
            if (radio.text() == question.answer) == correct:
                radio.setChecked(True)
                break


def test_create_wallet_with_quiz_then_lock_and_unlock(qtbot, quarry_home):
    flow = make_flow(qtbot, quarry_home)
    window = flow.window
    assert window.mode() == "onboarding"
    page = window.onboarding
    page.create_button.click()
    shown = [label.text().split(". ")[1] for label in page.word_labels]
    assert len(shown) == 12 and " ".join(shown) == page.phrase
    page.start_quiz()
    assert all(label.text() == "" for label in page.word_labels)  # off screen during the quiz
    _answer_quiz(page, correct=False)
    page.check_quiz()
    assert page.banner.isVisible() and "check word" in page.banner.text
    assert page.steps.currentWidget() is page.quiz_step
    _answer_quiz(page, correct=True)
    page.check_quiz()
    assert page.steps.currentWidget() is page.password_step
    # Too short, then mismatched: clear messages, nothing written.
    page.password_form.password.setText("short")
    page.password_form.confirmation.setText("short")
    page.finish_button.click()
    assert "at least 8" in page.banner.text
    page.password_form.password.setText(PASSWORD)
    page.password_form.confirmation.setText(PASSWORD + "x")
    page.finish_button.click()
    assert "differ" in page.banner.text
    assert not Vault.exists(quarry_home)
    phrase = page.phrase
    page.password_form.confirmation.setText(PASSWORD)
    page.finish_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell", timeout=20_000)
    vault = flow.ctx.vault
    assert vault.is_unlocked and len(vault.accounts()) == 1
    assert page.phrase == ""  # the wizard forgot the phrase
    assert vault.reveal_mnemonic(PASSWORD) == phrase

    # Ctrl+L path: lock, then a wrong password, then the right one.
    window.lock()
    assert window.mode() == "locked" and not vault.is_unlocked
    lock = window.lock_screen
    lock.password.setText("wrong password")
    lock.unlock_button.click()
    qtbot.waitUntil(lambda: lock.banner.isVisible(), timeout=20_000)
    assert "Wrong password" in lock.banner.text and window.mode() == "locked"
    lock.password.setText(PASSWORD)
    lock.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell", timeout=20_000)
    assert vault.is_unlocked


def test_import_mnemonic_gives_the_standard_address(qtbot, quarry_home):
    flow = make_flow(qtbot, quarry_home)
    page = flow.window.onboarding
    page.import_button.click()
    page.import_phrase.setPlainText("abandon abandon nonsense")
    page.check_import()
    assert page.banner.isVisible()
    assert page.steps.currentWidget() is page.import_step
    # where a restored account's earlier rounds are checked again
    assert page.import_recover_note.isVisible() and "Recover sent updates" in page.import_recover_note.text()
    page.grab().save("/tmp/quarry-onboarding-import.png")
    page.import_phrase.setPlainText(TEST_PHRASE)
    page.check_import()
    assert page.steps.currentWidget() is page.password_step
    page.password_form.password.setText(PASSWORD)
    page.password_form.confirmation.setText(PASSWORD)
    page.finish_button.click()
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    assert [a.address for a in flow.ctx.vault.accounts()] == [TEST_PHRASE_ADDRESS]


def test_import_private_key_and_keystore(qtbot, quarry_home, tmp_path):
    # A keystore file written by another Quarry home stands in for MetaMask's export.
    other = Vault.load(tmp_path / "other")
    info = other.import_private_key(KEY, "keystore pw")
    other.unlock("keystore pw")
    exported = other.export_keystore(info.address, "keystore pw", tmp_path / "backup.json")

    flow = make_flow(qtbot, quarry_home)
    page = flow.window.onboarding
    page.import_button.click()
    page.import_method.setCurrentIndex(page.import_method.findData("keystore"))
    page.keystore_path.setText(str(exported))
    page.keystore_password.setText("not it")
    page.check_import()
    page.password_form.password.setText(PASSWORD)
    page.password_form.confirmation.setText(PASSWORD)
    page.finish_button.click()
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=20_000)
    assert "password" in page.banner.text.lower()
    assert not Vault.exists(quarry_home)  # nothing written on failure
    page.password_back_clicked()
    page.keystore_password.setText("keystore pw")
    page.check_import()
    page.password_form.password.setText(PASSWORD)
    page.password_form.confirmation.setText(PASSWORD)
    page.finish_button.click()
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    assert [a.address for a in flow.ctx.vault.accounts()] == [info.address]


def test_private_key_import_remembered_in_the_keyring(qtbot, quarry_home, file_keyring):  # noqa: F811
    flow = make_flow(qtbot, quarry_home)
    page = flow.window.onboarding
    page.import_button.click()
    page.import_method.setCurrentIndex(page.import_method.findData("private_key"))
    page.private_key.setText(KEY)
    page.check_import()
    form = page.password_form
    qtbot.waitUntil(lambda: form.remember.isEnabled(), timeout=10_000)  # a keyring exists
    assert file_keyring.file_path in form.keyring_note.text()
    form.remember.setChecked(True)
    form.password.setText(PASSWORD)
    form.confirmation.setText(PASSWORD)
    page.finish_button.click()
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    assert flow.ctx.vault.accounts()[0].kind == "imported"
    assert page.private_key.text() == ""
    assert remember.recall_password(quarry_home) == PASSWORD


def test_without_a_keyring_the_wizard_says_so(qtbot, quarry_home):
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        flow = make_flow(qtbot, quarry_home)
        form = flow.window.onboarding.password_form
        qtbot.waitUntil(lambda: "No system keyring" in form.keyring_note.text(), timeout=10_000)
        assert not form.remember.isEnabled()
    finally:
        keyring.set_keyring(previous)


def _wallet(quarry_home):
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.close()


def test_idle_timeout_locks_and_closes_secret_dialogs(qtbot, quarry_home):
    _wallet(quarry_home)
    flow = make_flow(qtbot, quarry_home)
    window = flow.window
    assert window.mode() == "locked"
    window.lock_screen.password.setText(PASSWORD)
    window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell", timeout=20_000)
    settings = window.page("settings")
    window.show_page("settings")
    settings.ask_reveal()
    dialog = settings.dialog
    dialog.password.setText(PASSWORD)
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: isinstance(settings.dialog, MnemonicDialog), timeout=20_000)
    shown = settings.dialog
    assert "about" in shown.phrase_label.text()
    # Idle for longer than the timeout: the periodic check locks and closes the phrase.
    flow.ctx.store.set_setting("auto_lock_minutes", 1)
    vault = flow.ctx.vault
    # A key press anywhere counts as activity (the app-wide event filter touches the vault).
    vault._last_activity -= 120  # noqa: SLF001 - two minutes ago
    window.activity._last = 0.0  # noqa: SLF001 - no throttling left from earlier input
    qtbot.keyClick(shown, Qt.Key.Key_Shift)
    window.check_idle()
    assert vault.is_unlocked and window.mode() == "shell" and shown.isVisible()
    vault._last_activity -= 120  # noqa: SLF001 - idle again for two minutes
    window.check_idle()
    assert window.mode() == "locked" and not vault.is_unlocked
    assert not shown.isVisible() and shown.phrase_label.text() == ""
    assert close_secret_dialogs() == 0


def test_export_backup_and_change_password(qtbot, quarry_home, tmp_path, monkeypatch):
    _wallet(quarry_home)
    flow = make_flow(qtbot, quarry_home)
    window = flow.window
    window.lock_screen.password.setText(PASSWORD)
    window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell", timeout=20_000)
    window.show_page("settings")
    settings = window.page("settings")
    settings.refresh()
    target = tmp_path / "backup.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    settings.ask_export()
    settings.dialog.password.setText("wrong password")
    settings.dialog.ok_button.click()
    qtbot.waitUntil(lambda: settings.dialog.banner.isVisible(), timeout=20_000)
    assert not target.exists()
    settings.dialog.password.setText(PASSWORD)
    settings.dialog.ok_button.click()
    qtbot.waitUntil(target.exists, timeout=20_000)
    data = json.loads(target.read_text())
    assert data["version"] == 3 and data["address"].lower() == TEST_PHRASE_ADDRESS[2:].lower()
    from eth_account import Account

    assert Account.from_key(Account.decrypt(data, PASSWORD)).address == TEST_PHRASE_ADDRESS

    settings.ask_change_password()
    dialog = settings.dialog
    dialog.password.setText(PASSWORD)
    dialog.new_password.setText("a brand new password")
    dialog.confirmation.setText("a brand new password")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: "changed" in settings.banner.text, timeout=20_000)
    vault = Vault.open(quarry_home)
    vault.unlock("a brand new password")
    assert vault.is_unlocked


def test_remembered_password_unlocks_at_start(qtbot, quarry_home, file_keyring):  # noqa: F811
    _wallet(quarry_home)
    remember.remember_password(quarry_home, PASSWORD)
    ctx = make_context(quarry_home)
    flow = AppFlow(ctx, start_network=False, try_keyring=True)
    qtbot.addWidget(flow.window)
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    settings = flow.window.page("settings")
    flow.window.show_page("settings")
    settings.refresh()
    qtbot.waitUntil(lambda: settings.remember_box.isChecked(), timeout=10_000)
    assert file_keyring.file_path in settings.keyring_note.text()
    # Off: forgotten in the keyring. On again: only after the password is checked.
    settings.remember_box.setChecked(False)
    qtbot.waitUntil(lambda: not remember.is_remembered(quarry_home), timeout=10_000)
    qtbot.waitUntil(lambda: "no longer" in settings.banner.text, timeout=10_000)
    settings.remember_box.setChecked(True)
    dialog = settings.dialog
    dialog.password.setText("not the password")
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=20_000)
    assert not remember.is_remembered(quarry_home)
    dialog.password.setText(PASSWORD)
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: remember.is_remembered(quarry_home), timeout=20_000)
    # The lock screen offers the saved password.
    flow.window.lock()
    lock = flow.window.lock_screen
    qtbot.waitUntil(lambda: lock.remembered_button.isVisibleTo(lock), timeout=10_000)
    lock.remembered_button.click()
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    wait_idle(qtbot, flow.ctx)
