"""The main window: onboarding, lock screen, or the side navigation with the four pages."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.context import UI_GEOMETRY, UI_PAGE, UI_SIZE, AppContext
from ui.pages.base import Page

log = logging.getLogger(__name__)

PAGE_NAMES = ("wallet", "bounties", "rewards", "standing", "settings")
IDLE_CHECK_MS = 5_000
TOUCH_THROTTLE_S = 1.0
SECRET_PROPERTY = "holdsSecret"  # dialogs with this property close when the wallet locks

_ACTIVITY_EVENTS = {QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel,
                    QEvent.Type.MouseMove}


class ActivityFilter(QObject):
    """Application-wide event filter: user input counts as activity for the auto-lock."""

    activity = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._last = 0.0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in _ACTIVITY_EVENTS:
            now = time.monotonic()
            if now - self._last >= TOUCH_THROTTLE_S:
                self._last = now
                self.activity.emit()
        return False


def close_secret_dialogs() -> int:
    """Reject every open dialog that holds a secret (mnemonic, key export, password)."""
    closed = 0
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.property(SECRET_PROPERTY) and widget.isVisible():
            widget.reject()
            closed += 1
    return closed


class StatusIndicator(QWidget):
    """A coloured dot and a line of text for the network state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dot = QLabel("●")
        self.dot.setObjectName("StatusDot")
        self.text = QLabel()
        self.text.setAccessibleName("Network status")
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.dot)
        row.addWidget(self.text)

    def set_state(self, state: str, text: str) -> None:
        self.dot.setProperty("state", state)
        self.dot.style().unpolish(self.dot)
        self.dot.style().polish(self.dot)
        self.text.setText(text)
        self.setToolTip(text)


class Shell(QWidget):
    """Side navigation plus the page stack."""

    page_changed = Signal(str)
    lock_requested = Signal()

    def __init__(self, ctx: AppContext, pages: dict[str, Page], parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.pages = pages
        self.stack = QStackedWidget()
        sidebar = QFrame()
        sidebar.setObjectName("Sidebar")
        sidebar.setFixedWidth(190)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(12, 16, 12, 12)
        side.setSpacing(4)
        brand = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(theme.pixmap("quarry", None, 28))
        title = QLabel("Quarry")
        title.setObjectName("AppTitle")
        brand.addWidget(logo)
        brand.addWidget(title)
        brand.addStretch(1)
        side.addLayout(brand)
        side.addSpacing(14)
        self.nav = QButtonGroup(self)
        self.nav.setExclusive(True)
        self.nav_buttons: dict[str, QToolButton] = {}
        for number, (name, page) in enumerate(pages.items(), start=1):
            btn = QToolButton()
            btn.setText(f"  {page.title}")
            theme.set_button_icon(btn, page.icon_name, 20)
            btn.setIconSize(QSize(20, 20))
            btn.setCheckable(True)
            btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            btn.setSizePolicy(btn.sizePolicy().horizontalPolicy().Expanding,
                              btn.sizePolicy().verticalPolicy())
            btn.setToolTip(f"{page.title} (Ctrl+{number})")
            btn.setAccessibleName(f"Go to {page.title}")
            btn.clicked.connect(lambda _c=False, n=name: self.show_page(n))
            self.nav.addButton(btn)
            self.nav_buttons[name] = btn
            side.addWidget(btn)
            self.stack.addWidget(page)
        side.addStretch(1)
        self.lock_button = QToolButton()
        self.lock_button.setText("  Lock")
        theme.set_button_icon(self.lock_button, "lock", 20)
        self.lock_button.setIconSize(QSize(20, 20))
        self.lock_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.lock_button.setToolTip("Lock the wallet (Ctrl+L)")
        self.lock_button.setAccessibleName("Lock the wallet")
        self.lock_button.clicked.connect(self.lock_requested.emit)
        side.addWidget(self.lock_button)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(sidebar)
        row.addWidget(self.stack, 1)

    def show_page(self, name: str) -> None:
        if name not in self.pages:
            name = next(iter(self.pages))
        self.stack.setCurrentWidget(self.pages[name])
        self.nav_buttons[name].setChecked(True)
        self.page_changed.emit(name)


class MainWindow(QMainWindow):
    """Switches between onboarding, the lock screen and the shell; owns shortcuts and auto-lock."""

    def __init__(self, ctx: AppContext, page_factories: dict[str, Callable[[AppContext], Page]],
                 onboarding_factory: Callable[[AppContext], QWidget],
                 lock_factory: Callable[[AppContext], QWidget]) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("Quarry")
        self.setWindowIcon(theme.icon("quarry", None, 64))
        self.setAccessibleName("Quarry main window")
        self._page_factories = page_factories
        self._onboarding_factory = onboarding_factory
        self._lock_factory = lock_factory
        self.onboarding: QWidget | None = None
        self.lock_screen: QWidget | None = None
        self.shell: Shell | None = None
        self.root = QStackedWidget()
        self.setCentralWidget(self.root)
        self.network_indicator = StatusIndicator()
        self.statusBar().addPermanentWidget(self.network_indicator)
        ctx.network.changed.connect(self.network_indicator.set_state)
        self.network_indicator.set_state(ctx.network.state, ctx.network.text)
        self._restore_geometry()
        self._install_shortcuts()
        self.activity = ActivityFilter(self)
        self.activity.activity.connect(self._on_activity)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.activity)
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(IDLE_CHECK_MS)
        self.idle_timer.timeout.connect(self.check_idle)
        self.idle_timer.start()
        ctx.events.changed.connect(self._on_core_event)

    # -- modes ------------------------------------------------------------------------

    def show_onboarding(self) -> None:
        if self.onboarding is None:
            self.onboarding = self._onboarding_factory(self.ctx)
            self.onboarding.setParent(self.root)
            self.root.addWidget(self.onboarding)
        self.root.setCurrentWidget(self.onboarding)

    def show_lock_screen(self) -> None:
        if self.lock_screen is None:
            self.lock_screen = self._lock_factory(self.ctx)
            self.root.addWidget(self.lock_screen)
        reset = getattr(self.lock_screen, "reset", None)
        if reset:
            reset()
        self.root.setCurrentWidget(self.lock_screen)

    def show_shell(self) -> None:
        if self.shell is None:
            pages = {name: factory(self.ctx) for name, factory in self._page_factories.items()}
            self.shell = Shell(self.ctx, pages)
            self.shell.page_changed.connect(self._remember_page)
            self.shell.lock_requested.connect(self.lock)
            self.root.addWidget(self.shell)
        self.root.setCurrentWidget(self.shell)
        self.shell.show_page(str(self.ctx.setting(UI_PAGE, PAGE_NAMES[0])))

    def mode(self) -> str:
        current = self.root.currentWidget()
        if current is not None and current is self.shell:
            return "shell"
        if current is not None and current is self.lock_screen:
            return "locked"
        if current is not None and current is self.onboarding:
            return "onboarding"
        return "none"

    def page(self, name: str) -> Page:
        assert self.shell is not None
        return self.shell.pages[name]

    def show_page(self, name: str) -> None:
        if self.mode() == "shell" and self.shell is not None:
            self.shell.show_page(name)

    # -- locking ----------------------------------------------------------------------

    def lock(self) -> None:
        vault = self.ctx.vault
        if vault is not None and getattr(vault, "is_unlocked", False):
            vault.lock()
        self._after_lock()

    def _after_lock(self) -> None:
        close_secret_dialogs()
        if self.shell is not None:
            for page in self.shell.pages.values():
                page.on_locked()
        if self.ctx.vault is not None and self.mode() in ("shell", "none"):
            self.show_lock_screen()

    def check_idle(self) -> None:
        vault = self.ctx.vault
        if vault is None or not getattr(vault, "is_unlocked", False):
            return
        try:
            locked = vault.lock_if_idle()
        except Exception:
            log.exception("auto-lock check failed")
            return
        if locked or not vault.is_unlocked:
            self._after_lock()

    def _on_activity(self) -> None:
        vault = self.ctx.vault
        if vault is not None and getattr(vault, "is_unlocked", False):
            vault.touch()

    def _on_core_event(self, what: str) -> None:
        vault = self.ctx.vault
        if what == "locked" or (vault is not None and self.mode() == "shell"
                                and not getattr(vault, "is_unlocked", True)):
            self._after_lock()

    # -- shortcuts and geometry --------------------------------------------------------

    def _install_shortcuts(self) -> None:
        for number, name in enumerate(PAGE_NAMES, start=1):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{number}"), self)
            shortcut.activated.connect(lambda n=name: self.show_page(n))
        QShortcut(QKeySequence("Ctrl+L"), self).activated.connect(self.lock)
        QShortcut(QKeySequence("Ctrl+Q"), self).activated.connect(self.close)

    def _remember_page(self, name: str) -> None:
        self.ctx.set_setting(UI_PAGE, name)

    def _restore_geometry(self) -> None:
        saved = self.ctx.setting(UI_GEOMETRY)
        size = self.ctx.setting(UI_SIZE)
        restored = False
        if isinstance(saved, str) and saved:
            try:
                restored = self.restoreGeometry(QByteArray(base64.b64decode(saved)))
            except ValueError:
                restored = False
        # restoreGeometry keeps the position; the size is applied as saved (Qt may shrink it
        # to a screen it believes smaller, e.g. offscreen).
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
            self.resize(max(size[0], 640), max(size[1], 480))
        elif not restored:
            self.resize(1120, 740)

    def save_geometry(self) -> None:
        data = bytes(self.saveGeometry().data())
        self.ctx.set_setting(UI_GEOMETRY, base64.b64encode(data).decode("ascii"))
        self.ctx.set_setting(UI_SIZE, [self.width(), self.height()])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_geometry()
        autopilot = self.ctx.extras.get("autopilot")
        if autopilot is not None:
            autopilot.stop()
        self.ctx.runner.wait_all()  # cancelled, and finished before the window goes
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.activity)
        super().closeEvent(event)
