"""Helpers shared by the tests/test_ui_*.py modules (imported by them; no tests here)."""

from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QApplication

from tests.wallet_testing import file_keyring_fixture as file_keyring  # noqa: F401 (fixture)
from ui import theme
from ui.context import AppContext
from ui.flow import AppFlow
from ui.tasks import TaskRunner
from wallet.store import Store

os.environ.setdefault("QUARRY_SCRYPT_N", "4096")

PASSWORD = "correct horse battery"
# The BIP-39 test vector "abandon ... about": account 0 is the hardhat/anvil-known address.
TEST_PHRASE = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon "
               "abandon abandon about")
TEST_PHRASE_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def make_context(home) -> AppContext:
    return AppContext(home=home, store=Store(home), runner=TaskRunner())


def chain_context(home, vault, market) -> AppContext:
    """A context over `home` with `vault` unlocked in it, connected to the test market's chain
    (its token and board) as a network that answered."""
    from ui.network_link import Chain
    from wallet.network import Network

    ctx = make_context(home)
    ctx.vault = vault
    network = Network("test", "http://127.0.0.1:1", market.w3.eth.chain_id, market.token.address,
                      market.board.address)
    ctx.chain = Chain(network, market.w3)
    ctx.network.set("ok", "test chain")
    return ctx


def market_client(ctx: AppContext, market):
    """The wallet's bounty client for the market `ctx` is connected to (`chain_context`)."""
    from wallet.bounties import BountyClient

    return BountyClient(market.w3, market.board.address, ctx.chain.chain_id, ctx.store, "test",
                        file_roots=None)


def shown_contribute_flow(qtbot, ctx: AppContext, size: tuple[int, int] = (1100, 900)):
    """The contribution wizard over `ctx`, shown at `size` and closed with the test."""
    from ui.pages.contribute import ContributeFlow

    flow = ContributeFlow(ctx)
    qtbot.addWidget(flow)
    flow.resize(*size)
    flow.show()
    return flow


def shown_page(qtbot, page, size: tuple[int, int], rows: int | None = None, timeout: int = 30_000):
    """`page` shown at `size` (closed with the test) and refreshed; with `rows`, once its table
    holds that many."""
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    page.refresh()
    if rows is not None:
        qtbot.waitUntil(lambda: page.model.rowCount() == rows, timeout=timeout)
    return page


def make_flow(qtbot, home, *, start_network: bool = False) -> AppFlow:
    app = QApplication.instance()
    theme.apply_theme(app, "light")
    ctx = make_context(home)
    flow = AppFlow(ctx, start_network=start_network, try_keyring=False)
    qtbot.addWidget(flow.window)
    flow.window.show()
    return flow


def wait_idle(qtbot, ctx: AppContext, timeout: int = 20_000) -> None:
    """Wait until every task of the context's runner has finished."""
    qtbot.waitUntil(lambda: not ctx.runner.running(), timeout=timeout)


@pytest.fixture
def ui_home(quarry_home):
    return quarry_home


