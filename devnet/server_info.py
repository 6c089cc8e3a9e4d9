"""Where a home's devnet keeps its files, and `server.json`: which process serves it where."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from common.atomic import atomic_write_text
from common.paths import data_home


def devnet_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """`<data home>/devnet`, created (mode 0700) if missing."""
    directory = data_home(home) / "devnet"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def write_server_info(directory: Path, info: dict[str, Any]) -> None:
    atomic_write_text(directory / "server.json", json.dumps(info), mode=0o600)


def read_server_info(directory: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((Path(directory) / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("url"), str) else None
