"""The owner's privacy budget: every contribution's privacy loss, composed per dataset file.

    budget = PrivacyBudget(store)
    budget.check(files, plan)            # PrivacyBudgetExceeded before anything is trained
    budget.record(files, account, ...)   # once the update is committed on chain
    budget.spent(dataset_hash)           # epsilon at LEDGER_DELTA, all contributions composed

Each row of the ledger (store table `privacy_ledger`) is one contribution that used one file:
the file's content hash, the account, the bounty and round, the mechanism
(trainer.privacy.ROW_LEVEL = DP-SGD, USER_LEVEL, NO_NOISE) and its parameters. The spent
total of a file is the epsilon of all its contributions' DpEvents composed by dp-accounting's
accountant (trainer.privacy.epsilon_of), at one delta that does not depend on any bounty
(LEDGER_DELTA), never a sum of epsilons by hand. It is a row-level guarantee: DP-SGD protects
each row; user-level noise protects the whole dataset and so each of its rows too. Every
account of this wallet counts towards the same file: the data is what is protected.

The ceiling is a setting (store key CEILING_SETTING; `quarry settings --privacy-ceiling`, the
GUI's Settings page): a contribution whose composed total would cross it is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.privacy import NO_NOISE, ROW_LEVEL, USER_LEVEL, epsilon_of, mechanism_event
from wallet.errors import InvalidInput
from wallet.store import Store

LEDGER_DELTA = 1e-5
CEILING_SETTING = "privacy_budget_ceiling"  # a float epsilon, or null for no ceiling
TABLE = "privacy_ledger"
CSV_FIELDS = ("file_name", "dataset_hash", "account", "network", "bounty_id", "round", "mechanism",
              "parameters", "epsilon", "delta", "blob_hash", "spent_after", "created_at")
MECHANISM_WORDS = {ROW_LEVEL: "each row (DP-SGD)", USER_LEVEL: "whole dataset", NO_NOISE: "no noise"}


class PrivacyBudgetExceeded(InvalidInput):
    """A contribution would take a file's privacy loss past the owner's ceiling."""


def file_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes, 0x-hex: the same data under another name is the same file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "0x" + digest.hexdigest()


@dataclass(frozen=True)
class DatasetFile:
    hash: str
    name: str

    @classmethod
    def of(cls, path: str | Path) -> DatasetFile:
        return cls(file_hash(path), Path(path).name)


def format_epsilon(eps: float | None) -> str:
    return "∞" if eps is None or math.isinf(eps) else f"{eps:.2f}"


class PrivacyBudget:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the ceiling -----------------------------------------------------------------------

    def ceiling(self) -> float | None:
        value = self.store.get_setting(CEILING_SETTING)
        return None if value is None else float(value)

    def set_ceiling(self, epsilon: float | None) -> None:
        if epsilon is not None and not (math.isfinite(epsilon) and epsilon > 0):
            raise InvalidInput("The privacy ceiling must be a number greater than 0 (or none).")
        self.store.set_setting(CEILING_SETTING, None if epsilon is None else float(epsilon))

    # -- the ledger ------------------------------------------------------------------------

    def rows(self, dataset_hash: str | None = None, account: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if dataset_hash is not None:
            where.append("dataset_hash = ?")
            args.append(dataset_hash)
        if account is not None:
            where.append("lower(account) = lower(?)")
            args.append(account)
        sql = f"SELECT * FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        rows = list(self.store.db.query(sql + " ORDER BY created_at, id", args))
        for row in rows:
            row["params"] = json.loads(row["params"])
        return rows

    def _events(self, dataset_hash: str) -> list[Any]:
        return [mechanism_event(r["mechanism"], r["params"]) for r in self.rows(dataset_hash)]

    def spent(self, dataset_hash: str, extra: Sequence[tuple[str, dict]] = ()) -> float:
        """epsilon at LEDGER_DELTA of every recorded contribution of the file (plus `extra`
        (mechanism, params) pairs not yet made), composed by the accountant."""
        events = self._events(dataset_hash) + [mechanism_event(m, p) for m, p in extra]
        return epsilon_of(events, LEDGER_DELTA)

    def files(self) -> list[dict[str, Any]]:
        """Per file: hash, last name seen, contributions, accounts, spent epsilon (None = ∞)."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.rows():
            entry = out.setdefault(row["dataset_hash"], {"dataset_hash": row["dataset_hash"],
                                                         "contributions": 0, "accounts": set()})
            entry["file_name"] = row["file_name"]
            entry["contributions"] += 1
            entry["accounts"].add(row["account"])
        for entry in out.values():
            eps = self.spent(entry["dataset_hash"])
            entry["spent"] = None if math.isinf(eps) else eps
            entry["accounts"] = sorted(entry["accounts"])
        return list(out.values())

    def check(self, files: Sequence[DatasetFile], mechanism: str, params: dict) -> dict[str, float]:
        """The total each file would reach with this contribution; PrivacyBudgetExceeded when
        one would cross the ceiling (nothing is recorded)."""
        ceiling = self.ceiling()
        totals = {f.hash: self.spent(f.hash, [(mechanism, params)]) for f in files}
        if ceiling is None:
            return totals
        for f in files:
            total = totals[f.hash]
            if not total <= ceiling:
                before = self.spent(f.hash)
                if mechanism == NO_NOISE:
                    why = "a contribution without noise has no privacy bound (ε = ∞)"
                else:
                    why = f"this contribution would take it to ε = {format_epsilon(total)}"
                raise PrivacyBudgetExceeded(
                    f"Privacy budget: {f.name} has spent ε = {format_epsilon(before)} of your "
                    f"ceiling of {ceiling:g} (δ = {LEDGER_DELTA:g}); {why}. Nothing was sent. "
                    "Choose more noise, another file, or raise the ceiling in Settings."
                )
        return totals

    def record(
        self, files: Sequence[DatasetFile], account: str, *, mechanism: str, params: dict,
        epsilon: float, delta: float, bounty_id: int, round: int, blob_hash: str = "",
        network: str = "", board: str = "",
    ) -> None:
        """One ledger row per file for a contribution that was committed (or is about to be:
        recorded before the commit, so a crash cannot leave a spent budget unrecorded)."""
        now = time.time()
        with self.store.transaction() as db:
            for f in files:
                db[TABLE].insert({
                    "dataset_hash": f.hash, "file_name": f.name, "account": account,
                    "network": network, "board": board, "bounty_id": int(bounty_id),
                    "round": int(round), "blob_hash": blob_hash, "mechanism": mechanism,
                    "params": json.dumps(params, sort_keys=True),
                    "epsilon": None if math.isinf(epsilon) else float(epsilon),
                    "delta": float(delta), "created_at": now,
                })

    def forget(self, blob_hash: str) -> None:
        """Drop the rows of a contribution that never reached the chain (its commit failed)."""
        self.store.db.execute(f"DELETE FROM {TABLE} WHERE blob_hash = ?", [blob_hash])

    def by_blob(self) -> dict[str, tuple[str, float | None]]:
        """Blob hash (lower case) -> (mechanism in words, that contribution's ε; None = ∞)."""
        return {str(r["blob_hash"]).lower(): (MECHANISM_WORDS.get(r["mechanism"], r["mechanism"]), r["epsilon"])
                for r in self.store.db.query(f"SELECT blob_hash, mechanism, epsilon FROM {TABLE} "
                                             "WHERE blob_hash != ''")}

    def contribution_epsilon(self, account: str, bounty_id: int, round: int) -> tuple[str, float | None] | None:
        """(mechanism words, epsilon) of one contribution, for exports."""
        rows = list(self.store.db.query(
            f"SELECT mechanism, epsilon FROM {TABLE} WHERE lower(account) = lower(?) AND "
            "bounty_id = ? AND round = ? ORDER BY id LIMIT 1", [account, bounty_id, round]))
        if not rows:
            return None
        return MECHANISM_WORDS.get(rows[0]["mechanism"], rows[0]["mechanism"]), rows[0]["epsilon"]


def privacy_csv(budget: PrivacyBudget) -> str:
    """One line per contribution and file, with the file's composed total after it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    seen: dict[str, list[tuple[str, dict]]] = {}
    for row in budget.rows():
        history = seen.setdefault(row["dataset_hash"], [])
        history.append((row["mechanism"], row["params"]))
        after = epsilon_of([mechanism_event(m, p) for m, p in history], LEDGER_DELTA)
        writer.writerow({
            "file_name": row["file_name"], "dataset_hash": row["dataset_hash"], "account": row["account"],
            "network": row["network"], "bounty_id": row["bounty_id"], "round": row["round"],
            "mechanism": MECHANISM_WORDS.get(row["mechanism"], row["mechanism"]),
            "parameters": json.dumps(row["params"], sort_keys=True),
            "epsilon": "inf" if row["epsilon"] is None else f"{row['epsilon']:.4f}",
            "delta": f"{row['delta']:g}", "blob_hash": row["blob_hash"],
            "spent_after": "inf" if math.isinf(after) else f"{after:.4f}",
            "created_at": f"{row['created_at']:.0f}",
        })
    return out.getvalue()
