"""Charts (pyqtgraph): live training loss and accuracy, earnings over time."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ui import theme


def _style_plot(plot: pg.PlotItem, title: str) -> None:
    c = theme.colors()
    plot.setTitle(title, color=c.text, size="10pt")
    plot.showGrid(x=True, y=True, alpha=0.15)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(c.border))
        axis.setTextPen(pg.mkPen(c.muted))
    plot.setMenuEnabled(False)
    plot.hideButtons()


class TrainingChart(pg.GraphicsLayoutWidget):
    """Loss and accuracy per epoch, side by side, appended as training reports them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        c = theme.colors()
        self.setBackground(c.surface)
        self.setAccessibleName("Training loss and accuracy chart")
        self.setMinimumHeight(200)
        self.loss_plot = self.addPlot(row=0, col=0)
        self.acc_plot = self.addPlot(row=0, col=1)
        _style_plot(self.loss_plot, "Loss")
        _style_plot(self.acc_plot, "Accuracy on your data")
        self.loss_plot.setLabel("bottom", "epoch")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.setYRange(0, 1)
        pen = pg.mkPen(c.accent, width=2)
        self.loss_curve = self.loss_plot.plot([], [], pen=pen, symbol="o", symbolSize=6,
                                              symbolBrush=c.accent, symbolPen=None)
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen(c.good, width=2), symbol="o",
                                            symbolSize=6, symbolBrush=c.good, symbolPen=None)
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self.accuracies: list[float] = []

    def retheme(self) -> None:
        c = theme.colors()
        self.setBackground(c.surface)
        _style_plot(self.loss_plot, "Loss")
        _style_plot(self.acc_plot, "Accuracy on your data")
        self.loss_curve.setPen(pg.mkPen(c.accent, width=2))
        self.loss_curve.setSymbolBrush(c.accent)
        self.acc_curve.setPen(pg.mkPen(c.good, width=2))
        self.acc_curve.setSymbolBrush(c.good)

    def clear_points(self) -> None:
        self.epochs, self.losses, self.accuracies = [], [], []
        self.loss_curve.setData([], [])
        self.acc_curve.setData([], [])

    def add_point(self, epoch: int, loss: float, accuracy: float) -> None:
        if not (math.isfinite(loss) and math.isfinite(accuracy)):
            return
        self.epochs.append(int(epoch))
        self.losses.append(float(loss))
        self.accuracies.append(float(accuracy))
        self.loss_curve.setData(self.epochs, self.losses)
        self.acc_curve.setData(self.epochs, self.accuracies)


MIN_EARNINGS_SPAN = 86_400.0  # seconds: the earnings chart shows at least a day


class EarningsChart(pg.PlotWidget):
    """Cumulative tokens earned over time (x: unix seconds shown as dates)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        c = theme.colors()
        self.setBackground(c.surface)
        self.setAccessibleName("Earnings over time chart")
        self.setMinimumHeight(170)
        _style_plot(self.getPlotItem(), "Tokens earned over time")
        self.curve = self.plot([], [], pen=pg.mkPen(c.accent, width=2), stepMode=None,
                               symbol="o", symbolSize=6, symbolBrush=c.accent, symbolPen=None,
                               fillLevel=0, brush=pg.mkBrush(c.accent + "33"))
        self.points: tuple[list[float], list[float]] = ([], [])
        self.empty_note = pg.TextItem("No rewards yet: they appear when a round you took part "
                                      "in is scored.", color=c.muted, anchor=(0.5, 0.5))
        self.addItem(self.empty_note)
        self._show_empty()

    def retheme(self) -> None:
        c = theme.colors()
        self.setBackground(c.surface)
        _style_plot(self.getPlotItem(), "Tokens earned over time")
        self.curve.setPen(pg.mkPen(c.accent, width=2))
        self.curve.setSymbolBrush(c.accent)
        self.curve.setBrush(pg.mkBrush(c.accent + "33"))
        self.empty_note.setColor(c.muted)

    def _show_empty(self) -> None:
        now = time.time()
        self.setXRange(now - 7 * 86_400, now, padding=0)
        self.setYRange(0, 1, padding=0)
        self.empty_note.setPos(now - 3.5 * 86_400, 0.5)
        self.empty_note.show()

    def set_earnings(self, times: Sequence[float], amounts: Sequence[float]) -> None:
        """`amounts` per event; the chart shows their running total."""
        order = sorted(range(len(times)), key=lambda i: times[i])
        xs: list[float] = []
        ys: list[float] = []
        total = 0.0
        for i in order:
            total += float(amounts[i])
            xs.append(float(times[i]))
            ys.append(total)
        self.points = (xs, ys)
        self.curve.setData(xs, ys)
        if not xs:
            self._show_empty()
            return
        self.empty_note.hide()
        span = xs[-1] - xs[0]
        if span >= MIN_EARNINGS_SPAN:
            self.enableAutoRange()
            return
        # One reward (or a few within hours): auto-range would zoom to a second around it and
        # the date axis would label fractions of a second; show a day around them instead.
        middle = (xs[0] + xs[-1]) / 2.0
        self.setXRange(middle - MIN_EARNINGS_SPAN / 2.0, middle + MIN_EARNINGS_SPAN / 2.0, padding=0)
        self.setYRange(0.0, max(ys[-1], 1e-9) * 1.15, padding=0)
