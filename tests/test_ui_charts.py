"""The Rewards page's pieces: the earnings chart's axes whatever the number of rewards, and the report text."""

from __future__ import annotations

import time

import pytest

from ui.charts import MIN_EARNINGS_SPAN, EarningsChart


@pytest.fixture
def chart(qtbot) -> EarningsChart:
    widget = EarningsChart()
    qtbot.addWidget(widget)
    return widget


def _bottom_labels(chart: EarningsChart) -> list[str]:
    axis = chart.getPlotItem().getAxis("bottom")
    low, high = chart.viewRange()[0]
    labels: list[str] = []
    for spacing, values in axis.tickValues(low, high, 600):
        labels += axis.tickStrings(values, 1.0, spacing)
    return labels


def test_one_reward_is_shown_within_a_day_not_a_second(chart, qtbot):
    chart.resize(600, 240)
    now = time.time()
    chart.set_earnings([now - 3600], [2.5])
    low, high = chart.viewRange()[0]
    assert high - low >= MIN_EARNINGS_SPAN * 0.99
    assert low < now - 3600 < high
    assert chart.viewRange()[1][0] <= 0.0 and chart.viewRange()[1][1] >= 2.5
    # the date axis labels hours, not fractions of a second
    chart.grab()  # a paint: the axis measures its labels with the painted font
    labels = _bottom_labels(chart)
    assert labels and not [label for label in labels if "." in label], labels


def test_rewards_over_weeks_use_their_own_range(chart, qtbot):
    now = time.time()
    times = [now - 21 * 86_400, now - 7 * 86_400, now]
    chart.set_earnings(times, [1.0, 2.0, 3.0])
    qtbot.wait(50)  # auto-range applies on the next paint
    chart.getPlotItem().getViewBox().updateAutoRange()
    low, high = chart.viewRange()[0]
    assert low <= times[0] and high >= times[-1]
    assert chart.points == (times, [1.0, 3.0, 6.0])


def test_no_rewards_shows_the_note(chart, qtbot):
    chart.set_earnings([1.0], [1.0])
    assert not chart.empty_note.isVisible()
    chart.set_earnings([], [])
    assert chart.empty_note.isVisible()
    assert chart.points == ([], [])


def test_the_report_says_when_a_reward_was_paid_at_part_of_its_value():
    from ui.pages.rewards import report_html

    def row(factor: float | None) -> dict:
        mine = {"value": 0.01, "share": 0.1, "metricWithout": 0.5}
        if factor is not None:
            mine["payFactor"] = factor
        report = {"metric": "log_loss", "metricBefore": 0.6, "metricAfter": 0.5, "players": 3,
                  "method": "exact", "seed": 1}
        return {"bounty_id": 1, "round": 0, "status": "finalised", "report": report, "mine": mine}

    assert "Paid at 37% of its value" in report_html(row(0.37))
    assert "Paid at" not in report_html(row(1.0))
    assert "Paid at" not in report_html(row(None))  # a report from before the pay factor
    # an update the round's bound along the reference scaled down says so, with the scale
    scaled = row(1.0)
    scaled["mine"]["scale"] = 0.42
    assert "Counted at 42% of its length" in report_html(scaled)
    assert "Counted at" not in report_html(row(1.0))


def test_the_report_says_why_a_counted_update_was_paid_nothing():
    from ui.pages.rewards import report_html

    def html(**mine) -> str:
        report = {"metric": "log_loss", "metricBefore": 0.6, "metricAfter": 0.5, "players": 3,
                  "method": "exact", "seed": 1}
        line = {"value": 0.01, "stdErr": 0.002, "share": 0.0, "amount": "0", "metricWithout": 0.5,
                "payFactor": 1.0, **mine}
        return report_html({"bounty_id": 1, "round": 0, "status": "finalised", "report": report,
                            "mine": line})

    assert "could not be told apart from chance" in html(stdErr=0.006)  # 0.01 - 2 x 0.006 < 0
    assert "privacy noise if you added it" in html(stdErr=0.006)  # not blamed on noise never added
    assert "did not lower the model" in html(value=-0.003)
    assert "not distinguishable from a random one" in html(payFactor=0.0)
    assert "Paid at" not in html(payFactor=0.0)  # one reason, not two
    assert "Paid nothing" not in html(amount="5", share=0.05)
    # a copy is told whose earlier submission it copies
    assert "your update is a copy of 0x" + "ab" * 20 in html(copyOf="0x" + "ab" * 20, value=0.0, stdErr=0.0)
    assert "Paid nothing" not in html(amount="not a number")  # a malformed line says nothing


def test_the_wallet_reads_pay_with_the_practitioners_confidence():
    from trainer.shapley import CONFIDENCE_Z
    from wallet.round_report import PAY_CONFIDENCE_Z, why_unpaid

    assert PAY_CONFIDENCE_Z == CONFIDENCE_Z
    # a version 1 line (accuracy, no standard error) gets no reason in version 2's words
    assert why_unpaid({"value": -0.01, "share": 0.0, "amount": "0", "metricWith": 0.9}) == ""


def test_the_unpaid_reason_names_a_rejection_or_the_counted_updates_reason():
    from wallet.round_report import unpaid_reason

    me, other = "0x" + "ab" * 20, "0x" + "cd" * 20
    report = {"contributors": [{"address": other, "amount": "0", "value": -0.02, "stdErr": 0.01}],
              "rejected": [{"address": me.upper().replace("0X", "0x"), "reason": "zero update (free rider)"}]}
    assert unpaid_reason(report, me) == "Not counted: zero update (free rider)."
    assert "did not lower the model's loss" in unpaid_reason(report, other)
    assert unpaid_reason(report, "0x" + "ef" * 20) == ""  # not in the round
    # a copy is told whose earlier submission it copies (it used to be told nothing)
    copy = {"contributors": [{"address": me, "amount": "0", "value": 0.0, "stdErr": 0.0, "copyOf": other}]}
    assert unpaid_reason(copy, me).startswith(f"Paid nothing: your update is a copy of {other}'s")


def test_a_lazy_widget_builds_once_on_first_use(qtbot):
    from PySide6.QtWidgets import QLabel

    from ui.widgets import LazyWidget

    built: list[QLabel] = []

    def make() -> QLabel:
        built.append(QLabel("chart"))
        return built[-1]

    lazy = LazyWidget(make)
    qtbot.addWidget(lazy)
    assert not lazy.built and built == []
    assert lazy.text() == "chart"  # an attribute of the real widget builds it
    lazy.show()
    assert len(built) == 1 and lazy.widget() is built[0] and built[0].parent() is lazy
    shown = LazyWidget(make)
    qtbot.addWidget(shown)
    shown.show()  # being shown builds it too
    assert shown.built and len(built) == 2


FIRST_WINDOW = """
import os, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ui.app import build_window
window = build_window(Path(sys.argv[1]), app, start_network=False)
window.show()
app.processEvents()
first = "pyqtgraph" in sys.modules
import ui.pages.contribute, ui.pages.rewards  # the chart pages' modules: no pyqtgraph either
pages = "pyqtgraph" in sys.modules
ui.pages.rewards._earnings_chart()  # what their LazyWidget builds on first use
print(first, pages, "pyqtgraph" in sys.modules, flush=True)
os._exit(0)  # the window's background tasks need not finish
"""


def test_the_first_window_does_not_wait_for_pyqtgraph(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FIRST_WINDOW, str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False", "True"]
