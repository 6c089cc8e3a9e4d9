"""The privacy budget in the GUI (issue 10): the ceiling on the Settings page, the spent total
per file, the privacy columns of the rewards CSV."""

from __future__ import annotations

from pathlib import Path

from tests.test_ui_support import PASSWORD, TEST_PHRASE, make_flow, shown_contribute_flow
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


def _wizard_at_privacy(qtbot, home, max_epsilon=None, open_updates=False):
    """The contribution wizard on its privacy step for a real spec and real rows (the demo's
    wine owner), prepared without a chain: only the privacy step is under test here."""
    import numpy as np

    from tests.test_ui_support import make_context
    from trainer.data import load_dataset
    from wallet.bounties import Bounty, BountyDetails
    from wallet.contribute import Contribution
    from wallet.privacy_budget import PrivacyBudget
    from wallet.store import Store

    demo = Path(__file__).resolve().parent.parent / "resources" / "demo"
    from practitioner.post import read_spec_file
    from trainer.spec import BountySpec
    from trainer.testing import make_spec_dict

    demo_raw = read_spec_file(demo / "wine_spec.json")
    columns = demo_raw["schema"]["columns"]
    raw = make_spec_dict(len(columns), classes=demo_raw["schema"]["classes"])
    raw["schema"] = {**demo_raw["schema"], "min_rows": 1}
    raw["training"] = demo_raw["training"]
    raw["model"]["n_features"] = len(columns)
    table = np.genfromtxt(demo / "wine_validation.csv", delimiter=",", names=True)
    features = np.column_stack([table[c["name"]] for c in columns])
    raw["standardize"] = {"mean": features.mean(axis=0).tolist(), "std": features.std(axis=0).tolist()}
    raw["privacy"] = {"clip_norm": 1.0, "delta": 1e-5, "max_noise_multiplier": 2.0}
    if max_epsilon is not None:
        raw["privacy"]["max_epsilon"] = max_epsilon
    if open_updates:
        raw.update(open_updates=True, valuation_rules=2)
    spec = BountySpec.from_json(raw)
    ctx = make_context(home)
    flow = shown_contribute_flow(qtbot, ctx, (900, 640))
    bounty = Bounty(id=7, owner="0x" + "11" * 20, token="0x" + "22" * 20, reward_per_round=10**18,
                    rounds=3, round_duration=600, max_contributors=10, spec_hash=spec.spec_hash,
                    spec_uri="file:///spec", current_round=0, status="open", escrow=3 * 10**18,
                    round_deadline=2_000_000_000, round_submissions=0, round_state="open",
                    phase="accepting")
    flow.start(BountyDetails(bounty, [], spec.to_json(), True, None), ACCOUNT)
    prepared = Contribution(None, 7, file_roots=[home], account=ACCOUNT, budget=PrivacyBudget(Store(home)))
    prepared.spec, prepared.bounty = spec, bounty
    prepared.global_params = np.zeros((len(columns) + 1) * 3)
    prepared.dataset = load_dataset([str(demo / "wine_owner_a.csv")], spec)
    prepared.files = [str(demo / "wine_owner_a.csv")]
    flow._checked(prepared)
    flow.go(2)
    return flow, ctx


def test_privacy_step_words_follow_the_mode_and_the_cost_is_measured(qtbot, quarry_home, tmp_path):
    from tests.test_ui_support import wait_idle

    flow, ctx = _wizard_at_privacy(qtbot, quarry_home)
    assert flow.mode() == "row" and flow.noise_multiplier() == 2.0
    row_text = flow.epsilon_label.text()
    assert row_text == "ε = 7.50 for each row"  # 45 rows, the spec's batch of 32, 10 epochs, sigma 2
    assert "any single row" in flow.epsilon_words.text() and "DP-SGD" in flow.epsilon_words.text()
    assert "honest owners were paid in 84 %" in flow.measured_label.text()
    assert "no single row" in flow.mode_note.text()
    flow.measure_button.click()
    qtbot.waitUntil(lambda: "held out" in flow.effect_label.text() or "Could not" in flow.effect_label.text(),
                    timeout=60_000)
    assert "9 of your rows held out" in flow.effect_label.text(), flow.effect_label.text()
    flow.grab().save(str(tmp_path / "privacy-row.png"))

    flow.mode_buttons["dataset"].setChecked(True)
    assert flow.mode() == "dataset" and flow.noise_multiplier() == 1.0  # half the spec's cap of 2
    assert flow.epsilon_label.text() == "ε = 4.73 for your whole dataset"
    words = flow.epsilon_words.text()
    assert "whole dataset" in words and "had not taken part at all" in words and "single row" not in words
    assert "paid in only 20 %" in flow.measured_label.text() and flow.effect_label.text() == ""
    flow.grab().save(str(tmp_path / "privacy-dataset.png"))

    flow.mode_buttons["none"].setChecked(True)
    assert flow.epsilon_label.text() == "ε = ∞ (no noise)" and not flow.noise_slider.isEnabled()
    assert "could learn something" in flow.epsilon_words.text()
    flow.mode_buttons["row"].setChecked(True)
    flow.noise_slider.setValue(flow.noise_slider.maximum())
    strong = float(flow.epsilon_label.text().split("=")[1].split()[0])
    assert flow.noise_multiplier() == 8.0 and strong < 7.5
    wait_idle(qtbot, ctx)


def test_privacy_step_refuses_more_than_the_bounty_allows(qtbot, quarry_home):
    flow, _ctx = _wizard_at_privacy(qtbot, quarry_home, max_epsilon=3.0)
    assert "at most ε = 3" in flow.epsilon_words.text() and not flow.to_encrypt.isEnabled()
    flow.noise_slider.setValue(flow.noise_slider.maximum())  # sigma 8: ε 1.47
    assert flow.to_encrypt.isEnabled() and "accepts at most" not in flow.epsilon_words.text()
    flow.mode_buttons["none"].setChecked(True)
    assert not flow.to_encrypt.isEnabled()


def test_privacy_step_refuses_a_contribution_past_the_budget(qtbot, quarry_home):
    from tests.test_ui_support import wait_idle
    from wallet.privacy_budget import PrivacyBudget
    from wallet.store import Store

    flow, ctx = _wizard_at_privacy(qtbot, quarry_home)
    PrivacyBudget(Store(quarry_home)).set_ceiling(5.0)  # the default spends 7.50 on these rows
    flow.trained = object()  # the plain training of step 2 (not used by the DP-SGD path)
    flow.to_encrypt.click()
    qtbot.waitUntil(lambda: "Privacy budget" in flow.banner.text, timeout=30_000)
    assert "wine_owner_a.csv has spent ε = 0.00 of your ceiling of 5" in flow.banner.text
    assert "Nothing was sent" in flow.banner.text and flow.blob is None
    flow.mode_buttons["dataset"].setChecked(True)  # ε 4.73 fits under 5
    flow.trained = flow.prepared.train(2)
    flow.to_encrypt.click()
    qtbot.waitUntil(lambda: flow.blob is not None or "rror" in flow.banner.text, timeout=60_000)
    assert flow.blob is not None and flow.update.mechanism == "user_level"
    wait_idle(qtbot, ctx)


def test_privacy_step_epsilon_follows_the_epochs_that_will_run(qtbot, quarry_home):
    flow, _ctx = _wizard_at_privacy(qtbot, quarry_home)
    assert flow.epsilon_label.text() == "ε = 7.50 for each row"  # the spec's 10 epochs
    flow.epochs.setValue(20)  # twice the steps: more privacy spent
    assert flow.epsilon_label.text() == "ε = 10.92 for each row"


def test_no_noise_is_not_offered_to_a_bounty_that_opens_its_updates(qtbot, quarry_home):
    flow, _ctx = _wizard_at_privacy(qtbot, quarry_home, open_updates=True)
    assert flow.mode() == "row" and flow.to_encrypt.isEnabled()
    flow.mode_buttons["none"].setChecked(True)
    assert "opens every counted update" in flow.mode_note.text() and not flow.to_encrypt.isEnabled()
    flow.mode_buttons["row"].setChecked(True)
    assert "no single row" in flow.mode_note.text() and flow.to_encrypt.isEnabled()
    # the whole-dataset mode with its slider at 0 sends no noise either
    flow.mode_buttons["dataset"].setChecked(True)
    flow.noise_slider.setValue(0)
    assert "opens every counted update" in flow.mode_note.text() and not flow.to_encrypt.isEnabled()
    flow.noise_slider.setValue(flow.noise_slider.maximum())
    assert "Noise is added once" in flow.mode_note.text() and flow.to_encrypt.isEnabled()
