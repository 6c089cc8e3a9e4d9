"""Window shell: shortcuts, remembered size and page, theme, network settings against anvil,
clear messages for a node that is down or on the wrong chain, spec-mismatch warning."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from tests.anvil import ANVIL_CHAIN_ID, free_port, start_anvil
from tests.test_ui_support import PASSWORD, TEST_PHRASE, make_flow, wait_idle
from ui import network_link, theme
from ui.context import UI_PAGE, UI_THEME
from ui.pages.bounties import details_html
from wallet.bounties import Bounty, BountyDetails
from wallet.vault import Vault


def _unlocked(qtbot, home):
    vault, _info = Vault.import_mnemonic(home, TEST_PHRASE, PASSWORD)
    vault.close()
    flow = make_flow(qtbot, home)
    window = flow.window
    window.lock_screen.password.setText(PASSWORD)
    window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell", timeout=20_000)
    return flow


def test_shortcuts_and_remembered_page_and_size(qtbot, quarry_home):
    flow = _unlocked(qtbot, quarry_home)
    window = flow.window
    window.raise_()
    window.activateWindow()  # window shortcuts need the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.shell.stack.currentWidget() is window.page("bounties")
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert window.shell.stack.currentWidget() is window.page("settings")
    assert flow.ctx.store.get_setting(UI_PAGE) == "settings"
    window.resize(1100, 730)
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.mode() == "locked" and not flow.ctx.vault.is_unlocked
    window.close()  # saves the geometry
    again = make_flow(qtbot, quarry_home)
    again.window.lock_screen.password.setText(PASSWORD)
    again.window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: again.window.mode() == "shell", timeout=20_000)
    assert (again.window.size().width(), again.window.size().height()) == (1100, 730)
    assert again.window.shell.stack.currentWidget() is again.window.page("settings")
    # Every navigation button and the lock button have accessible names.
    names = [b.accessibleName() for b in again.window.shell.nav_buttons.values()]
    assert names == ["Go to Wallet", "Go to Bounties", "Go to Rewards", "Go to Standing", "Go to Settings"]


def test_dark_theme_is_applied_and_remembered(qtbot, quarry_home):
    flow = _unlocked(qtbot, quarry_home)
    settings = flow.window.page("settings")
    flow.window.show_page("settings")
    settings.refresh()
    settings.theme_choice.setCurrentIndex(settings.theme_choice.findData("dark"))
    window_color = QApplication.instance().palette().color(QPalette.ColorRole.Window).name()
    assert window_color == theme.DARK.window
    # Button icons follow: the sidebar's wallet icon is now drawn in the dark text colour.
    image = flow.window.shell.nav_buttons["wallet"].icon().pixmap(20, 20).toImage()
    colours = {image.pixelColor(x, y).name() for x in range(image.width())
               for y in range(image.height()) if image.pixelColor(x, y).alpha() == 255}
    assert theme.DARK.text in colours and theme.LIGHT.text not in colours
    assert flow.ctx.store.get_setting(UI_THEME) == "dark"
    settings.theme_choice.setCurrentIndex(settings.theme_choice.findData("light"))
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).name() == theme.LIGHT.window


def test_rpc_network_chain_id_check_and_node_down(qtbot, quarry_home):
    flow = _unlocked(qtbot, quarry_home)
    ctx = flow.ctx
    settings = flow.window.page("settings")
    flow.window.show_page("settings")
    settings.refresh()
    settings.network_choice.setCurrentIndex(1)
    # Nothing listens there: one clear line, no traceback.
    settings.rpc_url.setText(f"http://127.0.0.1:{free_port()}")
    settings.chain_id.setValue(ANVIL_CHAIN_ID)
    settings.network_apply.click()
    qtbot.waitUntil(lambda: settings.banner.isVisible(), timeout=30_000)
    assert "Cannot reach" in settings.banner.text and "Traceback" not in settings.banner.text
    qtbot.waitUntil(lambda: ctx.network.state == "error", timeout=30_000)
    bounties = flow.window.page("bounties")
    flow.window.show_page("bounties")
    bounties.refresh()
    assert "Not connected: Cannot reach" in bounties.banner.text
    flow.window.show_page("settings")
    with start_anvil() as url:
        settings.rpc_url.setText(url)
        settings.chain_id.setValue(1)
        settings.network_apply.click()
        qtbot.waitUntil(lambda: f"chain {ANVIL_CHAIN_ID}" in ctx.network.text, timeout=30_000)
        assert ctx.network.state == "error" and "configured for chain 1" in ctx.network.text
        assert ctx.chain is None
        settings.chain_id.setValue(ANVIL_CHAIN_ID)
        settings.network_apply.click()
        qtbot.waitUntil(lambda: ctx.network.state == "ok", timeout=30_000)
        assert ctx.chain.chain_id == ANVIL_CHAIN_ID and not ctx.chain.network.is_embedded
        assert flow.window.network_indicator.text.text() == network_link.describe(ctx.chain.network)
        wallet = flow.window.page("wallet")
        flow.window.show_page("wallet")
        wallet.refresh()
        qtbot.waitUntil(lambda: wallet.eth_balance.text() != "–", timeout=30_000)
        assert not wallet.faucet_button.isVisible()  # only the embedded network has a faucet
        wait_idle(qtbot, ctx)


def test_spec_hash_mismatch_is_a_warning():
    bounty = Bounty(id=4, owner="0x" + "11" * 20, token="0x" + "22" * 20, reward_per_round=10**18,
                    rounds=2, round_duration=600, max_contributors=10, spec_hash="0x" + "ab" * 32,
                    spec_uri="file:///nowhere", current_round=0, status="open", escrow=2 * 10**18,
                    round_deadline=2_000_000_000, round_submissions=0, round_state="open",
                    phase="accepting")
    problem = "The spec at file:///nowhere does not match the hash committed on chain"
    text = details_html(BountyDetails(bounty, [], None, False, problem), None)
    assert "⚠" in text and "does not match" in text and "Spec verified" not in text


def test_app_entry_builds_onboarding_with_the_stored_theme(qtbot, quarry_home):
    from ui.app import build_window
    from wallet.store import Store

    Store(quarry_home).set_setting(UI_THEME, "dark")
    app = QApplication.instance()
    window = build_window(quarry_home, app, start_network=False)
    qtbot.addWidget(window)
    try:
        assert window.mode() == "onboarding"
        assert app.palette().color(QPalette.ColorRole.Window).name() == theme.DARK.window
    finally:
        theme.apply_theme(app, "light")


def test_ui_layer_does_not_import_practitioner():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    modules = sorted(f"ui.{p.stem}" for p in (root / "ui").glob("*.py") if p.stem != "__init__")
    modules += sorted(f"ui.pages.{p.stem}" for p in (root / "ui" / "pages").glob("*.py")
                      if p.stem != "__init__")
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'practitioner')\n"
            "assert not bad, bad\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env, timeout=120)


def test_text_from_a_bounty_is_never_interpreted_as_html(qtbot):
    from PySide6.QtCore import Qt as QtNs

    from ui.widgets import Banner

    bounty = Bounty(id=5, owner="0x" + "11" * 20, token="0x" + "22" * 20, reward_per_round=1,
                    rounds=1, round_duration=600, max_contributors=10, spec_hash="0x" + "ab" * 32,
                    spec_uri="file:///x", current_round=0, status="open", escrow=1,
                    round_deadline=2_000_000_000, round_submissions=0, round_state="open",
                    phase="accepting")
    spec = {"title": "<a href='x'>Click</a>", "description": "<img src='http://evil/x.png'>",
            "schema": {"columns": [{"name": "<b>c</b>"}], "label": "l", "classes": [0, 1]}}
    text = details_html(BountyDetails(bounty, [], spec, True, None), None)
    assert "<a href" not in text and "<img" not in text and "<b>c</b>" not in text
    assert "&lt;a href=" in text and "&lt;img" in text
    banner = Banner()
    qtbot.addWidget(banner)
    banner.error("Reverted: <b>owned</b>")
    assert banner._text.textFormat() == QtNs.TextFormat.PlainText  # noqa: SLF001


def test_a_bounty_that_opens_its_updates_says_so_and_one_that_does_not_says_nothing():
    bounty = Bounty(id=6, owner="0x" + "11" * 20, token="0x" + "22" * 20, reward_per_round=1,
                    rounds=1, round_duration=600, max_contributors=10, spec_hash="0x" + "ab" * 32,
                    spec_uri="file:///x", current_round=0, status="open", escrow=1,
                    round_deadline=2_000_000_000, round_submissions=0, round_state="open",
                    phase="accepting")
    spec = {"title": "t", "description": "d", "valuation_rules": 2,
            "schema": {"columns": [{"name": "c"}], "label": "l", "classes": [0, 1]}}
    closed = details_html(BountyDetails(bounty, [], spec, True, None), None)
    opened = details_html(BountyDetails(bounty, [], {**spec, "open_updates": True}, True, None), None)
    assert "Opened at the reveal" not in closed
    assert "Opened at the reveal" in opened and "see your update too" in opened
