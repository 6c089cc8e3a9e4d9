"""Wallet page (being built)."""

from __future__ import annotations

from ui.pages.base import Page


class WalletPage(Page):
    title = "Wallet"
    icon_name = "wallet"
