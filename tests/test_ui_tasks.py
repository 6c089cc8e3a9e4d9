"""ui/tasks.py: results, errors, progress and cancel come back on the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QWidget

from ui.tasks import GENERIC_FAILURE, CoreEvents, RefreshCoalescer, TaskRunner
from wallet.errors import InvalidInput


@pytest.fixture
def runner(qtbot):
    task_runner = TaskRunner()
    yield task_runner
    # Let the worker threads finish and their last queued signals arrive before the runner (and
    # the handles those signals target) is garbage-collected: a cancelled worker still winding
    # down when the next test processed events crashed Qt once in CI (as in
    # tests/test_ui_responsiveness.py).
    task_runner.wait_all(5000)
    task_runner.pool.waitForDone()
    task_runner.background_pool.waitForDone()
    qtbot.waitUntil(lambda: not task_runner._running, timeout=10_000)
    qtbot.wait(50)


def test_success_progress_and_partial_arrive_on_gui_thread(qtbot, runner):
    gui = threading.get_ident()
    seen: dict[str, list] = {"threads": [], "progress": [], "partial": [], "result": []}

    def work(ctx):
        seen["worker"] = threading.get_ident()
        for i in range(3):
            ctx.progress(i + 1, 3, f"step {i + 1}")
            ctx.partial(i)
            time.sleep(0.05)
        return "done"

    def record(kind):
        def callback(*args):
            seen["threads"].append(threading.get_ident())
            seen[kind].append(args)
        return callback

    handle = runner.run(work, on_success=record("result"), on_progress=record("progress"),
                        on_partial=record("partial"))
    qtbot.waitUntil(lambda: handle.outcome == "success", timeout=5000)
    assert seen["result"] == [("done",)]
    assert seen["partial"] == [(0,), (1,), (2,)]
    assert seen["progress"][-1] == (3, 3, "step 3")
    assert seen["worker"] != gui
    assert set(seen["threads"]) == {gui}


def test_user_error_message_and_unexpected_error_generic(qtbot, runner, caplog):
    messages: list[str] = []

    def bad_input(_ctx):
        raise InvalidInput("The amount must be a positive number.")

    def bug(_ctx):
        raise ZeroDivisionError("secret internals")

    runner.run(bad_input, on_failure=messages.append)
    runner.run(bug, on_failure=messages.append)
    qtbot.waitUntil(lambda: len(messages) == 2, timeout=5000)
    assert "The amount must be a positive number." in messages
    assert GENERIC_FAILURE in messages
    assert not any("secret internals" in m for m in messages)
    assert "ZeroDivisionError" in caplog.text  # the traceback went to the log


def test_trainer_errors_are_user_errors(qtbot, runner):
    from trainer.errors import DataError

    messages: list[str] = []

    def work(_ctx):
        raise DataError("Column 'age' is missing.")

    runner.run(work, on_failure=messages.append)
    qtbot.waitUntil(lambda: len(messages) > 0, timeout=5000)
    assert messages == ["Column 'age' is missing."]


def test_cooperative_cancel(qtbot, runner):
    cancelled: list[bool] = []
    succeeded: list[object] = []
    started = threading.Event()

    def work(ctx):
        started.set()
        while not ctx.should_stop():
            time.sleep(0.01)
        return "should not be delivered"

    handle = runner.run(work, on_success=succeeded.append,
                        on_cancelled=lambda: cancelled.append(True))
    assert started.wait(5)
    handle.cancel()
    qtbot.waitUntil(lambda: len(cancelled) > 0, timeout=5000)
    assert succeeded == []
    assert handle.outcome == "cancelled"


def test_core_events_from_worker_thread_are_coalesced(qtbot):
    page = QWidget()
    qtbot.addWidget(page)
    page.show()
    refreshes: list[float] = []
    events = CoreEvents()
    coalescer = RefreshCoalescer(page, lambda: refreshes.append(time.monotonic()), interval_ms=100)
    qtbot.waitUntil(lambda: len(refreshes) == 1, timeout=3000)  # the first showing fills it
    refreshes.clear()
    events.changed.connect(coalescer.mark_dirty)
    thread = threading.Thread(target=lambda: [events.notify("balance") for _ in range(50)])
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(refreshes) > 0, timeout=3000)
    qtbot.wait(250)
    assert len(refreshes) == 1  # fifty events, one refresh
    events.changed.disconnect(coalescer.mark_dirty)  # before either is collected


def test_hidden_page_skips_refresh_until_shown(qtbot):
    page = QWidget()
    qtbot.addWidget(page)
    refreshes: list[int] = []
    coalescer = RefreshCoalescer(page, lambda: refreshes.append(1), interval_ms=50)
    assert coalescer.dirty  # never shown yet: it fills itself when first shown
    coalescer.mark_dirty()
    qtbot.wait(200)
    assert refreshes == [] and coalescer.dirty
    page.show()
    qtbot.waitUntil(lambda: refreshes == [1], timeout=2000)
    assert not coalescer.dirty


def test_wait_all_cancels_and_waits_for_the_workers(qtbot, runner):
    """What the main window does on close: no worker outlives it."""
    started, finished = threading.Event(), threading.Event()

    def work(ctx):
        started.set()
        while not ctx.should_stop():
            time.sleep(0.01)
        time.sleep(0.1)  # winding down after the cancel
        finished.set()

    runner.run(work)
    assert started.wait(5)
    assert runner.wait_all(5000) is True
    assert finished.is_set()


def test_an_uncaught_exception_is_logged_and_shown_generically(qtbot, tmp_path, monkeypatch, caplog):
    import sys

    from PySide6.QtWidgets import QApplication, QMessageBox

    from ui import app as app_module

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    app_module.install_exception_hook(tmp_path)
    for _ in range(2):  # a second error while the message is open adds no second box
        try:
            raise RuntimeError("a bug with secret details")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(boxes) == 1
    text = boxes[0].text()
    assert "Something went wrong" in text and "secret" not in text
    assert str(tmp_path / "quarry-app.log") in text
    assert len([r for r in caplog.records if r.exc_info and "secret details" in str(r.exc_info[1])]) == 2
    boxes[0].close()
