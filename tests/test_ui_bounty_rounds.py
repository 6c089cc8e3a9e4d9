"""Bounties, Rewards and the contribution flow, offscreen on a real EVM (py-evm) with real
Paillier: each bounty's own token (a 6-decimals TestToken, a look-alike "QDT"), the Expire
button on a round whose grace period passed, and an update whose round moved on while it was
built (refused; the flow offers to train again for the current round)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from practitioner.post import post_bounty
from tests.chain_fixtures import GRACE_PERIOD, TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from tests.test_ui_support import (
    PASSWORD,
    TEST_PHRASE,
    TEST_PHRASE_ADDRESS,
    chain_context,
    market_client,
    shown_contribute_flow,
    shown_page,
    wait_idle,
)
from tests.token_fixtures import deploy_test_token
from ui import theme
from ui.pages.bounties import BountiesPage
from ui.pages.rewards import RewardsPage
from ui.pages.wallet import WalletPage
from wallet.contribute import contribute
from wallet.token import short_address
from wallet.vault import Vault

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
SPEC = DEMO / "breast_cancer_spec.json"
VALIDATION = [str(DEMO / "breast_cancer_validation.csv")]
OWNER_FILE = DEMO / "breast_cancer_owner_a.csv"


def _world(home: Path):
    """A market, a practitioner posting in QDT, in a 6-decimals TUSD and in a look-alike QDT,
    and the app's context with the wallet's own account (unlocked, with ETH)."""
    market, session, _key = practitioner_on_market(home / "practitioner")  # file:// blobs inside the home
    deployer = market.chain.accounts[0]
    dollars = deploy_test_token(market.w3, deployer, "Test Dollar", "TUSD", 6)
    lookalike = deploy_test_token(market.w3, deployer, "Quarry Data Token", "QDT", 18)
    for token in (dollars, lookalike):
        market.w3.eth.wait_for_transaction_receipt(
            token.functions.mint(session.signer.address, 1000 * TOKEN_UNIT).transact({"from": deployer}))

    def post(token: str | None, reward: int) -> int:
        return post_bounty(session, SPEC, validation_files=VALIDATION, reward_per_round=reward, rounds=2,
                           round_seconds=600, token=token).bounty_id

    bounties = {"qdt": post(None, TOKEN_UNIT), "tusd": post(dollars.address, 2_500_000),
                "fake": post(lookalike.address, 10 * TOKEN_UNIT)}
    vault, _info = Vault.import_mnemonic(home, TEST_PHRASE, PASSWORD)
    vault.unlock(PASSWORD)
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": deployer, "to": TEST_PHRASE_ADDRESS, "value": 10 * 10**18}))
    ctx = chain_context(home, vault, market)
    client = market_client(ctx, market)
    return market, session, ctx, vault, client, bounties, dollars, lookalike


def _mine(market) -> None:
    """A block at the travelled-to time, so the chain's clock (latest block) shows it."""
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": market.chain.accounts[0], "to": market.chain.accounts[1], "value": 1}))


def test_each_bounty_shows_its_own_token_and_an_expire_button_after_the_grace_period(qtbot, quarry_home):
    market, session, ctx, vault, client, bounties, dollars, lookalike = _world(quarry_home)
    theme.apply_theme(QApplication.instance(), "light")
    owner = vault.signer(TEST_PHRASE_ADDRESS)
    contribute(client, owner, bounties["tusd"], [OWNER_FILE], file_roots=[quarry_home],
               blob_dir=quarry_home / "blobs")
    page = BountiesPage(ctx)
    shown_page(qtbot, page, (1280, 720), rows=3)
    column = [c.title for c in page.model.columns].index("Reward / round")
    shown = {page.model.row_at(i)["id"]: page.model.index(i, column).data() for i in range(3)}
    assert shown[bounties["qdt"]] == "1 QDT"
    assert shown[bounties["tusd"]] == f"2.5 TUSD ⚠ {short_address(dollars.address)}"
    assert shown[bounties["fake"]] == f"10 QDT ⚠ {short_address(lookalike.address)}"
    tip = page.model.index(next(i for i in range(3) if page.model.row_at(i)["id"] == bounties["fake"]),
                           column).data(Qt.ItemDataRole.ToolTipRole)
    assert "Unverified token" in tip and lookalike.address in tip
    assert page.select_bounty(bounties["fake"])
    qtbot.waitUntil(lambda: "Practitioner" in page.detail.toPlainText(), timeout=30_000)
    text = page.detail.toPlainText()
    assert "Paid in a token this network does not list" in text and lookalike.address in text
    assert not page.expire_button.isVisible()
    wait_idle(qtbot, ctx)
    page.grab().save("/tmp/quarry-bounty-unlisted-token.png")

    # the practitioner never scores round 1 of the TUSD bounty: after the grace period, Expire
    market.chain.travel_to(client.bounty(bounties["tusd"]).round_deadline + GRACE_PERIOD + 1)
    _mine(market)
    assert page.select_bounty(bounties["tusd"])
    qtbot.waitUntil(lambda: page.expire_button.isVisible(), timeout=30_000)
    assert page.expire_button.text() == "Expire round 1 of 2" and page.expire_button.isEnabled()
    assert "did not score round 1 within the grace period" in page.detail_banner.text
    page.grab().save("/tmp/quarry-bounty-expire-button.png")
    page.expire_button.click()
    qtbot.waitUntil(lambda: "expired (transaction 0x" in page.detail_banner.text, timeout=30_000)
    assert client.rounds(client.bounty(bounties["tusd"]))[0]["state"] == "expired"
    assert not page.expire_button.isVisible()
    page.grab().save("/tmp/quarry-bounty-expired.png")
    wait_idle(qtbot, ctx)

    # round 2 is scored: the owner's reward shows in TUSD with 6 decimals, marked unlisted
    contribute(client, owner, bounties["tusd"], [OWNER_FILE], file_roots=[quarry_home],
               blob_dir=quarry_home / "blobs")
    market.chain.travel_to(client.bounty(bounties["tusd"]).round_deadline)
    session.client.finalize(bounties["tusd"], 1, [owner.address], [1_250_000], "0x" + "11" * 32,
                            "file:///next", "0x" + "22" * 32, "file:///report")
    rewards = RewardsPage(ctx)
    shown_page(qtbot, rewards, (1280, 640), rows=2)
    column = [c.title for c in rewards.model.columns].index("Earned")
    earned = {rewards.model.row_at(i)["round"]: rewards.model.index(i, column).data() for i in range(2)}
    assert earned[1] == f"1.25 TUSD ⚠ {short_address(dollars.address)}"
    assert "TUSD (unverified token" in rewards.claimable_label.text()
    wait_idle(qtbot, ctx)
    rewards.grab().save("/tmp/quarry-rewards-tokens.png")

    # the wallet's history says the reward in TUSD too
    wallet = WalletPage(ctx)
    shown_page(qtbot, wallet, (1280, 640))
    wallet.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: any("Reward assigned" in wallet.history_proxy.row(i)["description"]
                                for i in range(wallet.history_proxy.rowCount())), timeout=30_000)
    amounts = [wallet.history_proxy.row(i)["amount_text"] for i in range(wallet.history_proxy.rowCount())]
    assert f"+1.25 TUSD (unverified token {short_address(dollars.address)})" in amounts
    wait_idle(qtbot, ctx)
    wallet.grab().save("/tmp/quarry-wallet-history-tokens.png")
    vault.close()


def test_an_update_for_a_round_that_moved_on_offers_to_train_again(qtbot, quarry_home):
    market, session, ctx, vault, client, bounties, _dollars, _lookalike = _world(quarry_home)
    theme.apply_theme(QApplication.instance(), "light")
    bounty_id = bounties["qdt"]
    # an account of its own: the wallet remembers nonces per node and address across tests
    account = vault.import_private_key(Account.create().key, PASSWORD).address
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": market.chain.accounts[0], "to": account, "value": 10 * 10**18}))
    flow = shown_contribute_flow(qtbot, ctx, (1100, 720))
    flow.start(client.show(bounty_id, account), account)
    flow.set_files([str(OWNER_FILE)])

    def build_update() -> None:
        flow.check_files()
        qtbot.waitUntil(lambda: flow.to_training.isEnabled(), timeout=30_000)
        flow.go(1)
        flow.epochs.setValue(1)
        flow.start_training()
        qtbot.waitUntil(lambda: flow.to_privacy.isEnabled(), timeout=60_000)
        flow.go(2)
        flow.set_mode("none")  # no noise: these tests are about rounds, not privacy
        flow.start_encryption()
        qtbot.waitUntil(lambda: flow.steps.currentIndex() == 4, timeout=60_000)

    build_update()
    assert flow.prepared.bounty.current_round == 0
    # meanwhile round 1 of 2 closes and the practitioner scores it: round 2 is open
    market.chain.travel_to(client.bounty(bounty_id).round_deadline)
    first = client.rounds(client.bounty(bounty_id))[0]  # nobody contributed: the model stays
    session.client.finalize(bounty_id, 0, [], [], first["model_hash"], first["model_uri"], "0x" + "22" * 32,
                            "file:///report")
    flow.submit_button.click()
    qtbot.waitUntil(lambda: flow.retrain_button.isVisible(), timeout=30_000)
    assert flow.banner.text == ("This update was built for round 1 of 2, which has closed; round 2 of 2 is "
                                "open now. Nothing was sent. Train again on the current round's model.")
    assert flow.retrain_button.text() == "Train again for round 2 of 2"
    assert not flow.submit_button.isVisible() and flow.blob is None
    assert client.submission(bounty_id, 1, account) is None
    flow.grab().save("/tmp/quarry-contribute-stale-round.png")

    flow.retrain_button.click()
    qtbot.waitUntil(lambda: flow.steps.currentIndex() == 1 and flow.prepared.bounty.current_round == 1,
                    timeout=30_000)
    assert "Round 2 of 2 is open" in flow.banner.text
    flow.epochs.setValue(1)
    flow.start_training()
    qtbot.waitUntil(lambda: flow.to_privacy.isEnabled(), timeout=60_000)
    flow.go(2)
    flow.set_mode("none")  # no noise: these tests are about rounds, not privacy
    flow.start_encryption()
    qtbot.waitUntil(lambda: flow.steps.currentIndex() == 4, timeout=60_000)
    flow.submit_button.click()
    qtbot.waitUntil(lambda: flow.result is not None or "rror" in flow.banner.text, timeout=60_000)
    assert flow.result is not None, flow.banner.text
    mine = client.submission(bounty_id, 1, account)
    assert mine is not None and mine["blob_hash"] == flow.result["blob_hash"]
    wait_idle(qtbot, ctx)
    vault.close()


@pytest.fixture(autouse=True)
def _light_theme():
    yield
    theme.apply_theme(QApplication.instance(), "light")


def test_an_upload_that_fails_after_the_commit_can_be_retried(qtbot, quarry_home):
    from practitioner.admission import InboxPolicy
    from practitioner.inbox import InboxServer

    market, session, ctx, vault, client, _bounties, _dollars, _lookalike = _world(quarry_home)
    theme.apply_theme(QApplication.instance(), "light")
    policy = InboxPolicy(session)
    # the inbox serves the spec (twice: detail and check) and the model, then rate-limits the upload
    busy = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir,
                       admit=policy.admit_upload, burst=3, rate=0.001).start()
    session.inbox_url = busy.url
    bounty_id = post_bounty(session, SPEC, validation_files=VALIDATION, reward_per_round=TOKEN_UNIT,
                            rounds=1, round_seconds=600).bounty_id
    account = vault.import_private_key(Account.create().key, PASSWORD).address
    market.w3.eth.wait_for_transaction_receipt(market.w3.eth.send_transaction(
        {"from": market.chain.accounts[0], "to": account, "value": 10 * 10**18}))
    flow = shown_contribute_flow(qtbot, ctx, (1100, 720))
    try:
        flow.start(client.show(bounty_id, account), account)
        flow.set_files([str(OWNER_FILE)])
        flow.check_files()
        qtbot.waitUntil(lambda: flow.to_training.isEnabled(), timeout=30_000)
        flow.go(1)
        flow.epochs.setValue(1)
        flow.start_training()
        qtbot.waitUntil(lambda: flow.to_privacy.isEnabled(), timeout=60_000)
        flow.go(2)
        flow.set_mode("none")  # no noise: these tests are about rounds, not privacy
        flow.start_encryption()
        qtbot.waitUntil(lambda: flow.steps.currentIndex() == 4, timeout=60_000)
        flow.submit_button.click()
        qtbot.waitUntil(lambda: flow.result is not None or "rror" in flow.banner.text, timeout=60_000)
        assert flow.result is not None, flow.banner.text
        digest = flow.result["blob_hash"]
        assert client.submission(bounty_id, 0, account)["blob_hash"] == digest  # committed
        assert flow.retry_upload_button.isVisible() and "the upload failed" in flow.banner.text
        assert "retries it every minute" in flow.banner.text and "5 minutes after the round closes" in flow.banner.text
        assert not (session.home.upload_dir / digest).exists()
        flow.grab().save("/tmp/quarry-contribute-upload-failed.png")
        port = busy.server_address[1]
    finally:
        busy.stop()
    back = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir, port=port,
                       admit=policy.admit_upload).start()
    try:
        flow.retry_upload_button.click()
        qtbot.waitUntil(lambda: "Uploaded" in flow.banner.text, timeout=30_000)
    finally:
        back.stop()
    assert (session.home.upload_dir / digest).is_file() and not flow.retry_upload_button.isVisible()
    assert list((quarry_home / "outbox").iterdir()) == []
    wait_idle(qtbot, ctx)
    vault.close()
