"""The Rewards page's Check column and the bounty detail's track record, offscreen, on a real
EVM (py-evm) with real Paillier: the wallet's own account contributes to three bounties; the
practitioner finalises one honestly, one with a report whose payouts differ from the chain,
and one posted as not verifiable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_account import Account
from PySide6.QtWidgets import QApplication

from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from tests.test_ui_support import (
    PASSWORD,
    TEST_PHRASE,
    TEST_PHRASE_ADDRESS,
    chain_context,
    market_client,
    shown_page,
    wait_idle,
)
from tests.verify_fixtures import DEMO, REWARD, end_and_reveal, honest_round
from ui import theme
from ui.pages.bounties import BountiesPage, details_html, load_details
from ui.pages.rewards import RewardsPage
from wallet.bounties import BountyClient
from wallet.contribute import contribute
from wallet.vault import Vault

SCREENSHOT = Path("/tmp/quarry-rewards-verify.png")


@pytest.fixture(scope="module")
def app_on_market(tmp_path_factory):
    """Built once: both tests look at the same finalised rounds (and a wallet's nonce memory
    belongs to one chain)."""
    quarry_home = tmp_path_factory.mktemp("quarry-home")
    tmp_path = tmp_path_factory.mktemp("other-owner")
    market, session, private_key = practitioner_on_market(quarry_home / "practitioner")  # file:// blobs inside the home
    market.mint(session.signer.address, 100 * TOKEN_UNIT)
    spec_path = DEMO / "breast_cancer_spec.json"
    validation = [str(DEMO / "breast_cancer_validation.csv")]
    bounties = {}
    for name in ("honest", "payouts", "private", "revealed"):
        raw = read_spec_file(spec_path)
        if name == "private":
            raw["verifiable"] = False
        bounties[name] = post_bounty(session, spec_path, raw_spec=raw, validation_files=validation,
                                     reward_per_round=REWARD, rounds=2, round_seconds=600,
                                     allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.unlock(PASSWORD)
    send_eth = market.w3.eth.send_transaction({"from": market.chain.accounts[0], "to": TEST_PHRASE_ADDRESS,
                                               "value": 10 * 10**18})
    market.w3.eth.wait_for_transaction_receipt(send_eth)
    ctx = chain_context(quarry_home, vault, market)
    client = market_client(ctx, market)
    owner = vault.signer(TEST_PHRASE_ADDRESS)
    other = Account.create()
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": market.chain.accounts[0], "to": other.address, "value": 10 * 10**18}))
    for bounty_id in bounties.values():
        contribute(client, owner, bounty_id, [DEMO / "breast_cancer_owner_a.csv"], file_roots=[quarry_home],
                   blob_dir=quarry_home / "blobs")
        contribute(client, other, bounty_id, [DEMO / "breast_cancer_owner_b.csv"], file_roots=[quarry_home],
                   blob_dir=tmp_path / "blobs")
    market.chain.advance(601)
    world = {"session": session, "key": private_key, "client": client, "owners": [owner, other],
             "market": market}

    def inflate(report):  # the report says the wallet's owner got more than the chain paid
        report["contributors"][0]["amount"] = str(int(report["contributors"][0]["amount"]) + 1)
        report["paid"] = str(int(report["paid"]) + 1)

    honest_round(world, bounties["honest"])
    honest_round(world, bounties["payouts"], doctor=inflate)
    honest_round(world, bounties["private"])
    honest_round(world, bounties["revealed"])
    end_and_reveal(world, bounties["revealed"])
    yield ctx, bounties, session
    vault.close()


def test_rewards_page_shows_each_rounds_check(qtbot, app_on_market):
    ctx, bounties, _session = app_on_market
    theme.apply_theme(QApplication.instance(), "light")
    page = RewardsPage(ctx)
    shown_page(qtbot, page, (1280, 640))
    try:
        qtbot.waitUntil(lambda: page.model.rowCount() == 4
                        and all(page.model.row_at(i).get("check") is not None for i in range(4)), timeout=20_000)
    except Exception:
        print("DEBUG", page.banner.text, page.model.rowCount(), [page.model.row_at(i).get("check_note") for i in range(page.model.rowCount())])
        raise
    wait_idle(qtbot, ctx)
    checks = {page.model.row_at(i)["bounty_id"]: page.model.row_at(i)["check"] for i in range(4)}
    assert checks[bounties["honest"]].status_text == "Not yet revealed", checks[bounties["honest"]].detail
    assert checks[bounties["payouts"]].status_text == "Mismatch"
    assert checks[bounties["private"]].status_text == "Not verifiable"
    assert checks[bounties["revealed"]].status_text == "Verified", checks[bounties["revealed"]].detail
    column = [c.title for c in page.model.columns].index("Check")
    shown = {page.model.row_at(i)["bounty_id"]: page.model.index(i, column).data() for i in range(4)}
    assert shown[bounties["payouts"]] == "Mismatch" and shown[bounties["honest"]] == "Not yet revealed"
    # the ended bounty's leftover (round 0 kept part of its pot; its closing round recorded no
    # credits): the owner's share, and how it was reckoned
    assert page.leftover_label.isVisible()
    leftover = page.leftover_label.text()
    assert re.fullmatch(rf"Bounty {bounties['revealed']} ended with a leftover; your share: [0-9.]+ QDT "
                        r"\(claimable\), in proportion to your pay \(no credits were recorded\)\.", leftover), leftover
    # the selected round's report says what differs
    row = next(i for i in range(page.proxy.rowCount()) if page.proxy.row(i)["bounty_id"] == bounties["payouts"])
    page.table.selectRow(row)
    text = page.report.toPlainText()
    assert "Mismatch" in text and "Payouts:" in text and TEST_PHRASE_ADDRESS.lower() in text
    page.grab().save(str(SCREENSHOT))


def test_bounty_detail_shows_verifiability_and_track_record(qtbot, app_on_market):
    ctx, bounties, session = app_on_market
    client = BountyClient(ctx.chain.w3, ctx.chain.network.board, ctx.chain.chain_id, ctx.store, "test", file_roots=None)
    details, record, problem = load_details(client, bounties["private"], TEST_PHRASE_ADDRESS, {})
    assert problem is None and record.bounties_posted == 4 and record.not_verifiable == 1
    assert record.rounds_finalised == 5 and record.reveals_made == 1
    text = details_html(details, TEST_PHRASE_ADDRESS, record)
    assert "keeps its validation set private" in text and "Practitioner's track record" in text
    assert "What the chain guarantees" in text and "paying addresses it controls" in text
    assert "<b>Checked.</b> Your wallet holds every round report to the protocol" in text
    # a bounty posted before the checked rules says what the wallet does not check
    from wallet.bounties import valuation_rules_text

    older, loose = valuation_rules_text({key: v for key, v in details.spec.items() if key != "valuation_rules"})
    assert loose and older.startswith("posted before the checked rules") and "your pay factor" in older
    assert valuation_rules_text({"valuation_rules": True})[1]  # not a number of rules
    assert "a proof of any copy claim" in valuation_rules_text({"valuation_rules": 2})[0]
    assert "under a key proven well formed" not in valuation_rules_text({"valuation_rules": 2})[0]
    assert "a proof of any copy claim against your update, under a key proven well formed" in text  # posted now
    assert "checks, before you train, that the practitioner's encryption key is well formed" in text
    assert "in order only" in valuation_rules_text({"valuation_rules": 1})[0]
    page = BountiesPage(ctx)
    shown_page(qtbot, page, (1280, 700), rows=4)
    column = [c.title for c in page.model.columns].index("Verifiable")
    by_id = {page.model.row_at(i)["id"]: page.model.index(i, column).data() for i in range(4)}
    assert by_id[bounties["private"]] == "No" and by_id[bounties["honest"]] == "Yes"
    assert page.select_bounty(bounties["private"])
    qtbot.waitUntil(lambda: "track record" in page.detail.toPlainText(), timeout=30_000)
    wait_idle(qtbot, ctx)
    assert "Posted as not verifiable" in page.detail.toPlainText()
    page.detail.verticalScrollBar().setValue(page.detail.verticalScrollBar().maximum())
    page.grab().save("/tmp/quarry-bounty-track-record.png")


def test_recover_sent_updates_from_the_rewards_page(qtbot, app_on_market):
    """A wallet restored on another computer holds no tokens for its copy proofs and openings:
    the Rewards page's "Recover sent updates" asks for them back off the GUI thread (here a
    file:// market: the blob files the chain names), only with the wallet unlocked, and says
    what it got."""
    from wallet.kept_updates import KEPT_DIR

    ctx, _bounties, _session = app_on_market
    tokens = sorted((ctx.home / KEPT_DIR).rglob(f"{TEST_PHRASE_ADDRESS.lower()}-*.proof-token"))
    assert len(tokens) == 4
    kept = {path: path.read_text() for path in tokens}
    for path in tokens:
        path.unlink()
    page = RewardsPage(ctx)
    shown_page(qtbot, page, (1280, 640))
    qtbot.waitUntil(lambda: page.model.rowCount() == 4, timeout=20_000)
    wait_idle(qtbot, ctx)
    ctx.vault.lock()
    try:
        page.recover_button.click()
        assert "Unlock the wallet to recover sent updates" in page.banner.text
    finally:
        ctx.vault.unlock(PASSWORD)
    page.recover_button.click()
    assert not page.recover_button.isEnabled()  # the work runs off the GUI thread
    qtbot.waitUntil(lambda: page.recover_button.isEnabled(), timeout=30_000)
    assert page.banner.text == "Got 4 update(s) back; their rounds are checked again.", page.banner.text
    assert {path: path.read_text() for path in tokens} == kept
    wait_idle(qtbot, ctx)
    page.recover_button.click()
    qtbot.waitUntil(lambda: page.recover_button.isEnabled(), timeout=30_000)
    assert page.banner.text.startswith("Nothing to get back")
    page.grab().save("/tmp/quarry-rewards-recover.png")
