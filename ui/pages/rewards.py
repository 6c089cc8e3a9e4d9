"""Rewards page: per bounty and round my share and tokens, the round's report, the claimable
total with Claim, earnings over time, and a CSV export."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from common.atomic import atomic_write_text
from ui import network_link, theme
from ui.models import Column, FilterProxy, RowTableModel
from ui.pages.base import Page
from ui.widgets import LazyWidget, button, card, muted_label, sortable_table
from wallet import token as tokens
from wallet.round_report import fetch_round_report, why_unpaid

if TYPE_CHECKING:
    from ui.context import AppContext

CSV_FIELDS = ("bounty_id", "title", "round", "status", "share", "amount", "token", "claim", "check",
              "blob_hash", "privacy", "epsilon")
STATUS_NAMES = {"pending": "Waiting for scoring", "finalised": "Scored", "expired": "Expired",
                "cancelled": "Cancelled"}
CHECKING = "Checking…"  # the Check column until the verification task answers


def check_text(row: dict[str, Any]) -> str:
    """The Check column: Verified, Mismatch, Not yet revealed, Not verifiable, Not finalised."""
    check = row.get("check")
    return check.status_text if check is not None else row.get("check_note", CHECKING)


def reward_columns() -> list[Column]:
    return [
        Column("Bounty", lambda r: f"{r['bounty_id']} · {r['title']}", sort=lambda r: r["bounty_id"]),
        Column("Round", lambda r: str(r["round"] + 1), sort=lambda r: r["round"]),
        Column("Status", lambda r: STATUS_NAMES.get(r["status"], r["status"])),
        Column("My share", lambda r: "–" if r["share"] is None else f"{r['share']:.1%}",
               sort=lambda r: r["share"] or 0.0, align_right=True),
        # in the bounty's own token (an unlisted one marked with its address)
        Column("Earned", lambda r: f"{r['amount_text']} {r['token_short']}", sort=lambda r: r["amount_value"],
               align_right=True, tooltip=lambda r: f"{r['amount_text']} {r['token_text']}"),
        Column("Claim", lambda r: {"claimable": "Claimable", "claimed": "Claimed"}.get(
            r["claim"], "–")),
        Column("Check", check_text,
               tooltip=lambda r: r["check"].detail if r.get("check") is not None else check_text(r)),
    ]


def load_rewards(client: Any, store: Any, network: str, account: str,
                 spec_cache: dict[str, Any]) -> dict[str, Any]:
    """Everything the page shows (worker thread): rows, totals and earnings events."""
    from wallet import history

    summary = client.rewards(account)
    bounties: dict[int, Any] = {}
    reports: dict[tuple[int, int], Any] = {}
    rows = []
    for reward in summary.rows:
        bounty = bounties.get(reward.bounty_id) or client.bounty(reward.bounty_id)
        bounties[reward.bounty_id] = bounty
        if bounty.spec_hash not in spec_cache:
            spec_cache[bounty.spec_hash] = client.fetch_spec(bounty)
        spec, _problem = spec_cache[bounty.spec_hash]
        key = (reward.bounty_id, reward.round)
        if reward.status == "finalised" and key not in reports:
            try:
                reports[key] = fetch_round_report(client, bounty, reward.round)
            except Exception:  # a missing or bad report must not hide the reward itself
                reports[key] = None
        report = reports.get(key)
        mine = None
        if report:
            mine = next((c for c in report.get("contributors", [])
                         if str(c.get("address", "")).lower() == account.lower()), None)
        token = client.token(reward.token)  # symbol and decimals from its contract (cached)
        share = None
        if reward.status in ("finalised", "expired") and bounty.reward_per_round:
            share = reward.amount / bounty.reward_per_round
        rows.append({
            "bounty_id": reward.bounty_id, "round": reward.round,
            "title": str(spec.get("title", "")) if spec else "",
            "status": reward.status, "amount": reward.amount,
            "amount_text": tokens.format_amount(reward.amount, token.decimals, 4),
            "amount_value": token.value(reward.amount), "decimals": token.decimals,
            "token_text": token.text, "token_short": token.short,
            "share": share, "claim": reward.claim, "blob_hash": reward.blob_hash,
            "token": reward.token, "report": report, "mine": mine,
            "rejected": next((r for r in (report or {}).get("rejected", [])
                              if str(r.get("address", "")).lower() == account.lower()), None),
        })
    token_of = {b.id: b.token for b in bounties.values()}
    earnings = [(float(e["timestamp"] or 0),
                 client.token(token_of.get(int(e["bounty_id"])) or client.bounty(int(e["bounty_id"])).token)
                 .value(int(e["amount"] or 0)))
                for e in history.events(store, network, account, f"board:{client.board_address}")
                if e["event"] == "RewardAssigned"]
    leftovers = [row.sentence(client.token(row.token).amount(row.amount, 4)) for row in summary.leftovers]
    return {"rows": rows, "leftovers": leftovers, "claimable": sum(summary.claimable.values()),
            "claimed": sum(summary.claimed.values()), "earnings": earnings,
            "claimable_text": amounts_text(client, summary.claimable),
            "claimed_text": amounts_text(client, summary.claimed)}


def amounts_text(client: Any, by_token: dict[str, int]) -> str:
    """"12.5 QDT + 3 TUSD (unverified token 0x1234…abcd)": one amount per token, each in its
    own decimals (worker thread: the tokens' contracts may be read)."""
    parts = [client.token(token).amount(units, 4) for token, units in sorted(by_token.items()) if units]
    if parts:
        return " + ".join(parts)
    known = [t for t in client.known_tokens if t]
    return client.token(known[0]).amount(0) if known else "0"


def report_html(row: dict[str, Any]) -> str:
    esc = html.escape
    c = theme.colors()
    parts = [f"<h3>Bounty {row['bounty_id']}, round {row['round'] + 1}</h3>"]
    report = row.get("report")
    if row["status"] == "pending":
        parts.append("<p>Your update is in. The practitioner scores the round after its "
                     "deadline; your reward appears here then.</p>")
    if not report:
        if row["status"] != "pending":
            parts.append(f"<p style='color:{c.muted}'>No report for this round.</p>")
        return "".join(parts)
    metric_name = str(report.get("metric", "metric"))
    log_loss = metric_name == "log_loss"  # version 2: lower is better, shown as a number

    def score(value: Any) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return "?"
        return f"{number:.4f}" if log_loss else f"{number:.1%}"

    metric = "log-loss" if log_loss else esc(metric_name)
    before, after = report.get("metricBefore", 0), report.get("metricAfter", 0)
    players = int(report.get("players", 0) or 0)
    if players == 0:
        parts.append(f"<p>No update was counted in this round; the model's {metric} stayed at "
                     f"<b>{score(before)}</b>.</p>")
    else:
        seed = report.get("seed")
        parts.append(
            f"<p>The round's model went from {metric} <b>{score(before)}</b> to "
            f"<b>{score(after)}</b>" + (" (lower is better)" if log_loss else "")
            + f" with {players} counted contribution(s), valued with the "
            f"{esc(str(report.get('method', '?')))} Shapley method"
            + (f" (seed {esc(str(seed))})" if seed is not None else "") + ".</p>")
    check = row.get("check")
    if check is not None:
        colour = {"verified": c.good, "mismatch": c.bad}.get(check.status, c.muted)
        parts.append(f"<p style='color:{colour}'><b>{esc(check.status_text)}.</b> "
                     f"{esc(check.detail)}</p>")
        parts += [f"<p style='color:{c.good}'>✓ {esc(item)}</p>" for item in check.checked]
    mine = row.get("mine")
    if mine:
        with_everyone = mine.get("metricWith", report.get("metricAfter", 0))
        parts.append(
            "<table cellspacing='4'>"
            f"<tr><td>Your Shapley value</td><td>{float(mine.get('value', 0)):+.4f}</td></tr>"
            f"<tr><td>Your share</td><td>{float(mine.get('share', 0)):.1%} of the round's reward"
            "</td></tr>"
            f"<tr><td>Model with everyone</td><td>{score(with_everyone)}</td></tr>"
            f"<tr><td>Without you</td><td>{score(mine.get('metricWithout', 0))}</td></tr>"
            "</table>")
        factor = mine.get("payFactor")
        unpaid = why_unpaid(mine)
        if unpaid:
            parts.append(f"<p style='color:{c.muted}'>{esc(unpaid)}</p>")
        elif isinstance(factor, (int, float)) and factor < 1.0:
            parts.append(
                f"<p style='color:{c.muted}'>Paid at {float(factor):.0%} of its value: your update's "
                "direction was only partly distinguishable from a random one on the practitioner's "
                "validation data (privacy noise or little data does this).</p>")
        scale = mine.get("scale")
        if isinstance(scale, (int, float)) and scale < 1.0:
            parts.append(
                f"<p style='color:{c.muted}'>Counted at {float(scale):.0%} of its length: your update "
                "reached further along the practitioner's validation data than an honest step from "
                "this round's model does, so the round counted it scaled down (every update is held "
                "to the same bound).</p>")
    rejected = row.get("rejected")
    if rejected:
        parts.append(f"<p style='color:{c.warn}'>Your update was not counted: "
                     f"{esc(str(rejected.get('reason', '')))}.</p>")
    return "".join(parts)


def _privacy_columns(entry: tuple[str, float | None] | None) -> dict[str, str]:
    if entry is None:
        return {"privacy": "", "epsilon": ""}
    words, eps = entry
    return {"privacy": words, "epsilon": "inf" if eps is None else f"{eps:.4f}"}


def rewards_csv(rows: list[dict[str, Any]], privacy: dict[str, tuple[str, float | None]] | None = None) -> str:
    """`privacy`: blob hash -> (mechanism in words, that contribution's ε; None = ∞), from
    wallet.privacy_budget.PrivacyBudget.by_blob."""
    privacy = privacy or {}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({
            "bounty_id": row["bounty_id"], "title": row["title"], "round": row["round"] + 1,
            "status": row["status"], "share": "" if row["share"] is None else f"{row['share']:.6f}",
            "amount": tokens.format_amount(row["amount"], row.get("decimals", 18)),
            "token": row.get("token_text", ""), "claim": row["claim"],
            "check": check_text(row), "blob_hash": row["blob_hash"],
            **_privacy_columns(privacy.get(str(row["blob_hash"]).lower())),
        })
    return out.getvalue()



def _earnings_chart() -> QWidget:
    from ui.charts import EarningsChart

    return EarningsChart()

class RewardsPage(Page):
    title = "Rewards"
    icon_name = "rewards"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.spec_cache: dict[str, Any] = {}
        self.data: dict[str, Any] = {"rows": [], "claimable": 0, "claimed": 0, "earnings": []}
        self.claimable_label = QLabel("–")
        self.claimable_label.setObjectName("BigNumber")
        self.claimable_label.setAccessibleName("Claimable rewards")
        self.claimed_label = muted_label("")
        # an ended bounty's leftover share, and how it was reckoned (hidden without one)
        self.leftover_label = muted_label("")
        self.leftover_label.setAccessibleName("Leftover shares")
        self.leftover_label.hide()
        self.claim_button = button("Claim", "claim", primary=True, on_click=self.claim)
        self.claim_button.setEnabled(False)
        self.export_button = button("Export CSV…", "export", on_click=self.export_csv)
        self.refresh_button = button("", "refresh", accessible="Refresh rewards",
                                     on_click=self.refresh)
        # a wallet restored on another computer lost what names its copy proofs and openings
        self.recover_button = button("Recover sent updates", "receive", on_click=self.recover_sent)
        self.recover_button.setToolTip("Ask each bounty's inbox for the updates this account sent (a request "
                                       "signed by its key), so the Check column can check copy claims and "
                                       "openings on this computer too")
        self.header.addWidget(self.recover_button)
        self.header.addWidget(self.export_button)
        self.header.addWidget(self.refresh_button)
        claim_box = QWidget()
        claim_row = QHBoxLayout(claim_box)
        claim_row.setContentsMargins(0, 0, 0, 0)
        texts = QVBoxLayout()
        texts.addWidget(self.claimable_label)
        texts.addWidget(muted_label("ready to claim", wrap=False))
        texts.addWidget(self.claimed_label)
        texts.addWidget(self.leftover_label)
        claim_row.addLayout(texts, 1)
        claim_row.addWidget(self.claim_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.chart = LazyWidget(_earnings_chart)  # pyqtgraph loads when the page is first used
        top = QHBoxLayout()
        claim_card = card(claim_box)
        claim_card.setMaximumHeight(200)
        self.chart.setMaximumHeight(200)
        top.addWidget(claim_card, 1)
        top.addWidget(self.chart, 2)
        self.body.addLayout(top)
        self.model = RowTableModel(reward_columns(), self)
        self.proxy = FilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = sortable_table(self.proxy, "Rewards per bounty and round")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # as on the Bounties page: the bounty keeps room of its own (a stretched column was
        # squeezed to two letters once Check joined), the table scrolls sideways instead
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 170)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.report = QTextBrowser()
        self.report.setAccessibleName("Round report")
        self.report.setHtml(f"<p style='color:{theme.colors().muted}'>Select a round to see its "
                            "report.</p>")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.report)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.body.addWidget(splitter, 1)

    def account(self) -> str | None:
        from ui.pages.wallet import ACCOUNT_SETTING

        vault = self.ctx.vault
        if vault is None:
            return None
        accounts = [a.address for a in vault.accounts()]
        chosen = self.ctx.setting(ACCOUNT_SETTING)
        return chosen if chosen in accounts else (accounts[0] if accounts else None)

    def refresh(self) -> None:
        client, account = self.bounty_client_or_note(), self.account()
        if client is None or account is None:
            return
        store, network, cache = self.ctx.store, self.ctx.chain.name, self.spec_cache
        sync_lock = self.ctx.sync_lock

        def work(_c: Any) -> dict[str, Any]:
            with sync_lock:
                return load_rewards(client, store, network, account, cache)

        self.ctx.runner.run(work,
                            on_success=self.latest_only("rewards", self._show),
                            on_failure=self.fail)

    def _show(self, data: dict[str, Any]) -> None:
        self.data = data
        self.model.set_rows(data["rows"])
        self.claimable_label.setText(data["claimable_text"])
        self.claimed_label.setText(f"{data['claimed_text']} claimed so far")
        self.leftover_label.setText("\n".join(data.get("leftovers", [])))
        self.leftover_label.setVisible(bool(data.get("leftovers")))
        self.claim_button.setEnabled(data["claimable"] > 0)
        times = [t for t, _a in data["earnings"]]
        self.chart.set_earnings(times, [a for _t, a in data["earnings"]])
        if data["rows"]:
            self.verify()

    def verify(self) -> None:
        """Check every round's report off the GUI thread (blobs and models are fetched);
        the Check column fills in when it answers."""
        from wallet.verify import verify_rewards

        client, account = network_link.bounty_client(self.ctx), self.account()
        if client is None or account is None:
            return
        sync_lock = self.ctx.sync_lock

        def work(_c: Any) -> dict[tuple[int, int], Any]:
            with sync_lock:  # the board's event cache is shared with the other pages' syncs
                return {(r.bounty_id, r.round): r for r in verify_rewards(client, account)}

        self.ctx.runner.run(work, on_success=self.latest_only("verify", self._show_checks),
                            on_failure=self._checks_failed)

    def _show_checks(self, checks: dict[tuple[int, int], Any]) -> None:
        for row in self.data["rows"]:
            row["check"] = checks.get((row["bounty_id"], row["round"]))
            if row["check"] is None:
                row["check_note"] = "–"
        self._reshow_rows()

    def _checks_failed(self, message: str) -> None:
        for row in self.data["rows"]:
            row["check_note"] = "Not checked"
        self._reshow_rows()
        self.banner.warning(f"The rounds could not be checked: {message}")

    def _reshow_rows(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        index = selected[0].row() if selected else None
        self.model.set_rows(self.data["rows"])
        if index is not None and index < self.proxy.rowCount():
            self.table.selectRow(index)
            self._selection_changed()

    def _selection_changed(self, *_args: Any) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.report.setHtml(report_html(self.proxy.row(rows[0].row())))

    def claim(self) -> None:
        client, account, vault = network_link.bounty_client(self.ctx), self.account(), \
            self.ctx.vault
        if client is None or account is None or vault is None:
            return
        if not vault.is_unlocked:
            self.fail("Unlock the wallet to claim.")
            return
        self.claim_button.setEnabled(False)
        self.banner.clear()
        sync_lock = self.ctx.sync_lock

        def work(_c: Any) -> tuple[list[tuple[str, int, str]], str]:
            with sync_lock:  # claim() reads the rewards, which syncs the board's logs
                claimed = client.claim(vault.signer(account))
            return claimed, amounts_text(client, {token: amount for token, amount, _tx in claimed})

        self.ctx.runner.run(work,
                            on_success=self._claimed, on_failure=self._claim_failed)

    def _claimed(self, result: tuple[list[tuple[str, int, str]], str]) -> None:
        claimed, text = result
        self.banner.success(f"Claimed {text} (transaction {claimed[-1][2]}).")
        self.ctx.events.notify("claimed")
        self.refresh()

    def _claim_failed(self, message: str) -> None:
        self.claim_button.setEnabled(True)
        self.fail(message)

    def recover_sent(self) -> None:
        """Get back, off the GUI thread, the blobs this account sent to finalised rounds whose
        proofs this computer cannot name (wallet.recover), then check the rounds again."""
        from wallet.recover import recover_sent

        client, account, vault = network_link.bounty_client(self.ctx), self.account(), self.ctx.vault
        if client is None or account is None or vault is None:
            return
        if not vault.is_unlocked:
            self.fail("Unlock the wallet to recover sent updates: the request is signed by your key.")
            return
        self.recover_button.setEnabled(False)
        self.banner.clear()
        sync_lock = self.ctx.sync_lock

        def work(_c: Any) -> list[Any]:
            with sync_lock:  # rewards() syncs the board's logs, shared with the other pages
                return recover_sent(client, vault.signer(account))

        self.ctx.runner.run(work, on_success=self._recovered, on_failure=self._recover_failed)

    def _recovered(self, results: list[Any]) -> None:
        from wallet.recover import RECOVERED, UNAVAILABLE

        self.recover_button.setEnabled(True)
        got = [r for r in results if r.status == RECOVERED]
        missing = [r for r in results if r.status == UNAVAILABLE]
        if missing:
            self.banner.warning(" ".join([f"Got {len(got)} update(s) back."] + [r.sentence() for r in missing]))
        elif got:
            self.banner.success(f"Got {len(got)} update(s) back; their rounds are checked again.")
        else:
            self.banner.info("Nothing to get back: this computer keeps what names every finalised round's proofs.")
        if got:
            self.verify()

    def _recover_failed(self, message: str) -> None:
        self.recover_button.setEnabled(True)
        self.fail(message)

    def export_csv(self) -> None:
        rows = self.data["rows"]
        if not rows:
            self.fail("There are no rewards to export yet.")
            return
        path, _f = QFileDialog.getSaveFileName(self, "Export rewards",
                                               str(Path.home() / "quarry-rewards.csv"),
                                               "CSV (*.csv)")
        if not path:
            return
        try:
            from wallet.privacy_budget import PrivacyBudget

            atomic_write_text(path, rewards_csv(rows, PrivacyBudget(self.ctx.store).by_blob()), mode=0o644)
        except OSError as exc:
            self.fail(f"Cannot write {path}: {exc.strerror or exc}.")
            return
        self.banner.success(f"Exported {len(rows)} rows to {path}.")
