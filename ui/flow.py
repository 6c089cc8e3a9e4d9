"""Wires the window to the services: start mode, vault events, the network connection."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer

from ui.context import AppContext
from ui.main_window import MainWindow
from ui.pages.lock import LockScreen
from ui.pages.onboarding import OnboardingPage
from wallet.vault import Vault

log = logging.getLogger(__name__)

NETWORK_DELAY_MS = 1000  # the latest the network is reached when no first paint comes


def page_factories() -> dict[str, Any]:
    from ui.pages.bounties import BountiesPage
    from ui.pages.rewards import RewardsPage
    from ui.pages.settings import SettingsPage
    from ui.pages.standing import StandingPage
    from ui.pages.wallet import WalletPage

    return {"wallet": WalletPage, "bounties": BountiesPage, "rewards": RewardsPage,
            "standing": StandingPage, "settings": SettingsPage}


class AppFlow(QObject):
    """Decides what the window shows and keeps the vault and network hooked up."""

    def __init__(self, ctx: AppContext, *, start_network: bool = True,
                 try_keyring: bool = True) -> None:
        super().__init__()
        self.ctx = ctx
        ctx.extras["flow"] = self
        self.window = MainWindow(ctx, page_factories(), self._make_onboarding, self._make_lock)
        self.setParent(self.window)
        # standing contributions run in the background while the app is open (tray + notes)
        from ui.autopilot_runner import AutopilotRunner

        self.autopilot = AutopilotRunner(ctx, self)
        # without a system tray the status bar says it
        self.autopilot.notified.connect(lambda text: self.window.statusBar().showMessage(text, 15_000))
        self._network_pending = False
        if start_network:
            self._connect_after_first_paint()
        if Vault.exists(ctx.home):
            self.attach_vault(Vault.open(ctx.home, ctx.store))
            self.window.show_lock_screen()
            if try_keyring:
                lock = self.window.lock_screen
                assert isinstance(lock, LockScreen)
                lock.unlock_if_remembered()
        else:
            self.window.show_onboarding()

    def _make_onboarding(self, ctx: AppContext) -> OnboardingPage:
        page = OnboardingPage(ctx)
        page.completed.connect(self._onboarded)
        return page

    def _make_lock(self, ctx: AppContext) -> LockScreen:
        page = LockScreen(ctx)
        page.unlocked.connect(self._unlocked)
        return page

    def attach_vault(self, vault: Vault) -> None:
        self.ctx.vault = vault
        if self.ctx.events.notify not in vault.on_change:
            vault.on_change.append(self.ctx.events.notify)

    def _onboarded(self, vault: Vault) -> None:
        self.attach_vault(vault)
        self.window.show_shell()
        self.ctx.events.notify("accounts")

    def _unlocked(self) -> None:
        self.window.show_shell()
        self.ctx.events.notify("unlocked")

    # -- network ---------------------------------------------------------------------

    def _connect_after_first_paint(self) -> None:
        """Connect once the window has been painted (or after NETWORK_DELAY_MS if it never is):
        the connection's worker imports web3 and py-evm, which would otherwise compete with
        building and painting the first window for the interpreter (issue 13)."""
        self._network_pending = True
        self.window.installEventFilter(self)
        QTimer.singleShot(NETWORK_DELAY_MS, self._connect_pending)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if self._network_pending and watched is self.window and event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self._connect_pending)  # once this paint is done
        return False

    def _connect_pending(self) -> None:
        if self._network_pending:
            self._network_pending = False
            self.window.removeEventFilter(self)
            self.connect_network()

    def connect_network(self) -> None:
        """Connect to the selected network off the GUI thread (starting the embedded one)."""
        from ui import network_link

        network_link.connect(self.ctx)

