"""Bounties page (being built)."""

from __future__ import annotations

from ui.pages.base import Page


class BountiesPage(Page):
    title = "Bounties"
    icon_name = "bounties"
