"""The privacy budget in the GUI (issue 10): the ceiling on the Settings page, the spent total
per file, the privacy columns of the rewards CSV."""

from __future__ import annotations

from pathlib import Path

from tests.test_ui_support import PASSWORD, TEST_PHRASE, make_flow
from trainer.dp_sgd import DpSgdConfig
from trainer.privacy import ROW_LEVEL
from ui.pages.rewards import rewards_csv
from wallet.privacy_budget import DatasetFile, PrivacyBudget
from wallet.vault import Vault

ACCOUNT = "0x" + "ab" * 20


def _unlocked(qtbot, home):
    vault, _info = Vault.import_mnemonic(home, TEST_PHRASE, PASSWORD)
    vault.close()
    flow = make_flow(qtbot, home)
    flow.window.lock_screen.password.setText(PASSWORD)
    flow.window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: flow.window.mode() == "shell", timeout=20_000)
    return flow


def test_settings_page_sets_the_ceiling_and_shows_the_spent_budget(qtbot, quarry_home, tmp_path: Path):
    flow = _unlocked(qtbot, quarry_home)
    budget = PrivacyBudget(flow.ctx.store)
    data_path = tmp_path / "clinic.csv"
    data_path.write_text("a,label\n1,0\n")
    budget.record([DatasetFile.of(data_path)], ACCOUNT, mechanism=ROW_LEVEL,
                  params=DpSgdConfig(2.0, 4.0, 0.25, 5).to_json(), epsilon=3.12, delta=1e-5,
                  bounty_id=1, round=0, blob_hash="0x" + "11" * 32)
    settings = flow.window.page("settings")
    flow.window.show_page("settings")
    settings.refresh()
    assert "clinic.csv: ε = 3.12 in 1 contribution(s)" in settings.privacy_spent.text()
    assert not settings.ceiling_box.isChecked() and budget.ceiling() is None
    settings.ceiling_box.setChecked(True)
    settings.ceiling_value.setValue(8.0)
    assert budget.ceiling() == 8.0
    settings.refresh()
    assert settings.ceiling_box.isChecked() and settings.ceiling_value.value() == 8.0
    settings.ceiling_box.setChecked(False)
    assert budget.ceiling() is None

    row = {"bounty_id": 1, "title": "t", "round": 0, "status": "finalised", "share": 0.5,
           "amount": 10**18, "claim": "", "blob_hash": "0x" + "11" * 32}
    text = rewards_csv([row], budget.by_blob())
    header, line = text.splitlines()
    assert header.endswith("privacy,epsilon") and line.endswith("each row (DP-SGD),3.1200")
