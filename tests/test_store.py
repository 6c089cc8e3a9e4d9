"""The local SQLite store: migrations, settings, account rows, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from wallet import store as store_module
from wallet.store import MIGRATIONS, Store, StoreError


def test_fresh_store_is_at_latest_schema(tmp_path):
    with Store(tmp_path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert {"accounts", "settings"} <= set(store.db.table_names())
    assert (tmp_path / "quarry.db").stat().st_mode & 0o777 == 0o600


def test_appended_migration_runs_once_and_keeps_data(tmp_path, monkeypatch):
    with Store(tmp_path) as store:
        store.set_setting("auto_lock_minutes", 3)
    calls = []

    def add_notes(db):
        calls.append(1)
        db["notes"].create({"id": int, "text": str}, pk="id")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, add_notes])
    with Store(tmp_path) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        assert "notes" in store.db.table_names()
        assert store.get_setting("auto_lock_minutes") == 3
    with Store(tmp_path):
        pass
    assert calls == [1]


def test_failing_migration_rolls_back_everything(tmp_path, monkeypatch):
    Store(tmp_path).close()

    def half_done(db):
        db["half"].create({"id": int}, pk="id")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, half_done])
    with pytest.raises(RuntimeError):
        Store(tmp_path)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store(tmp_path) as store:
        assert "half" not in store.db.table_names()
        assert store.schema_version == len(MIGRATIONS)


def test_database_from_newer_quarry_is_refused(tmp_path):
    with Store(tmp_path) as store:
        store.db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer version of Quarry"):
        Store(tmp_path)


def test_corrupt_database_gives_clear_error(tmp_path):
    (tmp_path / "quarry.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="Cannot open the local database"):
        Store(tmp_path)


def test_settings_round_trip_and_defaults(tmp_path):
    with Store(tmp_path) as store:
        assert store.get_setting("auto_lock_minutes") == store_module.SETTING_DEFAULTS["auto_lock_minutes"]
        assert store.get_setting("missing") is None
        assert store.get_setting("missing", 7) == 7
        store.set_setting("network", {"name": "devnet", "chain_id": 1337})
        store.set_setting("network", {"name": "anvil", "chain_id": 31337})
        assert store.get_setting("network") == {"name": "anvil", "chain_id": 31337}


def test_account_rows_order_and_label(tmp_path):
    with Store(tmp_path) as store:
        store.upsert_account("0xB", "imported one", "imported", None)
        store.upsert_account("0xA1", "second", "hd", 1)
        store.upsert_account("0xA0", "first", "hd", 0)
        store.set_account_label("0xA1", "renamed")
        rows = store.account_rows()
        assert [r["address"] for r in rows] == ["0xA0", "0xA1", "0xB"]
        assert rows[1]["label"] == "renamed"
        created = rows[0]["created_at"]
        store.upsert_account("0xA0", "again", "hd", 0)
        assert store.account_rows()[0]["created_at"] == created
        store.delete_account("0xB")
        assert len(store.account_rows()) == 2


def test_transaction_is_all_or_nothing(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.set_setting("a", 1)
            raise RuntimeError("abort")
        assert store.get_setting("a") is None
        with store.transaction():
            store.set_setting("a", 1)
            store.set_setting("b", 2)
        assert (store.get_setting("a"), store.get_setting("b")) == (1, 2)


def test_threads_each_get_a_connection_and_see_writes(tmp_path):
    errors: list[BaseException] = []
    with Store(tmp_path) as store:

        def worker(n: int) -> None:
            try:
                for i in range(20):
                    store.set_setting(f"t{n}-{i}", i)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.db["settings"].count == 80
        assert store.get_setting("t3-19") == 19


_READ_THEN_WRITE = """
import sys, time
from wallet.store import Store
store = Store(sys.argv[1])
start, rounds = float(sys.argv[2]), int(sys.argv[3])
while time.time() < start:  # both processes begin together
    time.sleep(0.002)
for _ in range(rounds):
    with store.transaction() as db:  # a sync's shape: read the cursor, then write after it
        rows = list(db.query("SELECT value FROM settings WHERE key = 'counter'"))
        value = int(rows[0]["value"]) if rows else 0
        db["settings"].upsert({"key": "counter", "value": str(value + 1)}, pk="key")
store.close()
"""


def test_two_processes_writing_at_once_wait_for_each_other(tmp_path):
    """Read-then-write transactions in two processes at once: none fails with "database is
    locked" (a deferred BEGIN would, at once, on its first write after the other's commit)
    and no update is lost."""
    import subprocess
    import sys
    import time

    Store(tmp_path).close()  # migrated before the race
    start, rounds = time.time() + 1.5, 150
    processes = [
        subprocess.Popen([sys.executable, "-c", _READ_THEN_WRITE, str(tmp_path), repr(start), str(rounds)],
                         cwd=Path(__file__).resolve().parents[1], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    with Store(tmp_path) as store:
        assert store.get_setting("counter") == 2 * rounds


@pytest.mark.parametrize("had_column", [False, True])
def test_networks_gain_deploy_block_by_migration(tmp_path, monkeypatch, had_column):
    """Stores from before the deploy_block migration: without the column (it is added) or
    with it (an older Quarry added it on save with alter=True; the migration leaves it)."""
    number = MIGRATIONS.index(store_module._m008_networks_deploy_block)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:number])
    with Store(tmp_path) as old:
        row = {"name": "local", "rpc_url": "http://127.0.0.1:8545", "chain_id": 31337,
               "token": None, "board": None, "kind": "rpc"}
        if had_column:
            row["deploy_block"] = 42
        old.db["networks"].insert(row, alter=True)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store(tmp_path) as store:
        assert store.schema_version == len(MIGRATIONS)
        (row,) = store.db.query("SELECT name, deploy_block FROM networks")
        assert row == {"name": "local", "deploy_block": 42 if had_column else None}
