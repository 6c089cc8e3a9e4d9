"""Where Quarry keeps its files: --home DIR, else $QUARRY_HOME, else the per-user data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Quarry"
HOME_ENV = "QUARRY_HOME"


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    """Return (and create, mode 0700) the data directory."""
    if override:
        home = Path(override)
    elif os.environ.get(HOME_ENV):
        home = Path(os.environ[HOME_ENV])
    else:
        home = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
