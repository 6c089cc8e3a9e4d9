"""Look and feel: Fusion style, a light or dark palette, a small style sheet, themed icons."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton, QApplication, QTabWidget, QWidget

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
THEMES = ("light", "dark")


@dataclass(frozen=True)
class Colors:
    window: str
    surface: str
    sidebar: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    good: str
    warn: str
    bad: str


LIGHT = Colors(window="#f5f6fa", surface="#ffffff", sidebar="#eceef5", text="#1d2130",
               muted="#667085", border="#d9dce6", accent="#3b6fe0", accent_text="#ffffff",
               good="#1f9d55", warn="#b7791f", bad="#d64545")
DARK = Colors(window="#171a21", surface="#1f232d", sidebar="#13161c", text="#e6e8ef",
              muted="#9aa3b5", border="#2f3542", accent="#5b8cff", accent_text="#ffffff",
              good="#3ecf8e", warn="#f0b429", bad="#ff6b6b")

_current: Colors = LIGHT


def colors() -> Colors:
    return _current


def palette_for(c: Colors) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    pal.setColor(role.Window, QColor(c.window))
    pal.setColor(role.WindowText, QColor(c.text))
    pal.setColor(role.Base, QColor(c.surface))
    pal.setColor(role.AlternateBase, QColor(c.sidebar))
    pal.setColor(role.ToolTipBase, QColor(c.surface))
    pal.setColor(role.ToolTipText, QColor(c.text))
    pal.setColor(role.PlaceholderText, QColor(c.muted))
    pal.setColor(role.Text, QColor(c.text))
    pal.setColor(role.Button, QColor(c.surface))
    pal.setColor(role.ButtonText, QColor(c.text))
    pal.setColor(role.BrightText, QColor(c.bad))
    pal.setColor(role.Highlight, QColor(c.accent))
    pal.setColor(role.HighlightedText, QColor(c.accent_text))
    pal.setColor(role.Link, QColor(c.accent))
    pal.setColor(role.Mid, QColor(c.border))
    for r in (role.Text, role.ButtonText, role.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(c.muted))
    return pal


def style_sheet(c: Colors) -> str:
    return f"""
    QWidget {{ font-size: 10pt; }}
    #Sidebar {{ background: {c.sidebar}; border-right: 1px solid {c.border}; }}
    #Sidebar QToolButton {{ border: none; border-radius: 8px; padding: 8px 10px; text-align: left;
        color: {c.text}; }}
    #Sidebar QToolButton:hover {{ background: {c.border}; }}
    #Sidebar QToolButton:checked {{ background: {c.accent}; color: {c.accent_text}; }}
    #AppTitle {{ font-size: 14pt; font-weight: 600; }}
    #PageTitle {{ font-size: 16pt; font-weight: 600; }}
    #Muted, QLabel[muted="true"] {{ color: {c.muted}; }}
    #BigNumber {{ font-size: 18pt; font-weight: 600; }}
    #Card {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 10px; }}
    QPushButton {{ border: 1px solid {c.border}; border-radius: 6px; padding: 6px 14px;
        background: {c.surface}; }}
    QPushButton:hover {{ border-color: {c.accent}; }}
    QPushButton:disabled {{ color: {c.muted}; }}
    QPushButton[primary="true"] {{ background: {c.accent}; color: {c.accent_text};
        border-color: {c.accent}; font-weight: 600; }}
    QPushButton[primary="true"]:disabled {{ background: {c.border}; border-color: {c.border};
        color: {c.muted}; }}
    QPushButton[danger="true"] {{ color: {c.bad}; }}
    QLineEdit, QPlainTextEdit, QTextEdit {{
        border: 1px solid {c.border}; border-radius: 6px; padding: 5px 7px; background: {c.surface}; }}
    QLineEdit:focus, QPlainTextEdit:focus {{ border-color: {c.accent}; }}
    QComboBox, QSpinBox, QDoubleSpinBox {{ min-height: 24px; }}
    QTableView {{ border: 1px solid {c.border}; border-radius: 8px; gridline-color: {c.border};
        background: {c.surface}; selection-background-color: {c.accent}; }}
    QHeaderView::section {{ background: {c.sidebar}; border: none; border-bottom: 1px solid {c.border};
        padding: 5px 6px; font-weight: 600; }}
    QProgressBar {{ border: 1px solid {c.border}; border-radius: 6px; text-align: center;
        background: {c.surface}; min-height: 16px; }}
    QProgressBar::chunk {{ background: {c.accent}; border-radius: 5px; }}
    QTabWidget::pane {{ border: 1px solid {c.border}; border-radius: 8px; }}
    QGroupBox {{ border: 1px solid {c.border}; border-radius: 8px; margin-top: 14px; padding: 10px; }}
    QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; font-weight: 600; }}
    #Banner[level="error"] {{ background: {_mix(c.bad, c.surface)}; border: 1px solid {c.bad};
        border-radius: 8px; }}
    #Banner[level="warning"] {{ background: {_mix(c.warn, c.surface)}; border: 1px solid {c.warn};
        border-radius: 8px; }}
    #Banner[level="info"] {{ background: {_mix(c.accent, c.surface)}; border: 1px solid {c.accent};
        border-radius: 8px; }}
    #Banner[level="success"] {{ background: {_mix(c.good, c.surface)}; border: 1px solid {c.good};
        border-radius: 8px; }}
    #StatusDot[state="ok"] {{ color: {c.good}; }}
    #StatusDot[state="busy"] {{ color: {c.warn}; }}
    #StatusDot[state="error"] {{ color: {c.bad}; }}
    #Mnemonic {{ font-family: monospace; font-size: 12pt; }}
    """


def _mix(color: str, base: str, amount: float = 0.14) -> str:
    a, b = QColor(color), QColor(base)
    r = round(a.red() * amount + b.red() * (1 - amount))
    g = round(a.green() * amount + b.green() * (1 - amount))
    bl = round(a.blue() * amount + b.blue() * (1 - amount))
    return QColor(r, g, bl).name()


def apply_theme(app: QApplication, name: str) -> str:
    """Apply "light" or "dark" (anything else falls back to light); returns the name used."""
    global _current
    name = name if name in THEMES else "light"
    _current = DARK if name == "dark" else LIGHT
    app.setStyle("Fusion")
    app.setPalette(palette_for(_current))
    app.setStyleSheet(style_sheet(_current))
    _render_icon.cache_clear()
    return name


ICON_PROPERTY = "quarryIcon"  # "name|size|primary" on buttons whose icon follows the theme


def set_button_icon(btn: QAbstractButton, name: str, size: int = 18, primary: bool = False) -> None:
    """Give `btn` a themed icon that `retint()` re-colours when the theme changes."""
    btn.setProperty(ICON_PROPERTY, f"{name}|{size}|{int(primary)}")
    _apply_button_icon(btn)


def _apply_button_icon(btn: QAbstractButton) -> None:
    name, size, primary = str(btn.property(ICON_PROPERTY)).split("|")
    color = _current.accent_text if primary == "1" else None
    btn.setIcon(icon(name, color, int(size)))


def set_tab_icons(tabs: QTabWidget, names: list[str], size: int = 16) -> None:
    """Themed icons for the tabs of `tabs`, re-coloured by `retint()`."""
    tabs.setProperty(ICON_PROPERTY, f"{','.join(names)}|{size}")
    _apply_tab_icons(tabs)


def _apply_tab_icons(tabs: QTabWidget) -> None:
    names, size = str(tabs.property(ICON_PROPERTY)).split("|")
    for index, name in enumerate(names.split(",")):
        if index < tabs.count():
            tabs.setTabIcon(index, icon(name, None, int(size)))


def retint() -> int:
    """Re-colour every themed button and tab icon of every window (after apply_theme)."""
    count = 0
    for window in QApplication.topLevelWidgets():
        for btn in window.findChildren(QAbstractButton):
            if btn.property(ICON_PROPERTY):
                _apply_button_icon(btn)
                count += 1
        for tabs in window.findChildren(QTabWidget):
            if tabs.property(ICON_PROPERTY):
                _apply_tab_icons(tabs)
                count += 1
        for widget in window.findChildren(QWidget):
            retheme = getattr(widget, "retheme", None)  # e.g. charts drawn with theme colours
            if callable(retheme):
                retheme()
                count += 1
    return count


def icon(name: str, color: str | None = None, size: int = 24) -> QIcon:
    """An icon from resources/icons, its strokes painted in the theme's text colour."""
    return QIcon(_render_icon(name, color or _current.text, size))


def pixmap(name: str, color: str | None = None, size: int = 24) -> QPixmap:
    return _render_icon(name, color or _current.text, size)


@lru_cache(maxsize=256)
def _render_icon(name: str, color: str, size: int) -> QPixmap:
    path = ICON_DIR / f"{name}.svg"
    ratio = 2  # crisp on high-DPI screens
    pix = QPixmap(QSize(size * ratio, size * ratio))
    pix.fill(Qt.GlobalColor.transparent)
    if path.exists():
        svg = path.read_text(encoding="utf-8").replace("currentColor", color)
        renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
        painter = QPainter(pix)
        renderer.render(painter)
        painter.end()
    pix.setDevicePixelRatio(ratio)
    return pix
