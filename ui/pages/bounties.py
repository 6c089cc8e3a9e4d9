"""Bounties page: a searchable, sortable, filterable table, a detail pane, and Accept."""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ui import network_link, theme
from ui.models import Column, FilterProxy, RowTableModel
from ui.pages.base import Page
from ui.pages.contribute import ContributeFlow
from ui.widgets import Banner, BusyPanel, button, sortable_table
from wallet import token as tokens

if TYPE_CHECKING:
    from ui.context import AppContext

TASK_NAMES = {"binary_classification": "Binary classification",
              "multiclass_classification": "Multi-class classification"}
TASK_SHORT = {"binary_classification": "Binary", "multiclass_classification": "Multi-class"}
PHASE_NAMES = {"accepting": "Open", "awaiting finalisation": "Being scored",
               "expirable": "Expirable", "closed": "Closed"}
DEADLINE_FILTERS = (("Any deadline", None), ("Within 1 hour", 3600), ("Within 1 day", 86_400),
                    ("Within 1 week", 7 * 86_400))


def time_left(deadline: int, now: float | None = None) -> str:
    seconds = int(deadline - (time.time() if now is None else now))
    if seconds <= 0:
        return "passed"
    if seconds < 3600:
        return f"{seconds // 60 + 1} min"
    if seconds < 86_400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"


def bounty_columns() -> list[Column]:
    return [
        Column("#", lambda r: str(r["id"]), sort=lambda r: r["id"]),
        Column("Title", lambda r: r["title"],
               tooltip=lambda r: r.get("spec_problem") or r["title"]),
        # short in the table (the filter and the detail say it in full)
        Column("Task", lambda r: TASK_SHORT.get(r["task"], r["task"] or "?"),
               tooltip=lambda r: TASK_NAMES.get(r["task"], r["task"] or "?")),
        # each bounty's own token; one the network does not list is marked with its address
        Column("Reward / round", lambda r: f"{r['reward_text']} {r['token_short']}", sort=lambda r: r["reward"],
               align_right=True, tooltip=lambda r: TOKEN_TIPS[r["token_known"]].format(r["token"])),
        Column("Round", lambda r: f"{r['current_round'] + 1} of {r['rounds']}",
               sort=lambda r: r["current_round"]),
        Column("Deadline", lambda r: time_left(r["round_deadline"]) if r["phase"] == "accepting"
               else "–", sort=lambda r: r["round_deadline"]),
        Column("Status", lambda r: PHASE_NAMES.get(r["phase"], r["phase"])),
        Column("Verifiable", lambda r: VERIFIABLE_TEXT[r.get("verifiable")],
               tooltip=lambda r: VERIFIABLE_TIPS[r.get("verifiable")]),
        Column("Open to", lambda r: "Invited" if r.get("by_invitation") else "Anyone",
               tooltip=lambda r: OPEN_TO_TIPS[bool(r.get("by_invitation"))]),
        Column("Mine", lambda r: r["my_status"]),
    ]


OPEN_TO_TIPS = {
    False: "Anyone may contribute and be paid for what their update adds.",
    True: "By invitation: the practitioner pays only the people it invited (add your invitation "
          "on the bounty's detail).",
}


TOKEN_TIPS = {
    True: "Paid in {0}, the token this network lists.",
    False: "⚠ Unverified token: paid in {0}, which this network does not list; its name and "
           "symbol are its own claims and prove nothing about its worth.",
}


# whether owners can recompute the scores (the spec's `verifiable`; None: spec not verified)
VERIFIABLE_TEXT = {True: "Yes", False: "No", None: "?"}
VERIFIABLE_TIPS = {
    True: "The practitioner reveals its validation set at the end: your wallet recomputes your "
          "score and pay.",
    False: "The practitioner keeps its validation set private: you can check that the payouts "
           "match the chain, not the scores they were computed from.",
    None: "The spec could not be verified against its on-chain hash.",
}


def spec_verifiable(spec: dict[str, Any] | None) -> bool | None:
    return None if spec is None else spec.get("verifiable") is not False


def load_bounty_rows(client: Any, account: str | None, spec_cache: dict[str, Any]) -> list[dict]:
    """Bounties with their verified spec's title and task (worker thread)."""
    rows = []
    for bounty in client.list_bounties():
        if bounty.spec_hash not in spec_cache:
            spec_cache[bounty.spec_hash] = client.fetch_spec(bounty)
        spec, problem = spec_cache[bounty.spec_hash]
        mine = ""
        if account and bounty.phase == "accepting" and client.submission(
                bounty.id, bounty.current_round, account):
            mine = "Submitted"
        row = bounty.as_dict()
        token = client.token(bounty.token)  # symbol and decimals from its contract (cached)
        row.update(
            title=str(spec.get("title", f"Bounty {bounty.id}")) if spec else f"Bounty {bounty.id}",
            task=str(spec.get("task", "")) if spec else "",
            spec_ok=spec is not None, spec_problem=problem, verifiable=spec_verifiable(spec),
            by_invitation=bool(spec and spec.get("invitation_signer")),
            reward=token.value(bounty.reward_per_round),
            reward_text=tokens.format_amount(bounty.reward_per_round, token.decimals, 2),
            token_text=token.text, token_short=token.short, token_known=token.known,
            my_status=mine,
        )
        rows.append(row)
    return rows


def invitation_signer(details: Any) -> str | None:
    """The key a bounty by invitation names (None: open to everyone, or the spec is unverified)."""
    return (details.spec or {}).get("invitation_signer") if details.spec_ok else None


def holds_invitation(client: Any, details: Any, account: str | None) -> bool | None:
    """Whether this wallet keeps `account`'s invitation to the bounty (None: it needs none)."""
    from wallet.invitations import home_of, kept_invitation

    signer, home = invitation_signer(details), home_of(client)
    if signer is None or account is None:
        return None
    return home is not None and kept_invitation(home, client.chain_id, client.board_address,
                                                details.bounty.id, account, signer) is not None


def load_details(client: Any, bounty_id: int, account: str | None,
                 spec_cache: dict[str, Any]) -> tuple[Any, Any, str | None]:
    """(details, the practitioner's track record or None, why not) for the detail pane
    (worker thread). A track record that cannot be read does not hide the bounty."""
    from wallet.errors import QuarryError
    from wallet.track_record import track_record

    details = client.show(bounty_id, account)
    spec_cache.setdefault(details.bounty.spec_hash, (details.spec, details.spec_problem))
    try:
        return details, track_record(client, details.bounty.owner, spec_cache=spec_cache), None
    except (QuarryError, ValueError) as exc:
        return details, None, str(exc)


def track_record_html(record: Any, problem: str | None = None) -> str:
    esc = html.escape
    c = theme.colors()
    parts = ["<h3>Practitioner's track record</h3>"]
    if record is None:
        parts.append(f"<p style='color:{c.muted}'>Not available: {esc(problem or '')}</p>")
        return "".join(parts)
    parts.append("<table cellspacing='4'>")
    colours = {"bad": c.bad, "warn": c.warn, "": c.text}
    for what, value, level in record.facts():
        parts.append(f"<tr><td style='color:{c.muted}'>{esc(what.capitalize())}</td>"
                     f"<td style='color:{colours[level]}'>{esc(value)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def details_html(details: Any, account: str | None, record: Any = None,
                 record_problem: str | None = None, token: Any = None, invited: bool | None = None) -> str:
    """`invited`: whether this wallet keeps the account's invitation (bounties by invitation)."""
    b = details.bounty
    esc = html.escape
    c = theme.colors()
    parts = []
    spec = details.spec or {}
    title = spec.get("title") or f"Bounty {b.id}"
    parts.append(f"<h2>{esc(str(title))}</h2>")
    if not details.spec_ok:
        parts.append(f"<p style='color:{c.bad}'><b>⚠ {esc(details.spec_problem or '')}</b></p>")
    else:
        parts.append(f"<p style='color:{c.good}'>✓ Spec verified against its on-chain hash "
                     f"<code>{esc(b.spec_hash[:18])}…</code></p>")
        if spec.get("description"):
            parts.append(f"<p>{esc(str(spec['description']))}</p>")
    if token is None:  # not read yet: base units, never a guessed symbol
        token = tokens.TokenLabel(b.token, "base units", 0, True)
    if not token.known:
        parts.append(f"<p style='color:{c.bad}'><b>⚠ Paid in a token this network does not list</b> "
                     f"(<code>{esc(b.token)}</code>). It calls itself {esc(token.symbol)}; that proves "
                     "nothing about its worth.</p>")
    reward = esc(token.amount(b.reward_per_round, 4))
    escrow = esc(token.amount(b.escrow, 4))
    parts.append("<table cellspacing='4'>")
    rows = [("Practitioner", f"<code>{esc(b.owner)}</code>"),
            ("Reward", f"{reward} per round × {b.rounds} rounds"),
            ("In escrow", escrow),
            ("Token", f"<code>{esc(b.token)}</code>"),
            ("Round", f"{b.current_round + 1} of {b.rounds} · {esc(b.round_state)} · "
                      f"{b.round_submissions} submissions"),
            ("Deadline", dt.datetime.fromtimestamp(b.round_deadline).strftime("%Y-%m-%d %H:%M")
             + f" ({time_left(b.round_deadline)})"),
            ("Max contributors", str(b.max_contributors))]
    if spec:
        schema = spec.get("schema", {})
        columns = [str(col.get("name")) for col in schema.get("columns", [])]
        shown = ", ".join(columns[:12]) + (f", … ({len(columns)} in all)" if len(columns) > 12
                                          else "")
        model = spec.get("model", {})
        rows += [("Task", esc(TASK_NAMES.get(str(spec.get("task")), str(spec.get("task"))))),
                 ("Columns", esc(shown)),
                 ("Label", f"{esc(str(schema.get('label')))} → classes "
                           f"{esc(', '.join(map(str, schema.get('classes', []))))}"),
                 ("Minimum rows", str(schema.get("min_rows", "?"))),
                 ("Model", esc(f"{model.get('type')} {model.get('hidden') or ''}".strip())),
                 ("Metric", esc(str(spec.get("metric", "")))),
                 ("Inbox", esc(str(spec.get("inbox_url") or "files on this computer")))]
    mine = "not submitted to this round"
    if details.my_submission:
        mine = f"submitted (blob {esc(details.my_submission['blob_hash'][:14])}…)"
    if details.spec_ok:
        from wallet.bounties import validation_set_text  # web3 is loaded once details exist

        validation, small = validation_set_text(details.spec)
        if small:  # "N rows, small: why it matters" with only the verdict in bold
            verdict, _, why = validation.partition(": ")
            rows.append(("Validation set", f"<b style='color:{c.warn}'>{esc(verdict)}.</b> {esc(why[:1].upper() + why[1:])}."))
        else:
            rows.append(("Validation set", esc(validation)))
        from wallet.bounties import valuation_rules_text

        rules, older = valuation_rules_text(details.spec)
        verdict, _, why = rules.partition(": ")
        rows.append(("Reports", (f"<b style='color:{c.warn}'>{esc(verdict[:1].upper() + verdict[1:])}.</b> "
                                 if older else f"<b>{esc(verdict[:1].upper() + verdict[1:])}.</b> ")
                     + esc(why[:1].upper() + why[1:]) + "."))
        from wallet.bounties import open_updates_text

        opened = open_updates_text(details.spec)
        if opened:
            verdict, _, why = opened.partition(": ")
            rows.append(("Updates", f"<b>{esc(verdict[:1].upper() + verdict[1:])}.</b> "
                                    + esc(why[:1].upper() + why[1:]) + "."))
    verifiable = spec_verifiable(details.spec)
    if verifiable is not None:
        rows.append(("Verifiable", esc(VERIFIABLE_TIPS[verifiable]) if verifiable else
                     f"<b style='color:{c.warn}'>No.</b> {esc(VERIFIABLE_TIPS[False])}"))
    signer = invitation_signer(details)
    if signer:
        rows.append(("Who is paid", f"<b>By invitation.</b> The practitioner values only the owners it "
                                    f"invites (invitations signed by <code>{esc(signer)}</code>)."))
        if account:
            mine += "; invited" if invited else f"; <b style='color:{c.warn}'>no invitation yet</b>"
    rows.append(("My status", mine if account else "–"))
    for name, value in rows:
        parts.append(f"<tr><td style='color:{c.muted}'>{name}</td><td>{value}</td></tr>")
    parts.append("</table><h3>Rounds</h3><table cellspacing='4'>")
    for r in details.rounds:
        parts.append(f"<tr><td>Round {r['round'] + 1}</td><td>{esc(r['state'])}</td>"
                     f"<td>{r['submissions']} submissions</td></tr>")
    parts.append("</table>")
    if record is not None or record_problem:
        parts.append(track_record_html(record, record_problem))
    parts.append(GUARANTEES_HTML)
    return "".join(parts)


# What the contract guarantees and what no contract can, in plain words (issue 15; the rules
# are in docs/PROTOCOL.md and asserted by tests/test_contracts.py and tests/test_verify.py).
GUARANTEES_HTML = (
    "<h3>What the chain guarantees</h3>"
    "<p>The whole reward is locked in the contract when the bounty is posted. Once a round has "
    "a submission, its reward can only go to contributors: what the practitioner does not pay "
    "out is carried into the next round and shared at the end among the bounty's contributors, by "
    "the value each showed over the whole bounty. If "
    "the practitioner does not score a round in time, anyone can expire it and its reward is "
    "split equally among its submitters. Your wallet checks each report against the chain and "
    "against its own pay rule, recomputes those end-of-bounty shares from the reports, checks the "
    "practitioner's proof of any claim that your update copies another's (on bounties posted with "
    "copy proofs: see Reports above) and, once the validation set is revealed, recomputes your own "
    "score and pay factor. On bounties posted now it also checks, before you train, that the "
    "practitioner's encryption key is well formed, so such proofs cannot open your update as "
    "another's.</p>"
    "<p><b>What it cannot stop:</b> a practitioner paying addresses it controls itself, "
    "misstating values it alone can compute (each depends on every other owner's update; on a "
    "bounty that opens its updates at the reveal, see Updates above, your wallet recomputes them all), or "
    "scoring on validation data it never reveals. The track record above and your wallet's "
    "checks make that visible; they cannot undo it. On a bounty open to everyone, one person "
    "sending parts of their data from many addresses can earn more than the whole would from "
    "one; a bounty by invitation pays only the addresses its practitioner invited.</p>"
)


class BountiesPage(Page):
    title = "Bounties"
    icon_name = "bounties"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.spec_cache: dict[str, Any] = {}
        self.details: Any = None
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_browser())
        self.contribute = ContributeFlow(ctx)
        self.contribute.closed.connect(self.back_to_list)
        self.stack.addWidget(self.contribute)
        self.body.addWidget(self.stack, 1)
        self.refresh_button = button("", "refresh", accessible="Refresh bounties",
                                     on_click=self.refresh)
        self.header.addWidget(self.refresh_button)

    def _build_browser(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        filters = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search bounties")
        self.search.setAccessibleName("Search bounties")
        self.search.addAction(theme.icon("search", size=16), QLineEdit.ActionPosition.LeadingPosition)
        self.task_filter = QComboBox()
        self.task_filter.setAccessibleName("Filter by task")
        self.task_filter.addItem("All tasks", None)
        for key, name in TASK_NAMES.items():
            self.task_filter.addItem(name, key)
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Filter by status")
        self.status_filter.addItem("Any status", None)
        for key, name in PHASE_NAMES.items():
            self.status_filter.addItem(name, key)
        self.reward_filter = QDoubleSpinBox()
        self.reward_filter.setAccessibleName("Minimum reward per round")
        self.reward_filter.setRange(0, 10**9)
        self.reward_filter.setDecimals(0)
        self.reward_filter.setPrefix("≥ ")
        self.reward_filter.setToolTip("In each bounty's own token")
        self.deadline_filter = QComboBox()
        self.deadline_filter.setAccessibleName("Filter by deadline")
        for name, seconds in DEADLINE_FILTERS:
            self.deadline_filter.addItem(name, seconds)
        filters.addWidget(self.search, 2)
        filters.addWidget(self.task_filter)
        filters.addWidget(self.status_filter)
        filters.addWidget(self.reward_filter)
        filters.addWidget(self.deadline_filter)
        box.addLayout(filters)
        self.model = RowTableModel(bounty_columns(), self)
        self.proxy = FilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = sortable_table(self.proxy, "Bounties")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # the title gets room of its own (the table scrolls sideways rather than squeeze it to
        # "Br…"); the person can widen or narrow it
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(1, 180)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(36)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.detail = QTextBrowser()
        self.detail.setAccessibleName("Bounty details")
        self.detail.setOpenLinks(False)
        self.detail_banner = Banner()
        self.accept_button = button("Accept and contribute", "train", primary=True,
                                    on_click=self.accept_selected)
        self.accept_button.setEnabled(False)
        # a standing contribution: the wallet keeps contributing round after round (autopilot)
        self.keep_button = button("Keep contributing…", "refresh", on_click=self.keep_contributing,
                                  accessible="Keep contributing to this bounty every round")
        self.keep_button.setEnabled(False)
        # expireRound: anyone's remedy once a round's grace period passed without scoring
        self.expire_button = button("Expire this round", "refresh", on_click=self.expire_selected)
        self.expire_button.hide()
        # a bounty by invitation: the file its practitioner sent (wallet.invitations)
        self.invite_button = button("Add invitation…", "folder", on_click=self.choose_invitation,
                                    accessible="Add the invitation code or file the practitioner gave you")
        self.invite_button.hide()
        self.expire_busy = BusyPanel("Expiring…", cancellable=False)  # a sent transaction stays sent
        self.expire_busy.hide()
        self.empty_label = QLabel("Select a bounty to see its details.")
        self.empty_label.setProperty("muted", True)
        detail_box = QWidget()
        column = QVBoxLayout(detail_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.detail_banner)
        column.addWidget(self.detail, 1)
        column.addWidget(self.expire_busy)
        column.addWidget(self.expire_button)
        column.addWidget(self.invite_button)
        column.addWidget(self.accept_button)
        column.addWidget(self.keep_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(detail_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([640, 400])
        box.addWidget(splitter, 1)
        self.search.textChanged.connect(self.proxy.set_search)
        self.task_filter.currentIndexChanged.connect(self._filters_changed)
        self.status_filter.currentIndexChanged.connect(self._filters_changed)
        self.reward_filter.valueChanged.connect(self._filters_changed)
        self.deadline_filter.currentIndexChanged.connect(self._filters_changed)
        return page

    # -- data -------------------------------------------------------------------------

    def account(self) -> str | None:
        from ui.pages.wallet import ACCOUNT_SETTING

        vault = self.ctx.vault
        if vault is None:
            return None
        accounts = [a.address for a in vault.accounts()]
        chosen = self.ctx.setting(ACCOUNT_SETTING)
        return chosen if chosen in accounts else (accounts[0] if accounts else None)

    def refresh(self) -> None:
        client = self.bounty_client_or_note()
        if client is None:
            return
        account, cache = self.account(), self.spec_cache
        self.ctx.runner.run(lambda _c: load_bounty_rows(client, account, cache),
                            on_success=self.latest_only("rows", self._show_rows),
                            on_failure=self.fail)

    def _show_rows(self, rows: list[dict]) -> None:
        selected = self.selected_id()
        self.model.set_rows(rows)
        if selected is not None:
            self.select_bounty(selected)

    def _filters_changed(self, *_args: Any) -> None:
        task = self.task_filter.currentData()
        phase = self.status_filter.currentData()
        minimum = self.reward_filter.value()
        within = self.deadline_filter.currentData()
        self.proxy.set_predicate("task", (lambda r: r["task"] == task) if task else None)
        self.proxy.set_predicate("phase", (lambda r: r["phase"] == phase) if phase else None)
        self.proxy.set_predicate("reward", (lambda r: r["reward"] >= minimum) if minimum else None)
        self.proxy.set_predicate(
            "deadline", (lambda r: r["phase"] == "accepting"
                         and r["round_deadline"] - time.time() <= within) if within else None)

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.proxy.row(rows[0].row())["id"])

    def select_bounty(self, bounty_id: int) -> bool:
        for row in range(self.proxy.rowCount()):
            if int(self.proxy.row(row)["id"]) == bounty_id:
                self.table.selectRow(row)
                return True
        return False

    def _selection_changed(self, *_args: Any) -> None:
        bounty_id = self.selected_id()
        self.accept_button.setEnabled(False)
        self.keep_button.setEnabled(False)
        self.expire_button.hide()
        self.detail_banner.clear()
        if bounty_id is None:
            self.detail.setHtml("")
            return
        client = network_link.bounty_client(self.ctx)
        if client is None:
            return
        account, cache, sync_lock = self.account(), self.spec_cache, self.ctx.sync_lock
        self.detail.setHtml(f"<p>Loading bounty {bounty_id}…</p>")

        def work(_c: Any) -> tuple[tuple[Any, Any, str | None], Any, bool, bool | None]:
            with sync_lock:  # the track record syncs the board's cached events
                loaded = load_details(client, bounty_id, account, cache)
            bounty = loaded[0].bounty
            return (loaded, client.token(bounty.token), client.expirable(bounty),
                    holds_invitation(client, loaded[0], account))

        self.ctx.runner.run(work, on_success=self.latest_only("details", self._show_details),
                            on_failure=self.detail_banner.error)

    def _show_details(self, found: tuple[tuple[Any, Any, str | None], Any, bool, bool | None]) -> None:
        (details, record, record_problem), token, expirable, invited = found
        self.details = details
        account = self.account()
        self.detail.setHtml(details_html(details, account, record, record_problem, token, invited))
        b = details.bounty
        self.expire_button.setText(f"Expire round {b.current_round + 1} of {b.rounds}")
        self.expire_button.setVisible(expirable)
        self.expire_button.setEnabled(bool(expirable and account))
        if expirable:
            self.detail_banner.warning(
                f"The practitioner did not score round {b.current_round + 1} within the grace period. "
                "Anyone may expire it: its reward is then shared equally by its submitters.")
        if not details.spec_ok:
            self.detail_banner.warning("This bounty's spec does not match its on-chain hash; "
                                       "it cannot be accepted.")
        can_accept = (details.spec_ok and details.bounty.phase == "accepting"
                      and not details.my_submission and invited is not False)
        self.accept_button.setEnabled(bool(can_accept and account))
        self.invite_button.setVisible(invited is False)
        if invited is False and details.bounty.status == "open":
            self.detail_banner.info(
                "This bounty is by invitation: its practitioner pays only the people it invites. "
                "If it gave you an invitation code or file, add it to contribute.")
        self.keep_button.setEnabled(bool(details.spec_ok and account and details.bounty.status == "open"
                                         and details.bounty.phase != "closed" and invited is not False))

    # -- expiring a round the practitioner left unscored --------------------------------

    def expire_selected(self) -> None:
        details, vault, account = self.details, self.ctx.vault, self.account()
        client = network_link.bounty_client(self.ctx)
        if details is None or client is None or account is None or vault is None:
            return
        if not vault.is_unlocked:
            self.detail_banner.error("Unlock the wallet to expire the round.")
            return
        b = details.bounty
        bounty_id, round_index, rounds = b.id, b.current_round, b.rounds
        self.expire_button.setEnabled(False)
        self.detail_banner.clear()
        self.expire_busy.start(f"Expiring round {round_index + 1} of {rounds}: waiting for the "
                               "transaction…", 0)
        self.ctx.runner.run(
            lambda _c: client.expire_round(vault.signer(account), bounty_id, round_index),
            on_success=lambda tx: self._expired(bounty_id, round_index, rounds, tx),
            on_failure=self._expire_failed)

    def _expired(self, bounty_id: int, round_index: int, rounds: int, tx_hash: str) -> None:
        self.expire_busy.finish("Expired.")
        self.expire_button.hide()
        self.detail_banner.success(
            f"Round {round_index + 1} of {rounds} of bounty {bounty_id} expired (transaction "
            f"{tx_hash}). Its reward is shared equally by its submitters; yours appears on the "
            "Rewards page.")
        self.ctx.events.notify("expired")
        self.refresh()

    def _expire_failed(self, message: str) -> None:
        self.expire_busy.hide()
        self.expire_button.setEnabled(True)
        self.detail_banner.error(message)

    # -- invitations ------------------------------------------------------------------

    def choose_invitation(self) -> Any:
        """The code dialog (which offers a file instead); returns it (tests drive it)."""
        from ui.dialogs import InvitationCodeDialog

        if self.details is None:
            return None
        bounty_id = self.details.bounty.id
        dialog = InvitationCodeDialog(self, bounty_id, lambda d: self.redeem_invitation_code(d.code.text(), d),
                                      self.choose_invitation_file)
        dialog.open()
        return dialog

    def choose_invitation_file(self) -> None:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getOpenFileName(self, "Choose the invitation file", str(Path.home()),
                                                    "Invitations (*.json);;All files (*)")
        if path:
            self.add_invitation_file(path)

    def add_invitation_file(self, path: str) -> None:
        """Check the file against the chain (off the GUI thread) and keep it."""
        from wallet.invitations import add_invitation, read_invitation_file

        self._add_invitation(lambda client, account: add_invitation(client, read_invitation_file(path),
                                                                    account=account))

    def redeem_invitation_code(self, code: str, dialog: Any = None) -> None:
        """Redeem the code at the practitioner's inbox (off the GUI thread) and keep the
        invitation; a failure is said in the dialog (when given) and on the page."""
        from wallet.invitations import redeem_invitation_code

        if self.details is None:
            return
        bounty_id = self.details.bounty.id
        self._add_invitation(lambda client, account: redeem_invitation_code(client, bounty_id, code,
                                                                            account=account), dialog)

    def _add_invitation(self, add: Any, dialog: Any = None) -> None:
        from ui.dialogs import close_dialog

        client, account = network_link.bounty_client(self.ctx), self.account()
        if client is None or account is None:
            return

        def added(invitation: Any) -> None:
            if dialog is not None:
                close_dialog(dialog)
            self._invitation_added(invitation)

        def failed(message: str) -> None:
            if dialog is not None:
                dialog.failed(message)
            self._invitation_failed(message)

        self.invite_button.setEnabled(False)
        self.ctx.runner.run(lambda _c: add(client, account), on_success=added, on_failure=failed)

    def _invitation_added(self, invitation: Any) -> None:
        self.invite_button.setEnabled(True)
        self._selection_changed()  # reloads the pane: Accept is enabled now
        self.detail_banner.success(f"Invitation to bounty {invitation.bounty_id} added: you can contribute.")

    def _invitation_failed(self, message: str) -> None:
        self.invite_button.setEnabled(True)
        self.detail_banner.error(message)

    # -- contributing -----------------------------------------------------------------

    def accept_selected(self) -> None:
        if self.details is None:
            return
        self.contribute.start(self.details, self.account())
        self.stack.setCurrentWidget(self.contribute)

    def keep_contributing(self) -> Any:
        """The "Keep contributing" dialog (ui/pages/standing.py); returns it (tests drive it)."""
        account = self.account()
        if self.details is None or account is None:
            return None
        from ui.pages.standing import KeepContributingDialog

        dialog = KeepContributingDialog(self.ctx, self.details, account, self)
        dialog.accepted.connect(lambda: self.detail_banner.success(
            "Saved: this wallet keeps contributing to this bounty (see the Standing page)."))
        dialog.open()
        return dialog

    def back_to_list(self) -> None:
        self.stack.setCurrentIndex(0)
        self.refresh()

    def on_locked(self) -> None:
        self.contribute.on_locked()
