"""What every page of the main window has: a title, an icon, a banner, coalesced refreshes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from ui.tasks import RefreshCoalescer
from ui.widgets import Banner, title_label

if TYPE_CHECKING:
    from ui.context import AppContext


class Page(QWidget):
    """A page of the side navigation. Subclasses fill `self.body` and implement `refresh()`."""

    title = "Page"
    icon_name = "info"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAccessibleName(f"{self.title} page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.setSpacing(12)
        self.header = QHBoxLayout()
        self.header.addWidget(title_label(self.title))
        self.header.addStretch(1)
        outer.addLayout(self.header)
        self.banner = Banner(self)
        outer.addWidget(self.banner)
        self.body = QVBoxLayout()
        self.body.setSpacing(12)
        outer.addLayout(self.body, 1)
        self._generations: dict[str, int] = {}
        self._network_note = False
        self.coalescer = RefreshCoalescer(self, self.refresh)
        ctx.events.changed.connect(self.coalescer.mark_dirty)

    def latest_only(self, kind: str, callback: Any) -> Any:
        """Wrap a task callback so only the newest request of `kind` is applied.

        Two refreshes in flight can finish out of order; an older answer must not overwrite
        a newer one (a balance from before a payment, say).
        """
        generation = self._generations.get(kind, 0) + 1
        self._generations[kind] = generation

        def apply(*args: Any) -> None:
            if self._generations.get(kind) == generation:
                callback(*args)
        return apply

    def refresh(self) -> None:
        """Reload what the page shows (called on the GUI thread; slow parts go to a task)."""

    def request_refresh(self) -> None:
        self.coalescer.mark_dirty()
        self.coalescer.flush()

    def on_locked(self) -> None:
        """The wallet locked: drop anything secret and cancel work that needs keys."""

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.coalescer.flush()

    def fail(self, message: str) -> None:
        self.banner.error(message)

    def bounty_client_or_note(self) -> object | None:
        """The bounty client, or None with a note saying why (not connected yet, or failed)."""
        from ui import network_link

        client = network_link.bounty_client(self.ctx)
        if client is not None:
            if self._network_note:
                self.banner.clear()
                self._network_note = False
            return client
        self._network_note = True
        if self.ctx.network.state == "error":
            self.banner.error(f"Not connected: {self.ctx.network.text} "
                              "(Settings › Network to change or retry).")
        elif self.ctx.chain is not None:
            self.banner.info("This network has no bounty board configured.")
        else:
            self.banner.info("Connecting to the network…")
        return None
