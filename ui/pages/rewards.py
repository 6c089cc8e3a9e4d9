"""Rewards page (being built)."""

from __future__ import annotations

from ui.pages.base import Page


class RewardsPage(Page):
    title = "Rewards"
    icon_name = "rewards"
