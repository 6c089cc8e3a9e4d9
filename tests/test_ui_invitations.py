"""A bounty by invitation on the Bounties page, offscreen on a real EVM: it says so, Accept
waits for an invitation, a wrong file is refused with its reason, the right one is checked
against the chain (off the GUI thread) and kept, and Accept is then enabled; an invitation
code is redeemed at the practitioner's inbox from the code dialog."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from eth_account import Account
from PySide6.QtWidgets import QApplication

from practitioner.admission import InboxPolicy
from practitioner.evaluate import load_spec
from practitioner.inbox import InboxServer
from practitioner.invitations import invite, invited_addresses, make_codes
from practitioner.post import post_bounty
from tests.practitioner_fixtures import practitioner_on_market
from tests.test_ui_support import (
    PASSWORD,
    TEST_PHRASE,
    TEST_PHRASE_ADDRESS,
    chain_context,
    shown_page,
    wait_idle,
)
from ui import theme
from ui.pages.bounties import BountiesPage
from wallet.vault import Vault

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"


def _post_by_invitation(session) -> int:
    return post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                       reward_per_round=10**18, rounds=2, round_seconds=600, by_invitation=True).bounty_id


def _bounties_page(qtbot, quarry_home, market):
    """(context, the Bounties page shown) for the test phrase's wallet on `market`."""
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.unlock(PASSWORD)
    ctx = chain_context(quarry_home, vault, market)
    theme.apply_theme(QApplication.instance(), "light")
    page = BountiesPage(ctx)
    shown_page(qtbot, page, (1280, 760), rows=1)
    return ctx, page


def test_accept_waits_for_an_invitation_and_a_wrong_one_is_refused(qtbot, quarry_home, tmp_path):
    market, session, _key = practitioner_on_market(quarry_home / "practitioner")
    bounty_id = _post_by_invitation(session)
    spec = load_spec(session, bounty_id)
    stranger = Account.create().address
    (mine,) = invite(session, spec, bounty_id, [TEST_PHRASE_ADDRESS], tmp_path / "mine")
    (theirs,) = invite(session, spec, bounty_id, [stranger], tmp_path / "theirs")
    ctx, page = _bounties_page(qtbot, quarry_home, market)
    column = [c.title for c in page.model.columns].index("Open to")
    assert page.model.index(0, column).data() == "Invited"
    assert page.select_bounty(bounty_id)
    qtbot.waitUntil(lambda: "Who is paid" in page.detail.toPlainText(), timeout=30_000)
    text = page.detail.toPlainText()
    assert "By invitation." in text and session.signer.address in text and "no invitation yet" in text
    assert page.invite_button.isVisible() and not page.accept_button.isEnabled()
    assert "This bounty is by invitation" in page.detail_banner.text
    wait_idle(qtbot, ctx)
    page.grab().save("/tmp/quarry-bounty-by-invitation.png")

    page.add_invitation_file(str(theirs))  # someone else's invitation
    qtbot.waitUntil(lambda: f"not for {TEST_PHRASE_ADDRESS}" in page.detail_banner.text, timeout=30_000)
    assert not page.accept_button.isEnabled() and page.invite_button.isEnabled()
    page.add_invitation_file(str(tmp_path / "missing.json"))
    qtbot.waitUntil(lambda: "Cannot read" in page.detail_banner.text, timeout=30_000)

    page.add_invitation_file(str(mine))
    qtbot.waitUntil(lambda: page.accept_button.isEnabled(), timeout=30_000)
    assert "; invited" in page.detail.toPlainText() and not page.invite_button.isVisible()
    wait_idle(qtbot, ctx)
    page.grab().save("/tmp/quarry-bounty-invited.png")


def test_an_invitation_code_is_redeemed_from_the_bounty_page(qtbot, quarry_home, tmp_path):
    """The code dialog: a mistyped code is refused in it before anything is sent, an unknown
    one with the inbox's reason; the right one is redeemed at the practitioner's inbox (a real
    server on 127.0.0.1, off the GUI thread), the dialog closes and Accept is enabled."""
    market, session, _key = practitioner_on_market(quarry_home / "practitioner")
    policy = InboxPolicy(session)
    inbox = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir, admit=policy.admit_upload,
                        redeem=policy.redeem_invitation).start()
    try:
        session.inbox_url = inbox.url
        bounty_id = _post_by_invitation(session)
        (code,) = make_codes(session, load_spec(session, bounty_id), bounty_id, 1)
        ctx, page = _bounties_page(qtbot, quarry_home, market)
        assert page.select_bounty(bounty_id)
        qtbot.waitUntil(lambda: page.invite_button.isVisible(), timeout=30_000)
        assert not page.accept_button.isEnabled()

        dialog = page.choose_invitation()
        qtbot.waitUntil(dialog.isVisible)
        dialog.code.setText("ABCDE-12345")
        dialog.ok_button.click()
        assert "This is not an invitation code" in dialog.banner.text and dialog.ok_button.isEnabled()
        dialog.code.setText("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA")
        dialog.ok_button.click()
        qtbot.waitUntil(lambda: "does not know this code" in dialog.banner.text, timeout=30_000)
        assert dialog.isVisible() and dialog.ok_button.isEnabled() and not page.accept_button.isEnabled()
        dialog.code.setText(code)
        dialog.grab().save("/tmp/quarry-invitation-code.png")
        dialog.ok_button.click()
        qtbot.waitUntil(lambda: page.accept_button.isEnabled(), timeout=30_000)
        assert not shiboken6.isValid(dialog)  # closed (and deleted: it held a secret)
        assert "; invited" in page.detail.toPlainText()
        assert f"Invitation to bounty {bounty_id} added" in page.detail_banner.text
        assert TEST_PHRASE_ADDRESS.lower() in invited_addresses(session, load_spec(session, bounty_id), bounty_id)
        wait_idle(qtbot, ctx)
    finally:
        inbox.stop()
