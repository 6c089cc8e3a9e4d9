"""`quarry-app`: the desktop app's entry point."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from common.paths import data_home
from ui import theme
from ui.context import UI_THEME, AppContext
from ui.main_window import MainWindow
from ui.tasks import TaskRunner
from wallet.errors import QuarryError
from wallet.store import Store

log = logging.getLogger(__name__)


def build_window(home: Path, app: QApplication, *, start_network: bool = True) -> MainWindow:
    """Build the window over the data directory `home`, in the mode the wallet's state calls for."""
    from ui.flow import AppFlow  # pages import services that may be slow to import

    store = Store(home)
    ctx = AppContext(home=home, store=store, runner=TaskRunner())
    theme.apply_theme(app, str(ctx.setting(UI_THEME, "light")))
    flow = AppFlow(ctx, start_network=start_network)
    return flow.window


def _setup_logging(home: Path) -> None:
    handler = logging.FileHandler(home / "quarry-app.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


GENERIC_ERROR = ("Something went wrong inside Quarry. Your wallet and files are unchanged; the "
                 "details are in {log}. If it happens again, please report them.")


def install_exception_hook(home: Path) -> None:
    """An exception nothing caught (a bug) is logged with its traceback, and the window shows
    a generic message instead of the process dying with a traceback on a terminal nobody
    sees. Errors meant for people never get here: the task runner shows their message."""
    log_path = home / "quarry-app.log"

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        log.error("unexpected error", exc_info=(kind, error, tb))
        if QApplication.instance() is None:
            return
        box = getattr(hook, "box", None)
        if box is not None and box.isVisible():
            return  # one message at a time, however many errors follow
        # not modal (no nested event loop inside the hook): shown, and the app goes on
        box = QMessageBox(QMessageBox.Icon.Critical, "Quarry", GENERIC_ERROR.format(log=log_path))
        box.show()
        hook.box = box  # type: ignore[attr-defined]

    def thread_hook(args: threading.ExceptHookArgs) -> None:  # a thread's bug: logged only
        log.error("unexpected error in thread %s", getattr(args.thread, "name", "?"),
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quarry-app", description="Quarry desktop wallet")
    parser.add_argument("--home", help="data directory (default: $QUARRY_HOME or the user data dir)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    home = data_home(args.home or os.environ.get("QUARRY_HOME"))
    _setup_logging(home)
    install_exception_hook(home)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Quarry")
    app.setOrganizationName("Quarry")
    try:
        window = build_window(home, app)
    except QuarryError as exc:  # e.g. a database written by a newer Quarry: say so, plainly
        log.error("cannot start: %s", exc)
        QMessageBox.critical(None, "Quarry", str(exc))
        return 1
    window.show()
    QTimer.singleShot(STARTUP_SETTLED_MS, freeze_startup_objects)
    return app.exec()


STARTUP_SETTLED_MS = 2000  # after the first window is up and its first refreshes have run


def freeze_startup_objects() -> None:
    """Move the objects start-up made (Qt wrappers, web3, numpy, ...) out of the collector's
    reach: they live as long as the app, and a full collection walks them all while holding
    the GIL, which a worker's allocations can trigger mid-training while the window waits
    (tests/test_ui_responsiveness.py measures the window's stalls with it)."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    raise SystemExit(main())
