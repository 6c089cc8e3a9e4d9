"""The app's shared state: data home, local store, task runner, core events, vault, network."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ui.tasks import CoreEvents, TaskRunner
from wallet.store import Store

log = logging.getLogger(__name__)

# Store keys for what the window remembers.
UI_THEME = "ui.theme"
UI_PAGE = "ui.page"
UI_GEOMETRY = "ui.geometry"
UI_SIZE = "ui.size"


class NetworkStatus(QObject):
    """What the status bar shows about the chain connection; set on the GUI thread only."""

    changed = Signal(str, str)  # state ("busy", "ok", "error"), text

    def __init__(self) -> None:
        super().__init__()
        self.state = "busy"
        self.text = "Not connected"

    def set(self, state: str, text: str) -> None:
        self.state, self.text = state, text
        self.changed.emit(state, text)


@dataclass
class AppContext:
    home: Path
    store: Store
    runner: TaskRunner
    events: CoreEvents = field(default_factory=CoreEvents)
    network: NetworkStatus = field(default_factory=NetworkStatus)
    vault: Any = None  # wallet.vault.Vault once a wallet exists
    chain: Any = None  # the connected network (wallet.network), once connected
    extras: dict[str, Any] = field(default_factory=dict)
    # Held by workers around the chain-log syncs that write the store in one transaction
    # (history, rewards, claim): two at once can make SQLite refuse one ("database is locked").
    sync_lock: threading.Lock = field(default_factory=threading.Lock)

    def setting(self, key: str, default: Any = None) -> Any:
        try:
            return self.store.get_setting(key, default)
        except Exception:  # a damaged setting must not stop the window from opening
            log.exception("reading setting %s failed", key)
            return default

    def set_setting(self, key: str, value: Any) -> None:
        self.store.set_setting(key, value)
