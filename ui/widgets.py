"""Small reusable widgets: inline banners, titled pages, buttons, a QR code, a busy panel."""

from __future__ import annotations

from collections.abc import Callable

import qrcode
from PySide6.QtCore import QAbstractItemModel, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme

BANNER_ICONS = {"error": "warning", "warning": "warning", "info": "info", "success": "check"}


class Banner(QFrame):
    """An inline message (error, warning, info, success) with a close button; hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        self.setProperty("level", "info")
        self._icon = QLabel()
        self._text = QLabel()
        self._text.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote untrusted text
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setAccessibleName("Message")
        close = QToolButton()
        theme.set_button_icon(close, "close", 14)
        close.setAutoRaise(True)
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.clear)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self._text, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        return self._text.text() if self.isVisibleTo(self.parentWidget() or self) else ""

    @property
    def level(self) -> str:
        return str(self.property("level"))

    def show_message(self, text: str, level: str = "error") -> None:
        self.setProperty("level", level)
        color = {"error": theme.colors().bad, "warning": theme.colors().warn,
                 "success": theme.colors().good}.get(level, theme.colors().accent)
        self._icon.setPixmap(theme.pixmap(BANNER_ICONS.get(level, "info"), color, 18))
        self._text.setText(text)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()

    def error(self, text: str) -> None:
        self.show_message(text, "error")

    def info(self, text: str) -> None:
        self.show_message(text, "info")

    def success(self, text: str) -> None:
        self.show_message(text, "success")

    def warning(self, text: str) -> None:
        self.show_message(text, "warning")

    def clear(self) -> None:
        self._text.setText("")
        self.hide()


def title_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("PageTitle")
    label.setAccessibleName(text)
    return label


def muted_label(text: str = "", wrap: bool = True) -> QLabel:
    """A secondary line of plain text (never interpreted as HTML)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setProperty("muted", True)
    label.setWordWrap(wrap)
    return label


def button(text: str, icon_name: str | None = None, *, primary: bool = False,
           danger: bool = False, accessible: str | None = None,
           on_click: Callable[[], None] | None = None) -> QPushButton:
    btn = QPushButton(text)
    if icon_name:
        theme.set_button_icon(btn, icon_name, 18, primary)
    if primary:
        btn.setProperty("primary", True)
        btn.setDefault(False)
    if danger:
        btn.setProperty("danger", True)
    btn.setAccessibleName(accessible or text.replace("&", ""))
    if on_click is not None:
        btn.clicked.connect(lambda _checked=False: on_click())
    return btn


def left(*widgets: QWidget) -> QWidget:
    """Widgets in a row, kept at their natural size at the left (for form rows)."""
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return holder


def card(*widgets: QWidget, margins: int = 14) -> QFrame:
    frame = QFrame()
    frame.setObjectName("Card")
    box = QVBoxLayout(frame)
    box.setContentsMargins(margins, margins, margins, margins)
    for widget in widgets:
        box.addWidget(widget)
    return frame


def qr_pixmap(text: str, size: int = 200, dark: str = "#111111", light: str = "#ffffff") -> QPixmap:
    """A QR code drawn module by module (the `qrcode` package gives the matrix; no Pillow)."""
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    count = len(matrix)
    pix = QPixmap(size, size)
    pix.fill(QColor(light))
    painter = QPainter(pix)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(dark))
    cell = size / count
    for y, row in enumerate(matrix):
        for x, on in enumerate(row):
            if on:
                painter.drawRect(QRectF(x * cell, y * cell, cell + 0.5, cell + 0.5))
    painter.end()
    return pix


def copy_to_clipboard(text: str) -> None:
    QGuiApplication.clipboard().setText(text)


class BusyPanel(QWidget):
    """A progress bar with a caption and a Cancel button, for one slow step."""

    cancel_requested = Signal()

    def __init__(self, caption: str = "", parent: QWidget | None = None,
                 cancellable: bool = True) -> None:
        super().__init__(parent)
        self.cancellable = cancellable
        self.caption = QLabel(caption)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress")
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.cancel_button = button("Cancel", "close", accessible="Cancel this step")
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.cancel_button.setVisible(cancellable)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.caption)
        box.addLayout(row)

    def start(self, caption: str, total: int = 0) -> None:
        self.caption.setText(caption)
        self.bar.setRange(0, total)
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setVisible(self.cancellable)
        self.show()

    def update_progress(self, done: int, total: int, text: str = "") -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        else:
            self.bar.setRange(0, 0)
        if text:
            self.caption.setText(text)

    def finish(self, caption: str = "") -> None:
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
        self.bar.setValue(self.bar.maximum())
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()  # nothing left to cancel
        if caption:
            self.caption.setText(caption)


def password_strength(password: str) -> tuple[int, str]:
    """A rough 0..4 score and a hint; it only nudges, the vault decides what is accepted."""
    if not password:
        return 0, "Enter a password."
    classes = sum(bool(any(f(ch) for ch in password)) for f in
                  (str.islower, str.isupper, str.isdigit, lambda ch: not ch.isalnum()))
    length = len(password)
    score = 0
    if length >= 8:
        score += 1
    if length >= 12:
        score += 1
    if length >= 16:
        score += 1
    if classes >= 3:
        score += 1
    if len(set(password)) < 4:
        score = min(score, 1)
    hints = {
        0: "Very weak: use at least 8 characters.",
        1: "Weak: longer is stronger; a few unrelated words work well.",
        2: "Fair: a few more characters or character kinds would help.",
        3: "Good.",
        4: "Strong.",
    }
    return score, hints[min(score, 4)]


def sortable_table(model: QAbstractItemModel, accessible_name: str) -> QTableView:
    """The pages' tables: sortable (first column, newest first), one whole row selected."""
    table = QTableView()
    table.setAccessibleName(accessible_name)
    table.setModel(model)
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    return table


class LazyWidget(QWidget):
    """Stands in for a widget that is slow to create (a pyqtgraph chart: importing pyqtgraph
    takes ~0.27 s, a third of the first window) and builds it on first use: when it is first
    shown, or when any of its attributes is asked for. Attributes it does not have itself go
    to the built widget, so a page uses it as it would the widget."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._built: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._built is not None

    def widget(self) -> QWidget:
        if self._built is None:
            self._built = self._factory()
            self._layout.addWidget(self._built)
        return self._built

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.widget()
        super().showEvent(event)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not built yet, or Qt/shiboken internals: never forwarded
            raise AttributeError(name)
        return getattr(self.widget(), name)
