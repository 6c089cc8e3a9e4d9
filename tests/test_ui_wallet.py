"""Wallet page on a real in-process embedded network: faucet, balances, receive, send, history."""

from __future__ import annotations

import pytest
from eth_account import Account
from PySide6.QtGui import QGuiApplication

from devnet.config import CHAIN_ID
from devnet.server_info import devnet_dir
from tests.anvil import start_devnet
from tests.test_ui_support import (
    PASSWORD,
    TEST_PHRASE,
    TEST_PHRASE_ADDRESS,
    make_flow,
    wait_idle,
)
from wallet import token as tokens
from wallet.network import use_network
from wallet.store import Store
from wallet.vault import Vault


@pytest.fixture
def devnet_home(quarry_home):
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.close()
    with start_devnet(devnet_dir(quarry_home)) as node:
        yield quarry_home, node


def unlocked_window(qtbot, home):
    flow = make_flow(qtbot, home, start_network=True)
    window = flow.window
    window.lock_screen.password.setText(PASSWORD)
    window.lock_screen.unlock_button.click()
    qtbot.waitUntil(lambda: window.mode() == "shell" and flow.ctx.chain is not None,
                    timeout=30_000)
    return flow


def test_faucet_balances_receive_send_history(qtbot, devnet_home):
    home, node = devnet_home
    flow = unlocked_window(qtbot, home)
    window, ctx = flow.window, flow.ctx
    assert window.network_indicator.text.text().startswith("Embedded network")
    window.show_page("wallet")
    page = window.page("wallet")
    page.refresh()
    assert page.current_address() == TEST_PHRASE_ADDRESS
    assert page.address_label.text() == TEST_PHRASE_ADDRESS
    assert not page.qr.pixmap().isNull()
    page.copy_button.click()
    assert QGuiApplication.clipboard().text() == TEST_PHRASE_ADDRESS

    # A new account on the embedded network is funded once, by itself.
    qtbot.waitUntil(lambda: page.token_balance.text() == "1000", timeout=30_000)
    assert page.eth_balance.text() == "10" and "faucet" in page.banner.text
    funded = ctx.store.get_setting("faucet_funded")
    assert len(funded) == 1 and funded[0].endswith(TEST_PHRASE_ADDRESS)
    # Asking again by hand: the faucet's own limit, as one clear line.
    page.faucet_button.click()
    qtbot.waitUntil(lambda: "already funded" in page.banner.text, timeout=30_000)
    page.banner.clear()

    # Bad input first: one clear message, nothing sent.
    recipient = Account.create().address
    page.tabs.setCurrentIndex(1)
    page.send_to.setText(recipient.lower()[:-1])
    page.send_amount.setText("1.5")
    page.send_asset.setCurrentIndex(page.send_asset.findText("QDT"))
    page.review_button.click()
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=20_000)
    assert "address" in page.banner.text.lower()
    assert page.send_stack.currentIndex() == 0

    page.send_to.setText(recipient)
    page.review_button.click()
    qtbot.waitUntil(lambda: page.send_stack.currentIndex() == 1, timeout=20_000)
    assert "1.5 QDT" in page.review_text.text() and "Network fee" in page.review_text.text()
    page.confirm_button.click()
    qtbot.waitUntil(lambda: "Sent." in page.banner.text, timeout=60_000)
    w3 = ctx.chain.w3
    assert tokens.token_balance(w3, ctx.chain.network.token, recipient) == 1_500_000_000_000_000_000
    qtbot.waitUntil(lambda: page.token_balance.text() == "998.5", timeout=20_000)

    page.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: page.history_proxy.rowCount() >= 1, timeout=10_000)
    page.history_search.setText(recipient[:10])
    qtbot.waitUntil(lambda: page.history_proxy.rowCount() == 1, timeout=10_000)
    row = page.history_proxy.row(0)
    assert "1.5" in row["amount_text"] and row["hash"].startswith("0x")
    page.history_search.setText("no such transaction")
    assert page.history_proxy.rowCount() == 0
    page.history_search.clear()
    # A mined transaction cannot be sped up: the buttons say so by being off, and the
    # service's message reaches the banner if asked anyway.
    page.history_view.selectRow(0)
    assert page.selected_history_row()["status"] != "pending"
    assert not page.speed_up_button.isEnabled() and not page.cancel_tx_button.isEnabled()
    page.banner.clear()
    page.replace_tx(cancel=False)
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=20_000)
    assert "already mined" in page.banner.text
    wait_idle(qtbot, ctx)


def test_another_homes_devnet_by_url_gives_its_contracts_and_faucet(qtbot, quarry_home, tmp_path):
    """A second owner on the same machine points Settings at the first home's devnet: the
    node names its board and token, and its faucet funds the new account as the embedded
    network's would."""
    vault, _info = Vault.import_mnemonic(quarry_home, TEST_PHRASE, PASSWORD)
    vault.close()
    with start_devnet(devnet_dir(tmp_path / "first-home")) as node:
        with Store(quarry_home) as store:  # saved without its contracts (e.g. --offline)
            use_network(store, node.url, CHAIN_ID)
        flow = unlocked_window(qtbot, quarry_home)
        window, ctx = flow.window, flow.ctx
        assert ctx.chain.network.board is None
        window.show_page("wallet")
        page = window.page("wallet")
        page.refresh()
        qtbot.waitUntil(lambda: page.eth_balance.text() == "0", timeout=30_000)
        assert page.faucet_button.isHidden()  # not known to have a faucet yet

        window.show_page("settings")
        settings = window.page("settings")
        settings.refresh()
        assert settings.rpc_url.text() == node.url
        settings.network_apply.click()
        qtbot.waitUntil(lambda: ctx.chain is not None and ctx.chain.network.board == node.board,
                        timeout=30_000)
        assert ctx.chain.network.token == node.token

        window.show_page("wallet")
        page.refresh()
        qtbot.waitUntil(lambda: page.token_balance.text() == "1000", timeout=30_000)
        assert page.eth_balance.text() == "10" and not page.faucet_button.isHidden()
        assert f"{ctx.chain.network.name}'s faucet sent" in page.banner.text
        page.banner.clear()
        page.faucet_button.click()  # asked again by hand: the faucet's own limit, one line
        qtbot.waitUntil(lambda: "already funded" in page.banner.text, timeout=30_000)
        wait_idle(qtbot, ctx)
