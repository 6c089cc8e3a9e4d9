"""Standing contributions: the wallet keeps contributing to a bounty, round after round, from
the files or folder the owner chose, within the limits they set. No Qt: the GUI runs passes
in a worker (ui/autopilot_runner.py), `quarry autopilot` runs them headless.

    standing = add_standing(store, network, board, bounty_id, account, ["~/data/"], max_rounds=5)
    pilot = Autopilot(store, client, home=home, signer_for=vault_signer_or_none)
    outcomes = pilot.run_pass()

One pass, for every active standing contribution of this network and board: when the bounty's
current round accepts submissions and the account has not submitted to it, run the staged
steps of wallet.contribute (prepare, train, privatise, encrypt, submit) in the privacy mode
saved with it (row: DP-SGD; dataset: noise on the update; none) and submit. Conditions checked
first, each a reason to wait (not a failure): the wallet is unlocked (`signer_for` returns
None while locked) and the machine is on mains power when it reports a battery
(`power_source`). The owner's privacy budget (wallet.privacy_budget, the ceiling set in
Settings) is checked by the staged steps before training: reaching it pauses. A failure that
waiting will not fix pauses that standing contribution with the reason stored (schema
changed, privacy budget reached, bounty cancelled or completed, a file gone, a node
unreachable three passes in a row, an unexpected error): it never retries forever. It stops ("done") at
its round limit. Everything it does is recorded in `standing_events` (and the submission
itself in the wallet's transactions and history, like any other).

Folders: every .csv / .npz file directly inside is a candidate. A file that matches the
bounty's schema is used; one that never matched is left out (recorded once); one that matched
before and no longer does means the data changed: the standing contribution pauses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from wallet.bounties import BountyClient, StaleRound
from wallet.errors import InvalidInput, NetworkError, NotFound, QuarryError
from wallet.store import Store

log = logging.getLogger(__name__)

STANDING_TABLE = "standing_contributions"
EVENTS_TABLE = "standing_events"
ACTIVE, PAUSED, STOPPED, DONE = "active", "paused", "stopped", "done"
STATUSES = (ACTIVE, PAUSED, STOPPED, DONE)
PRIVACY_MODES = ("row", "dataset", "none")  # as wallet.contribute.PRIVACY_MODES
DATA_SUFFIXES = (".csv", ".npz")
MAX_NETWORK_FAILURES = 3  # passes in a row that could not reach the node or inbox, then pause
POWER_SUPPLY_DIR = Path("/sys/class/power_supply")


@dataclass
class Standing:
    id: int
    network: str
    board: str
    bounty_id: int
    account: str
    title: str
    sources: list[str]
    noise_multiplier: float
    privacy: str  # "row" (DP-SGD), "dataset" (noise on the update) or "none"
    epochs: int | None
    gasless: bool
    max_rounds: int
    mains_only: bool
    status: str
    reason: str
    rounds_done: int
    last_run: float | None
    last_round: int | None
    next_note: str
    known_files: list[str]
    ignored_files: list[str]
    earned: int
    token: str
    paid_rounds: list[int]
    failures: int
    created_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Standing:
        return cls(
            id=int(row["id"]), network=row["network"], board=row["board"], bounty_id=int(row["bounty_id"]),
            account=row["account"], title=row["title"] or f"bounty {row['bounty_id']}",
            sources=json.loads(row["sources"] or "[]"), noise_multiplier=float(row["noise_multiplier"] or 0),
            privacy=row.get("privacy") or ("dataset" if row["noise_multiplier"] else "none"),
            epochs=row["epochs"], gasless=bool(row["gasless"]), max_rounds=int(row["max_rounds"] or 1),
            mains_only=bool(row["mains_only"]), status=row["status"], reason=row["reason"] or "",
            rounds_done=int(row["rounds_done"] or 0), last_run=row["last_run"], last_round=row["last_round"],
            next_note=row["next_note"] or "", known_files=json.loads(row["known_files"] or "[]"),
            ignored_files=json.loads(row["ignored_files"] or "[]"), earned=int(row["earned"] or 0),
            token=row["token"] or "", paid_rounds=json.loads(row["paid_rounds"] or "[]"),
            failures=int(row["failures"] or 0), created_at=float(row["created_at"]))

    @property
    def rounds_text(self) -> str:
        return f"{self.rounds_done} of at most {self.max_rounds} rounds"


def add_standing(store: Store, network: str, board: str, bounty_id: int, account: str,
                 sources: Sequence[str | Path], *, title: str = "", privacy: str = "row",
                 noise_multiplier: float = 0.0, epochs: int | None = None, gasless: bool = False, max_rounds: int = 1,
                 mains_only: bool = True) -> Standing:
    """Save a standing contribution ("Keep contributing"). Sources: files or folders."""
    if not sources:
        raise InvalidInput("Choose the files or the folder to contribute from.")
    paths = [str(Path(s).expanduser().resolve()) for s in sources]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise InvalidInput(f"No such file or folder: {', '.join(missing)}.")
    if not 1 <= int(max_rounds) <= 10_000:
        raise InvalidInput("The number of rounds must be between 1 and 10000.")
    if epochs is not None and not 1 <= epochs <= 10_000:
        raise InvalidInput("Epochs must be between 1 and 10000.")
    if not noise_multiplier >= 0:
        raise InvalidInput("The noise multiplier must be a number >= 0.")
    if privacy not in PRIVACY_MODES:
        raise InvalidInput(f"The privacy mode is one of {', '.join(PRIVACY_MODES)}.")
    if privacy == "none" and noise_multiplier > 0:
        raise InvalidInput("A noise multiplier needs the privacy mode row or dataset.")
    existing = [s for s in list_standing(store, network, board)
                if s.bounty_id == bounty_id and s.account == account and s.status in (ACTIVE, PAUSED)]
    if existing:
        raise InvalidInput(f"{account} already keeps contributing to bounty {bounty_id} "
                           f"(standing contribution {existing[0].id}); stop it first.")
    with store.transaction() as db:
        table = db[STANDING_TABLE]
        table.insert({
            "network": network, "board": board, "bounty_id": int(bounty_id), "account": account,
            "title": title, "sources": json.dumps(paths), "noise_multiplier": float(noise_multiplier),
            "privacy": privacy,
            "epochs": epochs, "gasless": int(gasless), "max_rounds": int(max_rounds),
            "mains_only": int(mains_only), "status": ACTIVE, "reason": "", "rounds_done": 0,
            "last_run": None, "last_round": None, "next_note": "", "known_files": "[]",
            "ignored_files": "[]", "earned": "0", "token": "", "paid_rounds": "[]", "failures": 0,
            "created_at": time.time(),
        })
        standing_id = int(table.last_pk)
    record(store, standing_id, "created", f"Keeps contributing to bounty {bounty_id} from "
           f"{', '.join(paths)}, at most {max_rounds} round(s)")
    return get_standing(store, standing_id)


def get_standing(store: Store, standing_id: int) -> Standing:
    rows = list(store.db.query(f"SELECT * FROM {STANDING_TABLE} WHERE id = ?", [standing_id]))
    if not rows:
        raise NotFound(f"There is no standing contribution {standing_id}.")
    return Standing.from_row(rows[0])


def list_standing(store: Store, network: str | None = None, board: str | None = None) -> list[Standing]:
    sql, params = f"SELECT * FROM {STANDING_TABLE}", []
    if network is not None and board is not None:
        sql, params = sql + " WHERE network = ? AND board = ?", [network, board]
    return [Standing.from_row(r) for r in store.db.query(sql + " ORDER BY id", params)]


def record(store: Store, standing_id: int, kind: str, message: str, round_: int | None = None,
           tx_hash: str | None = None) -> None:
    store.db[EVENTS_TABLE].insert({"standing_id": standing_id, "at": time.time(), "kind": kind,
                                   "round": round_, "message": message, "tx_hash": tx_hash})


def standing_events(store: Store, standing_id: int, limit: int = 200) -> list[dict[str, Any]]:
    return list(store.db.query(
        f"SELECT * FROM {EVENTS_TABLE} WHERE standing_id = ? ORDER BY id DESC LIMIT ?", [standing_id, limit]))


def _update(store: Store, standing_id: int, **values: Any) -> None:
    for key in ("known_files", "ignored_files", "paid_rounds", "sources"):
        if key in values:
            values[key] = json.dumps(values[key])
    if "earned" in values:
        values["earned"] = str(values["earned"])
    store.db[STANDING_TABLE].update(standing_id, values)


def set_status(store: Store, standing_id: int, status: str, reason: str = "") -> Standing:
    """Pause, resume (active) or stop by hand (reason e.g. "by hand"). A stopped or finished
    one stays stopped."""
    if status not in STATUSES:
        raise InvalidInput(f"Unknown status {status!r}.")
    current = get_standing(store, standing_id)
    if current.status in (STOPPED, DONE) and status == ACTIVE:
        raise InvalidInput(f"Standing contribution {standing_id} has {current.status}; add a new one.")
    values: dict[str, Any] = {"status": status, "reason": reason}
    if status == ACTIVE:
        values["failures"] = 0
    _update(store, standing_id, **values)
    verb = {ACTIVE: "resumed", PAUSED: "paused", STOPPED: "stopped", DONE: "done"}[status]
    record(store, standing_id, verb, f"{verb.capitalize()} {reason}" if reason else verb.capitalize())
    return get_standing(store, standing_id)


# -- conditions -------------------------------------------------------------------------------


def power_source(supply_dir: Path = POWER_SUPPLY_DIR) -> str:
    """"mains", "battery" or "unknown". Linux reports supplies under /sys/class/power_supply:
    a machine without a battery is on mains; with one, it is on mains when an AC/USB supply is
    online or the battery is charging or full. Elsewhere "unknown" (no heavy dependency)."""
    try:
        supplies = [p for p in supply_dir.iterdir() if (p / "type").is_file()]
    except OSError:
        return "unknown"

    def read(path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError:
            return ""

    batteries = [p for p in supplies if read(p / "type") == "Battery"]
    if not supplies:
        return "unknown"
    if not batteries:
        return "mains"
    if any(read(p / "type") in ("Mains", "USB", "USB_C", "USB_PD") and read(p / "online") == "1"
           for p in supplies):
        return "mains"
    statuses = {read(b / "status") for b in batteries}
    if statuses & {"Charging", "Full", "Not charging"}:
        return "mains"
    if "Discharging" in statuses:
        return "battery"
    return "unknown"


def privacy_text(standing: Standing) -> str:
    noise = f", noise multiplier {standing.noise_multiplier:g}" if standing.noise_multiplier else ""
    return {"row": "each row protected (DP-SGD" + (noise + ")" if noise else ", the wallet's default noise)"),
            "dataset": "noise on the whole update" + noise,
            "none": "no noise"}.get(standing.privacy, standing.privacy)


def conditions(standing: Standing, *, power: str, unlocked: bool,
               budget_ceiling: float | None = None) -> list[tuple[str, str]]:
    """(condition, state) lines for the faces: what a pass would wait for."""
    lines = [("wallet", "unlocked" if unlocked else "locked: waits for unlock")]
    if standing.mains_only:
        lines.append(("power", {"mains": "on mains power", "battery": "on battery: waits for mains power",
                                "unknown": "unknown (the machine does not say): not checked"}[power]))
    else:
        lines.append(("power", "any"))
    lines.append(("privacy budget", f"within the ceiling ε = {budget_ceiling:g} per data file "
                  "(pauses when reached)" if budget_ceiling is not None
                  else "no ceiling set (Settings › Privacy): not limited"))
    return lines


# -- one pass ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    standing_id: int
    action: str  # submitted, waiting, skipped, paused, done, earned, failed, uploaded
    message: str
    round: int | None = None
    tx_hash: str | None = None


NOTIFIED = ("submitted", "earned", "paused", "done", "uploaded")  # what a notification says


@dataclass
class PassReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def submitted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "submitted"]

    def notifications(self) -> list[str]:
        """What a desktop notification says: submissions, earnings, pauses."""
        return [o.message for o in self.outcomes if o.action in NOTIFIED]


def data_files(standing: Standing) -> list[Path]:
    """The candidate files now: listed files, and the .csv/.npz files directly inside folders.
    InvalidInput when a chosen file or folder is gone."""
    found: list[Path] = []
    for source in standing.sources:
        path = Path(source)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput(f"{source} is gone (no such file or folder).")
    return found


class Autopilot:
    """Runs passes over the standing contributions of one network and board.

    signer_for(account): the account's signer, or None while the wallet is locked.
    power(): "mains" / "battery" / "unknown" (default: `power_source`)."""

    def __init__(self, store: Store, client: BountyClient, *, home: str | Path,
                 signer_for: Callable[[str], LocalAccount | None],
                 power: Callable[[], str] = power_source,
                 notify: Callable[[str], None] | None = None,
                 sync_lock: AbstractContextManager[Any] | None = None) -> None:
        self.store = store
        self.client = client
        self.home = Path(home)
        self.network = client.network
        self.board = client.board_address
        self.signer_for = signer_for
        self.power = power
        self.notify = notify
        # held around the chain-log sync of the earnings check (the GUI's pages sync the same
        # cache: two writers at once may make SQLite refuse one)
        self.sync_lock = sync_lock if sync_lock is not None else contextlib.nullcontext()

    def standing(self) -> list[Standing]:
        return list_standing(self.store, self.network, self.board)

    def run_pass(self, should_stop: Callable[[], bool] | None = None) -> PassReport:
        report = PassReport()
        report.outcomes.extend(self.retry_uploads())
        for standing in self.standing():
            if should_stop is not None and should_stop():
                break
            if standing.status == ACTIVE:
                report.outcomes.append(self._run_one(standing, should_stop))
            if standing.rounds_done or standing.status == ACTIVE:
                earned = self._check_earnings(get_standing(self.store, standing.id))
                if earned is not None:
                    report.outcomes.append(earned)
        for outcome in report.outcomes:
            if self.notify is not None and outcome.action in NOTIFIED:
                self.notify(outcome.message)
        return report

    def retry_uploads(self) -> list[Outcome]:
        """Upload the committed updates whose upload failed (kept in the outbox), so they reach
        the practitioner while it still waits for them (`practitioner.runner.UPLOAD_WINDOW_S`
        after the deadline) without the owner retrying by hand. One still failing stays kept."""
        from wallet.history import round_text
        from wallet.outbox import Outbox, retry_uploads

        outbox = Outbox(self.home / "outbox")
        if not outbox.pending():
            return []
        outcomes = []
        results = retry_uploads(self.client, outbox, drop_uncommitted=False)
        kept = {p.blob_hash for p in outbox.pending()}  # (the wizard may have sent one meanwhile)
        for result in results:
            pending = result.pending
            where = f"bounty {pending.bounty_id}, {round_text(pending.round, None)}"
            if result.outcome == "uploaded":
                outcomes.append(Outcome(0, "uploaded", f"Uploaded your update to {where}.", pending.round))
            elif result.outcome == "failed" and pending.blob_hash in kept:
                outcomes.append(Outcome(0, "failed", f"Still not uploaded ({where}): {result.message}",
                                        pending.round))
        return outcomes

    # -- one standing contribution -------------------------------------------------------

    def _pause(self, standing: Standing, reason: str, round_: int | None = None) -> Outcome:
        _update(self.store, standing.id, status=PAUSED, reason=reason, last_run=time.time())
        record(self.store, standing.id, "paused", reason, round_)
        return Outcome(standing.id, "paused", f"Paused contributing to {standing.title}: {reason}", round_)

    def _wait(self, standing: Standing, note: str, round_: int | None = None) -> Outcome:
        _update(self.store, standing.id, next_note=note)
        return Outcome(standing.id, "waiting", note, round_)

    def _run_one(self, standing: Standing, should_stop: Callable[[], bool] | None) -> Outcome:
        from wallet.contribute import (  # loads the trainer only when there is work
            Contribution,
            OpenUpdateWithoutNoise,
            RepeatedUpdate,
            sends_without_noise,
        )

        if standing.rounds_done >= standing.max_rounds:
            return self._done(standing)
        try:
            bounty = self.client.bounty(standing.bounty_id)
        except NetworkError as exc:
            return self._network_failure(standing, exc)
        except QuarryError as exc:
            return self._pause(standing, str(exc))
        if bounty.status == "cancelled":
            return self._pause(standing, "the bounty was cancelled")
        if bounty.status == "completed":
            return self._pause(standing, "the bounty is completed: it has no more rounds")
        round_ = bounty.current_round
        label = f"round {round_ + 1} of {bounty.rounds}"
        if bounty.phase != "accepting":
            nxt = f"round {round_ + 2} of {bounty.rounds}" if round_ + 1 < bounty.rounds else "no further round"
            return self._wait(standing, f"{label[0].upper()}{label[1:]} is {bounty.phase}; next: {nxt}", round_)
        if self.client.submission(standing.bounty_id, round_, standing.account) is not None:
            return self._wait(standing, f"Already submitted to {label}; waits for the next round", round_)
        signer = self.signer_for(standing.account)
        if signer is None:
            return self._wait(standing, f"{label[0].upper()}{label[1:]} is open: waits for the wallet to be unlocked", round_)
        if standing.mains_only and self.power() == "battery":
            return self._wait(standing, f"{label[0].upper()}{label[1:]} is open: waits for mains power", round_)

        from wallet.privacy_budget import PrivacyBudget

        contribution = Contribution(self.client, standing.bounty_id, account=standing.account,
                                    file_roots=[self.home], should_stop=should_stop,
                                    # the owner's confirmed column mapping per file is reused
                                    budget=PrivacyBudget(self.store), store=self.store)
        try:
            files = data_files(standing)
            contribution.open_round(noise_multiplier=standing.noise_multiplier if standing.privacy == "dataset"
                                    else None, gasless=standing.gasless)
            if contribution.spec.open_updates and sends_without_noise(standing.privacy, standing.noise_multiplier):
                # said before training
                raise OpenUpdateWithoutNoise(standing.bounty_id)
            use, ignored = [], list(standing.ignored_files)
            for path in files:
                problem = contribution.check_file(path)
                if problem is None:
                    use.append(str(path))
                elif str(path) in standing.known_files:
                    return self._pause(standing, f"{path.name} no longer matches the bounty's schema "
                                                 f"(the data changed): {problem}", round_)
                elif str(path) not in ignored:
                    ignored.append(str(path))
                    record(self.store, standing.id, "ignored", f"{path} left out: {problem}", round_)
            if ignored != standing.ignored_files:
                _update(self.store, standing.id, ignored_files=ignored)
            if not use:
                return self._pause(standing, "no chosen file matches the bounty's schema", round_)
            contribution.load_data(use)
            if standing.privacy == "row":  # DP-SGD: the budget is checked before training
                dp_sgd = contribution.row_privacy(standing.noise_multiplier or None, None, standing.epochs)
                contribution.train(standing.epochs, dp_sgd=dp_sgd)
                contribution.privatise(0.0)
            else:
                contribution.train(standing.epochs)
                contribution.privatise(standing.noise_multiplier if standing.privacy == "dataset" else 0.0)
            contribution.encrypt()
            result = contribution.submit(signer, gasless=standing.gasless, blob_dir=self.home / "blobs",
                                         outbox_dir=self.home / "outbox", refuse_repeat=True,
                                         refuse_open_without_noise=True)
        except StaleRound as exc:  # the round closed while it trained: the next pass takes the new one
            record(self.store, standing.id, "stale", str(exc), round_)
            return self._wait(standing, "The round closed while training; the next pass takes the new round", round_)
        except NetworkError as exc:
            return self._network_failure(standing, exc)
        except RepeatedUpdate as exc:
            return self._pause(standing, f"{exc} Set this standing contribution to protect each row to "
                                         "contribute again.", round_)
        except OpenUpdateWithoutNoise as exc:
            return self._pause(standing, f"{exc} Set this standing contribution to protect each row to "
                                         "contribute to it.", round_)
        except QuarryError as exc:
            return self._pause(standing, str(exc), round_)
        except Exception as exc:
            from trainer.errors import TrainerError, TrainingCancelled

            if isinstance(exc, TrainingCancelled):
                return Outcome(standing.id, "skipped", "Cancelled; nothing was sent.", round_)
            if isinstance(exc, TrainerError):
                return self._pause(standing, str(exc), round_)
            # a bug: logged with its traceback, and this standing contribution stops trying
            log.exception("standing contribution %s failed", standing.id)
            return self._pause(standing, f"unexpected error ({type(exc).__name__}); details are in the log",
                               round_)
        rounds_done = standing.rounds_done + 1
        known = sorted(set(standing.known_files) | set(use))
        _update(self.store, standing.id, rounds_done=rounds_done, last_run=time.time(), last_round=round_,
                known_files=known, failures=0, title=result.title,
                next_note=f"Submitted to {label}; waits for the next round")
        message = f"Submitted to round {round_ + 1} of {result.title}"
        detail = message + (f" (upload pending: {result.upload_error})" if result.upload_error else "")
        from trainer.data import rows_text  # trainer loads with the first training, not at start-up

        record(self.store, standing.id, "submitted", f"{detail}; trained on {rows_text(result.n_rows)} of "
               f"{len(use)} file(s)", round_, result.tx_hash)
        if rounds_done >= standing.max_rounds:
            self._done(get_standing(self.store, standing.id))
        return Outcome(standing.id, "submitted", message, round_, result.tx_hash)

    def _done(self, standing: Standing) -> Outcome:
        reason = f"reached its limit of {standing.max_rounds} round(s)"
        _update(self.store, standing.id, status=DONE, reason=reason, next_note="")
        record(self.store, standing.id, "done", reason)
        return Outcome(standing.id, "done", f"Finished contributing to {standing.title}: {reason}")

    def _network_failure(self, standing: Standing, exc: Exception) -> Outcome:
        failures = standing.failures + 1
        if failures >= MAX_NETWORK_FAILURES:
            _update(self.store, standing.id, failures=failures)
            return self._pause(standing, f"{exc} ({failures} tries in a row)")
        _update(self.store, standing.id, failures=failures, last_run=time.time())
        record(self.store, standing.id, "failed", f"{exc}; tries again next pass ({failures} of "
               f"{MAX_NETWORK_FAILURES})")
        return Outcome(standing.id, "failed", str(exc))

    def _check_earnings(self, standing: Standing) -> Outcome | None:
        """The rewards of the rounds this account submitted to (this bounty): a newly paid
        round is announced once ("Earned 12 QDT")."""
        if self.client.store is None:
            return None
        try:
            with self.sync_lock:
                summary = self.client.rewards(standing.account)
            rows = [r for r in summary.rows if r.bounty_id == standing.bounty_id]
        except QuarryError:
            return None  # earnings wait for the next pass; nothing to pause for
        paid = [r for r in rows if r.amount > 0 and r.status in ("finalised", "expired", "claimed", "claimable")]
        new = [r for r in paid if r.round not in standing.paid_rounds]
        if not new:
            return None
        token = new[0].token
        total = sum(r.amount for r in paid)
        _update(self.store, standing.id, earned=total, token=token,
                paid_rounds=sorted({*standing.paid_rounds, *(r.round for r in new)}))
        amount = self.client.token(token).amount(sum(r.amount for r in new), 4)
        message = f"Earned {amount} from {standing.title}"
        record(self.store, standing.id, "earned", message, new[-1].round)
        return Outcome(standing.id, "earned", message, new[-1].round)
