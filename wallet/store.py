"""Quarry's local database: one SQLite file `<home>/quarry.db` through sqlite-utils.

Schema changes are an ordered list of migration functions, `MIGRATIONS`. The database's
`PRAGMA user_version` is the number of migrations already applied; opening a Store applies
the missing ones, in order, inside one transaction (all or nothing). To change the schema,
APPEND a function to `MIGRATIONS`; never edit or reorder one that has shipped.

Thread-safety: each thread gets its own sqlite3 connection (`Store.conn`, and `Store.db` the
sqlite-utils view of it, are per thread), so the GUI thread and worker threads can use the
same Store without sharing a connection.
WAL journaling lets readers and one writer work at once; a busy timeout makes a writer
wait for another instead of failing. `Store.transaction()` groups writes atomically and
starts with BEGIN IMMEDIATE, so read-then-write code in it waits for other writers (another
process's sync) instead of failing with "database is locked".

Every table's schema is here, in the migrations; each table has one owning module, named
in its migration's comment.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wallet.errors import QuarryError

if TYPE_CHECKING:
    from sqlite_utils import Database

DB_FILENAME = "quarry.db"
BUSY_TIMEOUT_MS = 10_000

# sqlite-utils (with numpy, which it loads) is imported when a thread first uses `db`: reading
# settings and account rows goes through the plain connection, so `quarry wallet list` and
# the app's first window do not wait for it.
Migration = Callable[["Database"], None]


def _m001_accounts_and_settings(db: Database) -> None:
    db["accounts"].create(
        {
            "address": str,  # EIP-55 checksummed
            "label": str,
            "kind": str,  # "hd" or "imported"
            "hd_index": int,  # BIP-44 index for kind "hd", else NULL
            "created_at": float,  # unix seconds
        },
        pk="address",
        not_null={"label", "kind", "created_at"},
    )
    db["settings"].create({"key": str, "value": str}, pk="key", not_null={"value"})


def _m002_chain_tables(db: Database) -> None:
    # the chain-facing services' tables; owners: networks (wallet/network.py),
    # sent_transactions (wallet/tx.py), history_events and history_cursors (wallet/history.py),
    # bounty_cache (wallet/bounties.py)
    db["networks"].create(
        {"name": str, "rpc_url": str, "chain_id": int, "token": str, "board": str, "kind": str},
        pk="name", not_null={"rpc_url", "chain_id", "kind"},
    )
    db["sent_transactions"].create(
        {
            "hash": str, "network": str, "chain_id": int, "sender": str, "nonce": int,
            "to_address": str, "value": str, "data": str, "kind": str, "description": str,
            "max_fee_per_gas": str, "max_priority_fee_per_gas": str, "gas": int,
            "status": str, "block_number": int, "replaced_by": str, "created_at": float,
        },
        pk="hash", not_null={"network", "sender", "nonce", "status", "created_at"},
    )
    db["sent_transactions"].create_index(["network", "sender", "nonce"])
    db["history_events"].create(
        {
            "network": str, "account": str, "kind": str, "block_number": int, "log_index": int,
            "tx_hash": str, "event": str, "contract": str, "direction": str,
            "counterparty": str, "amount": str, "bounty_id": int, "round": int,
            "details": str, "timestamp": int,
        },
        pk=("network", "account", "kind", "block_number", "log_index"),
        not_null={"tx_hash", "event"},
    )
    db["history_cursors"].create(
        {"network": str, "account": str, "kind": str, "next_block": int},
        pk=("network", "account", "kind"), not_null={"next_block"},
    )
    db["bounty_cache"].create(
        {"network": str, "board": str, "bounty_id": int, "data": str, "updated_at": float},
        pk=("network", "board", "bounty_id"), not_null={"data", "updated_at"},
    )


def _m003_verify_results(db: Database) -> None:
    # the last check of each round an account submitted to (wallet/verify.py): the track
    # record counts the mismatches this wallet saw
    db["verify_results"].create(
        {
            "network": str, "board": str, "bounty_id": int, "round": int, "account": str,
            "blob_hash": str, "status": str, "detail": str,
            "differences": str,  # JSON list of what differed
            "checked_at": float,
        },
        pk=("network", "board", "bounty_id", "round", "account"),
        not_null={"status", "checked_at"},
    )


def _m004_column_maps(db: Database) -> None:
    # how the owner's file maps to a bounty's schema (wallet/column_maps.py), remembered per
    # bounty (its spec hash) and file, so the next round and standing contributions reuse it
    db["column_maps"].create(
        {"spec_hash": str, "file": str, "bounty_id": int, "mapping": str, "saved_at": float},
        pk=("spec_hash", "file"),
        not_null={"mapping", "saved_at"},
    )


def _m005_standing_contributions(db: Database) -> None:
    # standing contributions ("Keep contributing", wallet/autopilot.py owns the rows) and the
    # log of what each did
    db["standing_contributions"].create(
        {
            "id": int, "network": str, "board": str, "bounty_id": int, "account": str,
            "title": str,
            "sources": str,  # JSON list of files and folders
            "noise_multiplier": float, "epochs": int, "gasless": int, "max_rounds": int,
            "mains_only": int,
            "status": str, "reason": str,
            "rounds_done": int, "last_run": float, "last_round": int, "next_note": str,
            "known_files": str,  # JSON: files that matched the schema and were used
            "ignored_files": str,  # JSON: files of a folder that never matched (said once)
            "earned": str,  # base units of `token`, as text (no float in a money path)
            "token": str,
            "paid_rounds": str,  # JSON: rounds whose reward was already announced
            "failures": int,  # network failures in a row
            "created_at": float,
        },
        pk="id", not_null={"network", "board", "bounty_id", "account", "status", "created_at"},
    )
    db["standing_events"].create(
        {"id": int, "standing_id": int, "at": float, "kind": str, "round": int, "message": str,
         "tx_hash": str},
        pk="id", not_null={"standing_id", "at", "kind"},
    )
    db["standing_events"].create_index(["standing_id", "at"])


def _m006_privacy_ledger(db: Database) -> None:
    # every contribution's privacy mechanism and parameters, per dataset file (content hash)
    # and account (wallet/privacy_budget.py composes them into the budget spent)
    db["privacy_ledger"].create(
        {
            "id": int, "dataset_hash": str, "file_name": str, "account": str, "network": str,
            "board": str, "bounty_id": int, "round": int, "blob_hash": str,
            "mechanism": str,  # trainer.privacy.ROW_LEVEL / USER_LEVEL / NO_NOISE
            "params": str,  # JSON: what trainer.privacy.mechanism_event needs
            "epsilon": float,  # this contribution alone, at `delta` (NULL = infinite)
            "delta": float, "created_at": float,
        },
        pk="id", not_null={"dataset_hash", "account", "mechanism", "params", "created_at"},
    )
    db["privacy_ledger"].create_index(["dataset_hash"])



def _m007_standing_privacy_mode(db: Database) -> None:
    # a standing contribution's privacy mode (wallet/contribute.py PRIVACY_MODES: "row" =
    # DP-SGD, "dataset" = noise on the update, "none"); rows saved before it used noise on
    # the update when they had a noise multiplier
    db.execute("ALTER TABLE standing_contributions ADD COLUMN privacy TEXT")
    db.execute("UPDATE standing_contributions SET privacy = CASE WHEN noise_multiplier > 0 "
               "THEN 'dataset' ELSE 'none' END")

def _m008_networks_deploy_block(db: Database) -> None:
    # the block that deployed a network's contracts (history scans start there); stores that
    # gained the column before it was a migration (an upsert with alter=True) already have it
    if "deploy_block" not in db["networks"].columns_dict:
        db["networks"].add_column("deploy_block", int)


# Append-only. Index i is migration number i + 1 (the user_version after it ran).
MIGRATIONS: list[Migration] = [
    _m001_accounts_and_settings,
    _m002_chain_tables,
    _m003_verify_results,
    _m004_column_maps,
    _m005_standing_contributions,
    _m006_privacy_ledger,
    _m007_standing_privacy_mode,
    _m008_networks_deploy_block,
]

# Values a setting has until someone sets it.
SETTING_DEFAULTS: dict[str, Any] = {
    "auto_lock_minutes": 15,
}


class StoreError(QuarryError):
    """The local database cannot be opened or is newer than this version of Quarry."""


class Store:
    """The local SQLite database of one Quarry home directory."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.path = self.home / DB_FILENAME
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._migrate()

    # -- connections ---------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's sqlite3 connection (created on first use)."""
        if self._closed:
            raise StoreError("The local database is closed.")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @property
    def db(self) -> Database:
        """This thread's sqlite-utils Database over `conn` (created on first use)."""
        if self._closed:
            raise StoreError("The local database is closed.")
        database = getattr(self._local, "db", None)
        if database is None:
            from sqlite_utils import Database

            database = Database(self.conn)
            self._local.db = database
        return database

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _connect(self) -> sqlite3.Connection:
        try:
            # check_same_thread=False only so close() may close every thread's connection;
            # each connection is still used by the one thread that made it.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open the local database {self.path}: {exc}") from exc
        if self.path.exists():
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
        with self._connections_lock:
            self._all_connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection; the Store is unusable afterwards."""
        self._closed = True
        with self._connections_lock:
            for conn in self._all_connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all_connections.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """`with store.transaction() as db:` commits all writes in the block, or none.

        It starts with BEGIN IMMEDIATE, taking the write lock before the first read: a
        deferred transaction that read and then wrote could not wait for another process's
        write (SQLite refuses at once, "database is locked", since its snapshot is stale), so
        two syncs at once would fail; this one waits up to the busy timeout instead. Nested,
        it is a savepoint of the outer transaction."""
        database = self.db
        conn = database.conn
        if conn.in_transaction:
            with database.atomic() as nested:
                yield nested
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield database
        except BaseException:
            if conn.in_transaction:  # an error may already have rolled it back
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- migrations ----------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        try:
            conn = self.conn
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS):
                return  # up to date: no write lock, no sqlite-utils
            # IMMEDIATE takes the write lock first, so two processes opening the same
            # home at once cannot both run a migration.
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"The local database {self.path} was written by a newer version of "
                        f"Quarry (schema {version}, this version knows {len(MIGRATIONS)})."
                    )
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    MIGRATIONS[number - 1](self.db)
                    conn.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"Cannot open the local database {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- settings ------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under `key`, else `default`, else SETTING_DEFAULTS[key]."""
        rows = self._rows("SELECT value FROM settings WHERE key = ?", [key])
        if rows:
            return json.loads(rows[0]["value"])
        if default is not None:
            return default
        return SETTING_DEFAULTS.get(key)

    def set_setting(self, key: str, value: Any) -> None:
        """Store any JSON-serialisable value under `key`."""
        self.db["settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    # -- accounts metadata (the keys themselves live in keystore files) -----------

    def account_rows(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT address, label, kind, hd_index, created_at FROM accounts "
            "ORDER BY kind = 'imported', hd_index, created_at, address", [])

    def upsert_account(
        self, address: str, label: str, kind: str, hd_index: int | None
    ) -> None:
        existing = list(self.db.query("SELECT created_at FROM accounts WHERE address = ?", [address]))
        created_at = existing[0]["created_at"] if existing else time.time()
        self.db["accounts"].upsert(
            {
                "address": address,
                "label": label,
                "kind": kind,
                "hd_index": hd_index,
                "created_at": created_at,
            },
            pk="address",
        )

    def set_account_label(self, address: str, label: str) -> None:
        self.db.execute("UPDATE accounts SET label = ? WHERE address = ?", [label, address])

    def delete_account(self, address: str) -> None:
        self.db.execute("DELETE FROM accounts WHERE address = ?", [address])
