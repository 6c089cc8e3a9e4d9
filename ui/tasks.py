"""Worker infrastructure: every slow call of every page runs here, never on the GUI thread.

`TaskRunner.run(work, on_success=..., on_failure=..., on_progress=..., on_partial=...)` puts
`work(ctx)` on a QThreadPool. The work reports through `ctx.progress(done, total, text)` and
`ctx.partial(value)`, and polls `ctx.should_stop()` for a cooperative cancel. Every callback
runs on the GUI thread: the signals go to a QObject (`TaskHandle`) created on the GUI thread,
so Qt queues them there. Errors meant for people (QuarryError, TrainerError) arrive as their
one-line message; anything else arrives as a generic message and its traceback goes to the log.

`CoreEvents` turns callbacks from the core (vault on_change, from any thread) into Qt signals;
`RefreshCoalescer` merges bursts of them into one refresh per 500 ms, skipping hidden pages.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QWidget

from common.errors import UserError

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something unexpected went wrong; nothing was changed. Details are in the log."
CANCELLED = "Cancelled."
# Progress signals faster than this are dropped (the last one always goes through), so a
# tight loop in a worker cannot flood the GUI thread's event queue.
PROGRESS_INTERVAL_S = 0.04
TASK_THREADS = 8


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is fit for the user: common.errors.UserError, the base of
    the wallet's, the trainer's and the devnet's (the GUI imports nothing of trainer/)."""
    return (UserError,)


class Cancelled(Exception):  # noqa: N818 - reads better at the raise site
    """Raised by `ctx.check_stop()` to unwind a cancelled task."""


class _TaskSignals(QObject):
    progress = Signal(int, int, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()


class TaskContext:
    """What the work function sees: progress, partial results and the cancel flag."""

    def __init__(self, signals: _TaskSignals, stop_event: threading.Event) -> None:
        self._signals = signals
        self._stop = stop_event
        self._last_progress = 0.0

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise Cancelled()

    def progress(self, done: int, total: int, text: str = "") -> None:
        now = time.monotonic()
        if done < total and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._signals.progress.emit(int(done), int(total), str(text))

    def partial(self, value: Any) -> None:
        self._signals.partial.emit(value)


BACKGROUND_NICENESS = 10


def _lower_thread_priority() -> None:
    """Let the GUI thread win the CPU over background work (Linux: per-thread nice value).

    Only for `background` tasks, whose thread mostly waits while processes it starts do the
    work (the encryption workers inherit the nice value). A thread that holds the GIL a lot
    (training) is not niced: a GUI thread waiting for the GIL would then wait for it.
    A no-op off Linux; idempotent: a background pool thread is niced once.
    """
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        process = os.getpriority(os.PRIO_PROCESS, os.getpid())
        if current < process + BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, process + BACKGROUND_NICENESS)
    except OSError:
        pass


class _Runnable(QRunnable):
    def __init__(self, work: Callable[[TaskContext], Any], signals: _TaskSignals,
                 stop_event: threading.Event, background: bool = False) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._background = background
        self._work = work
        self._signals = signals
        self._stop = stop_event

    def run(self) -> None:
        if self._background:
            _lower_thread_priority()
        ctx = TaskContext(self._signals, self._stop)
        try:
            result = self._work(ctx)
        except Cancelled:
            self._signals.cancelled.emit()
        except user_errors() as exc:
            if self._stop.is_set():
                self._signals.cancelled.emit()
            else:
                self._signals.failed.emit(str(exc) or type(exc).__name__)
        except Exception:
            log.exception("task %s failed", getattr(self._work, "__name__", self._work))
            self._signals.failed.emit(GENERIC_FAILURE)
        else:
            if self._stop.is_set():
                self._signals.cancelled.emit()
            else:
                self._signals.succeeded.emit(result)
        finally:
            self._signals.finished.emit()


class TaskHandle(QObject):
    """One running task, owned by the GUI thread; its slots dispatch to the page's callbacks."""

    done = Signal()

    def __init__(self, parent: QObject | None, callbacks: dict[str, Callable[..., Any] | None]):
        super().__init__(parent)
        self._callbacks = callbacks
        self._stop = threading.Event()
        self.signals = _TaskSignals()
        self.running = True
        self.outcome: str | None = None  # "success", "failure" or "cancelled"
        self.result: Any = None
        self.error: str | None = None
        self.signals.progress.connect(self._on_progress)
        self.signals.partial.connect(self._on_partial)
        self.signals.succeeded.connect(self._on_success)
        self.signals.failed.connect(self._on_failure)
        self.signals.cancelled.connect(self._on_cancelled)
        self.signals.finished.connect(self._on_finished)

    def cancel(self) -> None:
        """Ask the work to stop; it does at its next should_stop() check."""
        self._stop.set()

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    def _call(self, name: str, *args: Any) -> None:
        callback = self._callbacks.get(name)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a page bug must not kill the event loop
            log.exception("task callback %s failed", name)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        self._call("on_progress", done, total, text)

    @Slot(object)
    def _on_partial(self, value: Any) -> None:
        self._call("on_partial", value)

    @Slot(object)
    def _on_success(self, result: Any) -> None:
        self.outcome, self.result = "success", result
        self._call("on_success", result)

    @Slot(str)
    def _on_failure(self, message: str) -> None:
        self.outcome, self.error = "failure", message
        if self._callbacks.get("on_failure") is None:
            log.warning("task failed without a failure handler: %s", message)
        self._call("on_failure", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.outcome = "cancelled"
        self._call("on_cancelled")

    @Slot()
    def _on_finished(self) -> None:
        self.running = False
        self._call("on_finished")
        self.done.emit()
        self.deleteLater()


class TaskRunner(QObject):
    """Starts tasks on a thread pool and keeps them alive until they finish."""

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        if pool is None:
            # Most tasks wait on the network or the disk; a long training run must not hold
            # back a balance refresh, so there are more threads than cores.
            pool = QThreadPool(self)
            pool.setMaxThreadCount(TASK_THREADS)
        self.pool = pool
        # Background tasks get their own (niced) threads, so ordinary tasks keep full priority.
        self.background_pool = QThreadPool(self)
        self.background_pool.setMaxThreadCount(2)
        self._running: set[TaskHandle] = set()

    def run(
        self,
        work: Callable[[TaskContext], Any],
        *,
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        background: bool = False,
    ) -> TaskHandle:
        """Run `work(ctx)` on a worker thread; callbacks run on the GUI thread.

        background=True: a CPU-heavy job that runs in other processes (encryption), started
        from a lower-priority thread so those processes yield the CPU to the GUI.
        """
        handle = TaskHandle(self, {
            "on_success": on_success, "on_failure": on_failure, "on_progress": on_progress,
            "on_partial": on_partial, "on_cancelled": on_cancelled, "on_finished": on_finished,
        })
        self._running.add(handle)
        handle.done.connect(lambda h=handle: self._running.discard(h))
        pool = self.background_pool if background else self.pool
        pool.start(_Runnable(work, handle.signals, handle.stop_event, background))
        return handle

    def running(self) -> list[TaskHandle]:
        return [h for h in self._running if h.running]

    def cancel_all(self) -> None:
        for handle in list(self._running):
            handle.cancel()

    def wait_all(self, timeout_ms: int = 5000) -> bool:
        """Cancel every task and wait (at most `timeout_ms` per pool) for the workers to end,
        so none outlives the window that started it (nor touches a store being closed).
        False when one was still busy (a blocking call that cannot be interrupted)."""
        self.cancel_all()
        done = all([self.pool.waitForDone(timeout_ms), self.background_pool.waitForDone(timeout_ms)])
        if not done:
            log.warning("closing with tasks still running after %d ms", timeout_ms)
        return done


class CoreEvents(QObject):
    """Bridge from core callbacks (any thread) to a Qt signal handled on the GUI thread."""

    changed = Signal(str)

    def notify(self, *args: Any, **_kwargs: Any) -> None:
        # Emitting from a worker thread is safe: receivers in the GUI thread get it queued.
        what = str(args[0]) if args else "changed"
        self.changed.emit(what)


class RefreshCoalescer(QObject):
    """A dirty flag plus a 500 ms timer: bursts of events become one refresh of a visible page."""

    def __init__(self, page: QWidget, refresh: Callable[[], None], interval_ms: int = 500) -> None:
        super().__init__(page)
        self._page = page
        self._refresh = refresh
        self.dirty = True  # a page fills itself the first time it is shown
        self.refresh_count = 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @Slot()
    def mark_dirty(self, *_args: Any) -> None:
        self.dirty = True

    def flush(self) -> None:
        """Refresh now if dirty and visible (used when a page is shown)."""
        self._tick()

    @Slot()
    def _tick(self) -> None:
        if not self.dirty or not self._page.isVisible():
            return  # hidden pages stay dirty and refresh when shown
        self.dirty = False
        self.refresh_count += 1
        try:
            self._refresh()
        except Exception:
            log.exception("refresh of %s failed", type(self._page).__name__)
