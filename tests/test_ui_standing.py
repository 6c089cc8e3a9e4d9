"""Standing contributions in the app, offscreen on a real EVM (py-evm) with real Paillier and
the practitioner finalising 60-second rounds: Bounties › Keep contributing saves one; the
background runner (timer + task runner, never the GUI thread) submits in two rounds without
a click and announces "Submitted to round 1 of …" and "Earned … QDT"; the Standing page lists
it with its rounds, last run, earnings and what it did, and pauses and resumes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from eth_account import Account
from PySide6.QtWidgets import QApplication

from practitioner.post import post_bounty
from practitioner.runner import process_due_rounds
from tests.chain_fixtures import TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from tests.test_ui_support import (
    PASSWORD,
    TEST_PHRASE,
    chain_context,
    shown_page,
    wait_idle,
)
from ui import theme
from ui.autopilot_runner import AutopilotRunner
from ui.pages.bounties import BountiesPage
from ui.pages.standing import StandingPage
from ui.pages.wallet import ACCOUNT_SETTING
from wallet.autopilot import list_standing
from wallet.bounties import BountyClient
from wallet.vault import Vault

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"


def test_keep_contributing_runs_in_the_background_and_the_standing_page_shows_it(qtbot, quarry_home, tmp_path):
    theme.apply_theme(QApplication.instance(), "light")
    market, session, private_key = practitioner_on_market(quarry_home / "practitioner")
    bounty_id = post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                            reward_per_round=10 * TOKEN_UNIT, rounds=3, round_seconds=60).bounty_id
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.unlock(PASSWORD)
    # an account of its own: the wallet remembers nonces per node and address for the whole
    # process, and every py-evm chain looks like the same node
    account = vault.import_private_key(Account.create().key, PASSWORD).address
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": market.chain.accounts[0], "to": account, "value": 10 * 10**18}))
    ctx = chain_context(quarry_home, vault, market)
    ctx.set_setting(ACCOUNT_SETTING, account)
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(DEMO / "wine_owner_a.csv", folder)

    # Bounties › Keep contributing
    page = BountiesPage(ctx)
    shown_page(qtbot, page, (1100, 720), rows=1, timeout=20_000)
    assert page.select_bounty(bounty_id)
    qtbot.waitUntil(lambda: page.keep_button.isEnabled(), timeout=20_000)
    page.grab().save("/tmp/quarry-bounties-keep-contributing.png")
    dialog = page.keep_contributing()
    dialog.set_sources([str(folder)])
    assert dialog.rounds.value() == 3 and dialog.privacy.currentData() == "row"
    dialog.grab().save("/tmp/quarry-keep-contributing.png")
    # no noise here: a lone update drowned in noise may rightly earn nothing
    dialog.privacy.setCurrentIndex(dialog.privacy.findData("none"))
    assert not dialog.noise.isEnabled()
    dialog.save_button.click()
    assert dialog.standing is not None and not dialog.isVisible(), dialog.banner.text
    (standing,) = list_standing(ctx.store)
    assert standing.bounty_id == bounty_id and standing.account == account and standing.max_rounds == 3
    assert standing.status == "active"

    # the background runner: a pass per timer tick on the task runner, no click
    runner = AutopilotRunner(ctx, interval_ms=200)
    qtbot.waitUntil(lambda: any(n.startswith("Submitted to round 1 of") for n in runner.notes), timeout=60_000)
    client = BountyClient(market.w3, market.board.address, ctx.chain.chain_id, file_roots=None)
    assert client.submission(bounty_id, 0, account) is not None
    market.chain.advance(61)
    process_due_rounds(session, private_key)  # the practitioner scores round 1 and opens round 2
    qtbot.waitUntil(lambda: any(n.startswith("Submitted to round 2 of") for n in runner.notes), timeout=60_000)
    qtbot.waitUntil(lambda: any(n.startswith("Earned ") and "QDT" in n for n in runner.notes), timeout=60_000)
    runner.stop()
    wait_idle(qtbot, ctx)

    # the Standing page: rounds, last run, earnings; pause and resume
    standing_page = StandingPage(ctx)
    shown_page(qtbot, standing_page, (1100, 720))
    qtbot.waitUntil(lambda: standing_page.table.rowCount() == 1, timeout=20_000)
    cells = [standing_page.table.item(0, c).text() for c in range(standing_page.table.columnCount())]
    assert cells[1] == "active" and cells[2] == "2 of at most 3 rounds" and "QDT" in cells[5], cells
    standing_page.table.selectRow(0)
    assert standing_page.pause_button.isEnabled() and not standing_page.resume_button.isEnabled()
    text = standing_page.detail.toPlainText()
    assert "Submitted to round 2 of" in text and "Earned" in text and "Wallet: unlocked" in text
    standing_page.grab().save("/tmp/quarry-standing.png")
    standing_page.pause_button.click()
    qtbot.waitUntil(lambda: standing_page.table.item(0, 1).text().startswith("paused"), timeout=20_000)
    standing_page.table.selectRow(0)
    assert standing_page.resume_button.isEnabled()
    standing_page.grab().save("/tmp/quarry-standing-paused.png")
    standing_page.resume_button.click()
    qtbot.waitUntil(lambda: standing_page.table.item(0, 1).text() == "active", timeout=20_000)
    wait_idle(qtbot, ctx)
    vault.close()


def test_the_background_runner_also_runs_for_an_upload_waiting_in_the_outbox(qtbot, quarry_home, monkeypatch):
    """No standing contribution: the runner starts no pass, unless a submitted update waits in
    the outbox for its upload (the pass retries it; `wallet.autopilot.Autopilot.retry_uploads`)."""
    import ui.autopilot_runner
    from wallet.blob_store import blob_hash
    from wallet.outbox import Outbox, PendingUpload

    monkeypatch.setattr(ui.autopilot_runner, "FIRST_PASS_MS", 10**9)
    market, _session, _key = practitioner_on_market(quarry_home / "practitioner")
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.unlock(PASSWORD)
    ctx = chain_context(quarry_home, vault, market)
    runner = AutopilotRunner(ctx, interval_ms=10**9)
    try:
        assert not runner.run_pass()
        kept = b"an update whose commit has not happened"
        digest = blob_hash(kept)
        Outbox(ctx.home / "outbox").keep(kept, PendingUpload(
            digest, 1, 0, Account.create().address, "", str(ctx.home / "blobs"), ""))
        assert runner.run_pass()
        qtbot.waitUntil(lambda: not runner.task.running, timeout=30_000)
        assert runner.last_error is None and runner.passes == 1
        # not committed: the background pass leaves it (it may be a submission mid-commit)
        assert [p.blob_hash for p in Outbox(ctx.home / "outbox").pending()] == [digest]
    finally:
        runner.stop()
