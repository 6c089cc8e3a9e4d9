"""`quarry-app`: the desktop app's entry point."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quarry-app", description="Quarry desktop wallet")
    parser.add_argument("--home", help="data directory (default: $QUARRY_HOME or the user data dir)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    home = data_home(args.home or os.environ.get("QUARRY_HOME"))
    _setup_logging(home)
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
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
