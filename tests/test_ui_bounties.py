"""Bounties and Rewards pages on a real in-process embedded network: browse, filter, accept ->
check files -> train -> privacy -> encrypt -> submit; the practitioner scores the round; the
reward appears, is claimed, and exported as CSV."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account
from PySide6.QtWidgets import QFileDialog

from devnet.server_info import devnet_dir
from practitioner.demo import DemoSettings, attach
from practitioner.keys import generate_keypair, save_private_key
from practitioner.post import post_bounty
from practitioner.session import Session
from practitioner.state import PractitionerHome
from tests.anvil import devnet_w3, start_devnet
from tests.test_ui_support import PASSWORD, TEST_PHRASE, TEST_PHRASE_ADDRESS, make_flow, wait_idle
from wallet.bounties import BountyClient
from wallet.vault import Vault

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
UNIT = 10**18
ROUND_SECONDS = 45
DEMO_SETTINGS = DemoSettings(datasets=("breast_cancer",), key_bits=1024, reward_per_round=10 * UNIT,
                             rounds=2, round_seconds=ROUND_SECONDS, poll_seconds=0.5,
                             min_round_seconds=5)


@pytest.fixture
def market(quarry_home, tmp_path):
    """The embedded network with the demo practitioner (short rounds, a small key) keeping a
    breast-cancer bounty open, plus a second practitioner's long-running wine bounty."""
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.close()
    with start_devnet(devnet_dir(quarry_home)) as node:
        node.faucet(TEST_PHRASE_ADDRESS)
        w3 = devnet_w3(node)
        # Inside the wallet's data home: the GUI reads file:// blobs only there.
        home = PractitionerHome.at(quarry_home / "other-practitioner")
        _public, private_key = generate_keypair(512)
        save_private_key(home.key_path, private_key, "pw")
        other = Session(home=home, w3=w3, chain_id=w3.eth.chain_id, board_address=node.board,
                        token_address=node.token, signer=Account.create())
        node.faucet(other.signer.address)  # 1,000 QDT for its escrow
        wine = post_bounty(other, DEMO / "wine_spec.json",
                           validation_files=[str(DEMO / "wine_validation.csv")],
                           reward_per_round=5 * UNIT, rounds=3, round_seconds=7200)
        ctx = node.context()
        demo = threading.Thread(target=attach, args=(ctx, DEMO_SETTINGS), daemon=True)
        demo.start()
        client = BountyClient(w3, node.board, w3.eth.chain_id, file_roots=None)
        deadline = time.monotonic() + 90
        while client.count() < 2:
            assert time.monotonic() < deadline, "the demo practitioner did not post its bounty"
            time.sleep(0.3)
        cancer = client.bounty(2)
        try:
            yield quarry_home, node, wine, cancer
        finally:
            ctx.stop.set()
            demo.join(timeout=30)


def test_accept_train_submit_then_reward_claim_and_export(qtbot, market, monkeypatch, tmp_path, seeded_dp_sgd):
    home, node, wine, cancer = market
    flow = make_flow(qtbot, home, start_network=True)
    window, ctx = flow.window, flow.ctx
    window.lock_screen.password.setText(PASSWORD)
    window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell" and ctx.chain is not None, timeout=30_000)
    window.show_page("bounties")
    page = window.page("bounties")
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=30_000)

    # Search, sort and filters go through the proxy.
    titles = {page.proxy.row(i)["id"]: page.proxy.row(i)["title"] for i in range(2)}
    assert titles[wine.bounty_id] == wine.spec.title and "cancer" in titles[cancer.id].lower()
    page.search.setText("cancer")
    assert page.proxy.rowCount() == 1 and page.proxy.row(0)["id"] == cancer.id
    page.search.clear()
    page.task_filter.setCurrentIndex(page.task_filter.findData("multiclass_classification"))
    assert [page.proxy.row(i)["id"] for i in range(page.proxy.rowCount())] == [wine.bounty_id]
    page.task_filter.setCurrentIndex(0)
    page.reward_filter.setValue(8)
    assert [page.proxy.row(i)["id"] for i in range(page.proxy.rowCount())] == [cancer.id]
    page.reward_filter.setValue(0)
    page.deadline_filter.setCurrentIndex(page.deadline_filter.findData(3600))
    assert page.proxy.rowCount() == 1  # only the 60-second round closes within the hour
    page.deadline_filter.setCurrentIndex(0)
    page.table.sortByColumn(3, page.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    assert page.proxy.row(0)["id"] == wine.bounty_id  # 5 QDT before 10 QDT

    # Details of the 60-second bounty, then Accept.
    assert page.select_bounty(cancer.id)
    qtbot.waitUntil(lambda: page.accept_button.isEnabled(), timeout=20_000)
    text = page.detail.toPlainText()
    assert "Spec verified" in text and "10 QDT per round × 2 rounds" in text
    assert "not submitted" in text
    # the declared validation size (142 rows: not small) and, as the demo posts the validation
    # file that ships with the app, that its rows are public; and the sybil in plain words
    assert ("Validation set\n142 rows, public." in text or "Validation set\t142 rows, public." in text), text
    assert "The practitioner posted them as public (revealed by an earlier bounty, or shipped with a demo)" in text
    assert "one person sending parts of their data from many addresses" in text
    page.accept_button.click()
    wizard = page.contribute
    assert page.stack.currentWidget() is wizard

    # Files from another bounty: the schema check says what is wrong; nothing moves on.
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda *a, **k: ([str(DEMO / "wine_owner_a.csv")], ""))
    wizard.choose_button.click()
    wizard.check_button.click()
    qtbot.waitUntil(lambda: wizard.banner.isVisible() and wizard.check_button.isEnabled(),
                    timeout=20_000)
    assert "column" in wizard.banner.text.lower() and not wizard.to_training.isEnabled()
    wizard.set_files([str(DEMO / "breast_cancer_owner_a.csv")])
    wizard.check_button.click()
    qtbot.waitUntil(lambda: wizard.to_training.isEnabled(), timeout=20_000)
    assert "match the bounty's schema" in wizard.check_result.text()
    wizard.to_training.click()

    # Training: cancel once, then run to the end with the live chart.
    wizard.epochs.setValue(10_000)  # long enough that Cancel lands mid-run
    wizard.start_training()
    wizard.train_busy.cancel_button.click()
    qtbot.waitUntil(lambda: wizard.train_button.isEnabled() and not wizard.task.running,
                    timeout=20_000)
    assert wizard.trained is None and "cancelled" in wizard.banner.text.lower()
    wizard.epochs.setValue(3)
    wizard.start_training()
    qtbot.waitUntil(lambda: wizard.to_privacy.isEnabled(), timeout=60_000)
    assert wizard.chart.epochs == [1, 2, 3] and len(wizard.chart.losses) == 3
    assert "accuracy" in wizard.train_result.text()
    wizard.to_privacy.click()

    # Privacy: each row protected (DP-SGD) by default; more noise, smaller epsilon, in words.
    assert wizard.mode() == "row" and "for each row" in wizard.epsilon_label.text()
    wizard.noise_slider.setValue(wizard.noise_slider.maximum())
    strong = float(wizard.epsilon_label.text().split("=")[1].split()[0])
    wizard.noise_slider.setValue(wizard.noise_slider.maximum() // 4)
    weak = float(wizard.epsilon_label.text().split("=")[1].split()[0])
    assert strong < weak and "privacy" in wizard.epsilon_words.text().lower()
    wizard.mode_buttons["none"].setChecked(True)
    assert "∞" in wizard.epsilon_label.text()
    # The default DP-SGD setting for this one: it trains again with noise on each row.
    wizard.mode_buttons["row"].setChecked(True)
    wizard.to_encrypt.click()
    qtbot.waitUntil(lambda: wizard.steps.currentIndex() == 4, timeout=60_000)
    assert "bytes" in wizard.review.text() and "do not" in wizard.review.text()
    assert "each row protected (DP-SGD, noise multiplier 2.00)" in wizard.review.text()
    assert "rows (the count is not sent)" in wizard.review.text()
    wizard.submit_button.click()
    qtbot.waitUntil(lambda: wizard.result is not None or "rror" in wizard.banner.text,
                    timeout=60_000)
    assert wizard.result is not None, wizard.banner.text
    assert wizard.result["upload_error"] is None
    client = BountyClient(ctx.chain.w3, node.board, ctx.chain.chain_id, file_roots=None)
    mine = client.submission(cancer.id, 0, TEST_PHRASE_ADDRESS)
    assert mine is not None and mine["blob_hash"] == wizard.result["blob_hash"]
    wizard.done_button.click()
    assert page.stack.currentIndex() == 0

    # Rewards: pending first.
    window.show_page("rewards")
    rewards = window.page("rewards")
    rewards.refresh()
    qtbot.waitUntil(lambda: rewards.model.rowCount() == 1, timeout=20_000)
    assert rewards.model.row_at(0)["status"] == "pending"
    assert not rewards.claim_button.isEnabled()

    # The round closes; the demo practitioner scores it and pays; the page catches up.
    deadline = time.monotonic() + ROUND_SECONDS + 60
    while client.rounds(client.bounty(cancer.id))[0]["state"] != "finalized":
        assert time.monotonic() < deadline, "the demo practitioner did not finalise the round"
        qtbot.wait(500)
    rewards.refresh()
    qtbot.waitUntil(lambda: rewards.model.rowCount() == 1
                    and rewards.model.row_at(0)["status"] == "finalised", timeout=20_000)
    row = rewards.model.row_at(0)
    assert row["amount"] > 0 and row["claim"] == "claimable" and row["share"] > 0, (
        row["report"], row["rejected"])
    assert rewards.claim_button.isEnabled()
    rewards.table.selectRow(0)
    assert "Shapley" in rewards.report.toPlainText()
    assert len(rewards.chart.points[0]) == 1

    from wallet.token import token_balance

    before = token_balance(ctx.chain.w3, node.token, TEST_PHRASE_ADDRESS)
    rewards.claim_button.click()
    qtbot.waitUntil(lambda: "Claimed" in rewards.banner.text, timeout=30_000)
    after = token_balance(ctx.chain.w3, node.token, TEST_PHRASE_ADDRESS)
    assert after - before == row["amount"]
    qtbot.waitUntil(lambda: rewards.model.rowCount() == 1
                    and rewards.model.row_at(0)["claim"] == "claimed", timeout=20_000)

    target = tmp_path / "rewards.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    rewards.export_button.click()
    lines = list(csv.DictReader(target.open()))
    assert lines[0]["bounty_id"] == str(cancer.id) and lines[0]["claim"] == "claimed"
    wait_idle(qtbot, ctx)
