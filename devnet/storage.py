"""py-evm's key-value database interface over SQLite, for the embedded network's chain."""

from __future__ import annotations

import sqlite3

from eth.db.backends.base import BaseDB

_READ_CACHE_LIMIT = 200_000  # entries; trie nodes are small: about 100 MB at most


class SQLiteKeyValue(BaseDB):
    """py-evm's key-value interface over one SQLite table, with a read cache.

    Writes go into the connection's open SQLite transaction, which DevnetChain commits after
    each mined block, so a block and its log index land together or not at all.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL)"
        )
        self._cache: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._cache:
            return self._cache[key]
        row = self.connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        self._remember(key, row[0])
        return row[0]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value)
        )
        self._remember(key, value)

    def __delitem__(self, key: bytes) -> None:
        cursor = self.connection.execute("DELETE FROM kv WHERE key = ?", (key,))
        self._cache.pop(key, None)
        if cursor.rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def _remember(self, key: bytes, value: bytes) -> None:
        if len(self._cache) >= _READ_CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = value
