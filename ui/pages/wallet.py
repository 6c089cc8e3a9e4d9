"""Wallet page: accounts and labels, balances, receive (address + QR), send with review, history."""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.dialogs import PasswordDialog, close_dialog
from ui.models import Column, FilterProxy, RowTableModel
from ui.pages.base import Page
from ui.widgets import (
    BusyPanel,
    button,
    card,
    copy_to_clipboard,
    muted_label,
    qr_pixmap,
    sortable_table,
)
from wallet import token as tokens
from wallet import tx as txs
from wallet.errors import QuarryError, WalletLocked

if TYPE_CHECKING:
    from ui.context import AppContext

ACCOUNT_SETTING = "ui.account"


def short_address(address: str | None) -> str:
    if not address:
        return ""
    return f"{address[:8]}…{address[-6:]}"


def when(timestamp: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(timestamp)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def history_columns() -> list[Column]:
    return [
        Column("When", lambda r: when(r.get("timestamp") or r.get("created_at")),
               sort=lambda r: float(r.get("timestamp") or r.get("created_at") or 0)),
        Column("What", lambda r: str(r.get("description") or r.get("kind") or "")),
        Column("Amount", lambda r: str(r.get("amount_text") or ""), align_right=True,
               sort=lambda r: int(r.get("amount_sort") or 0),  # signed base units
               tooltip=lambda r: str(r.get("amount_text") or "")),
        Column("Status", lambda r: str(r.get("status") or "")),
        Column("Transaction", lambda r: short_address(r.get("hash")),
               tooltip=lambda r: str(r.get("hash") or "")),
    ]


class WalletPage(Page):
    title = "Wallet"
    icon_name = "wallet"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.dialog: Any = None
        self.preview: Any = None
        self.task: Any = None
        self.balance_values: dict[str, str] = {}
        self._funding: set[str] = set()
        self._build_accounts_row()
        self._build_balances()
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Wallet sections")
        self.tabs.addTab(self._build_receive(), "Receive")
        self.tabs.addTab(self._build_send(), "Send")
        self.tabs.addTab(self._build_history(), "History")
        theme.set_tab_icons(self.tabs, ["receive", "send", "refresh"])
        self.body.addWidget(self.tabs, 1)

    # -- building ---------------------------------------------------------------------

    def _build_accounts_row(self) -> None:
        self.account_choice = QComboBox()
        self.account_choice.setAccessibleName("Account")
        self.account_choice.setMinimumWidth(320)
        self.account_choice.currentIndexChanged.connect(self._account_changed)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("Label")
        self.label_edit.setAccessibleName("Account label")
        self.label_edit.setMaximumWidth(200)
        self.rename_button = button("Rename", "edit", on_click=self.rename_account)
        self.add_button = button("Add account", "add", on_click=self.ask_add_account)
        self.refresh_button = button("", "refresh", accessible="Refresh balances",
                                     on_click=self.refresh)
        self.refresh_button.setToolTip("Refresh")
        row = QHBoxLayout()
        row.addWidget(self.account_choice)
        row.addWidget(self.label_edit)
        row.addWidget(self.rename_button)
        row.addStretch(1)
        row.addWidget(self.add_button)
        row.addWidget(self.refresh_button)
        self.body.addLayout(row)

    def _build_balances(self) -> None:
        self.eth_balance = QLabel("–")
        self.eth_balance.setObjectName("BigNumber")
        self.eth_balance.setAccessibleName("ETH balance")
        self.token_balance = QLabel("–")
        self.token_balance.setObjectName("BigNumber")
        self.token_balance.setAccessibleName("QDT balance")
        self.token_symbol = muted_label("QDT · Quarry Data Token", wrap=False)
        self.faucet_button = button("Get test funds", "claim", on_click=self.ask_faucet)
        self.faucet_button.setToolTip("The network's faucet (the embedded network's, or another home's "
                                      "devnet's) sends test ETH and QDT")
        self.faucet_button.hide()  # shown once connected to a network with a faucet
        row = QHBoxLayout()
        row.addWidget(card(self.eth_balance, muted_label("ETH · network fees", wrap=False)), 1)
        row.addWidget(card(self.token_balance, self.token_symbol), 1)
        side = QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.faucet_button)
        row.addLayout(side)
        self.body.addLayout(row)

    def _build_receive(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        self.qr = QLabel()
        self.qr.setFixedSize(196, 196)
        self.qr.setAccessibleName("QR code of your address")
        self.address_label = QLabel()
        self.address_label.setObjectName("Mnemonic")
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address_label.setAccessibleName("Your address")
        self.copy_button = button("Copy address", "copy", on_click=self.copy_address)
        grid.addWidget(self.qr, 0, 0, 4, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(muted_label("Your address on this network. Others send ETH or QDT to it; "
                                   "bounty rewards are paid to it."), 0, 1)
        grid.addWidget(self.address_label, 1, 1)
        grid.addWidget(self.copy_button, 2, 1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(3, 1)
        return page

    def _build_send(self) -> QWidget:
        self.send_stack = QStackedWidget()
        form_page = QWidget()
        form = QFormLayout(form_page)
        self.send_to = QLineEdit()
        self.send_to.setPlaceholderText("0x… (checksummed address)")
        self.send_to.setAccessibleName("Recipient address")
        self.send_amount = QLineEdit()
        self.send_amount.setPlaceholderText("0.0")
        self.send_amount.setAccessibleName("Amount")
        self.send_asset = QComboBox()
        self.send_asset.setAccessibleName("Asset")
        self.send_asset.addItem("ETH", None)
        self.review_button = button("Review", "send", primary=True, on_click=self.review_send)
        form.addRow("To", self.send_to)
        amount_row = QHBoxLayout()
        amount_row.addWidget(self.send_amount, 1)
        amount_row.addWidget(self.send_asset)
        form.addRow("Amount", amount_row)
        form.addRow("", self.review_button)
        self.send_stack.addWidget(form_page)
        review_page = QWidget()
        box = QVBoxLayout(review_page)
        self.review_text = QLabel()
        self.review_text.setWordWrap(True)
        self.review_text.setAccessibleName("Transaction review")
        self.send_busy = BusyPanel("Sending…", cancellable=False)
        self.send_busy.hide()
        self.confirm_button = button("Confirm and send", "check", primary=True,
                                     on_click=self.confirm_send)
        back = button("Back", on_click=lambda: self.send_stack.setCurrentIndex(0))
        row = QHBoxLayout()
        row.addWidget(back)
        row.addStretch(1)
        row.addWidget(self.confirm_button)
        box.addWidget(QLabel("<b>Review</b>"))
        box.addWidget(self.review_text)
        box.addWidget(self.send_busy)
        box.addStretch(1)
        box.addLayout(row)
        self.send_stack.addWidget(review_page)
        return self.send_stack

    def _build_history(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.history_search = QLineEdit()
        self.history_search.setPlaceholderText("Search transactions")
        self.history_search.setAccessibleName("Search transactions")
        self.history_search.addAction(theme.icon("search", size=16),
                                      QLineEdit.ActionPosition.LeadingPosition)
        self.history_model = RowTableModel(history_columns(), self)
        self.history_proxy = FilterProxy(self)
        self.history_proxy.setSourceModel(self.history_model)
        self.history_view = sortable_table(self.history_proxy, "Transaction history")
        self.history_view.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # amounts name their token, an unlisted one with its address: shown whole
        self.history_view.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.history_search.textChanged.connect(self._search_history)
        self.history_view.selectionModel().selectionChanged.connect(self._history_selected)
        self.speed_up_button = button("Speed up", "send", on_click=lambda: self.replace_tx(False),
                                      accessible="Speed up the selected pending transaction")
        self.cancel_tx_button = button("Cancel transaction", "close",
                                       on_click=lambda: self.replace_tx(True),
                                       accessible="Cancel the selected pending transaction")
        for btn in (self.speed_up_button, self.cancel_tx_button):
            btn.setEnabled(False)
            btn.setToolTip("For a pending transaction you sent: re-send it with a higher fee")
        actions = QHBoxLayout()
        actions.addWidget(muted_label("A pending transaction you sent can be sped up or "
                                      "cancelled (same nonce, higher fee)."), 1)
        actions.addWidget(self.speed_up_button)
        actions.addWidget(self.cancel_tx_button)
        self.history_note = muted_label()  # what this network's history cannot list
        self.history_note.hide()
        box.addWidget(self.history_search)
        box.addWidget(self.history_view)
        box.addWidget(self.history_note)
        box.addLayout(actions)
        return page

    # -- state ------------------------------------------------------------------------

    def current_address(self) -> str | None:
        return self.account_choice.currentData()

    def refresh(self) -> None:
        self._fill_accounts()
        self._refresh_chain()

    def _fill_accounts(self) -> None:
        vault = self.ctx.vault
        if vault is None:
            return
        wanted = self.current_address() or self.ctx.setting(ACCOUNT_SETTING)
        self.account_choice.blockSignals(True)
        self.account_choice.clear()
        for info in vault.accounts():
            self.account_choice.addItem(f"{info.label}  ·  {short_address(info.address)}",
                                        info.address)
        index = self.account_choice.findData(wanted)
        self.account_choice.setCurrentIndex(max(index, 0))
        self.account_choice.blockSignals(False)
        self._show_account()

    def _account_changed(self, *_args: Any) -> None:
        address = self.current_address()
        if address:
            self.ctx.set_setting(ACCOUNT_SETTING, address)
        self._show_account()
        self._refresh_chain()

    def _show_account(self) -> None:
        address = self.current_address()
        vault = self.ctx.vault
        if not address or vault is None:
            return
        info = next((a for a in vault.accounts() if a.address == address), None)
        self.label_edit.setText(info.label if info else "")
        self.address_label.setText(address)
        self.qr.setPixmap(qr_pixmap(f"ethereum:{address}", 196))

    def _refresh_chain(self) -> None:
        from wallet.devnet_client import has_faucet

        chain, address = self.ctx.chain, self.current_address()
        # the embedded network, or another home's devnet joined by URL: both have a faucet
        self.faucet_button.setVisible(bool(chain is not None and has_faucet(self.ctx.store, chain.network)))
        if chain is None or not address:
            self.eth_balance.setText("–")
            self.token_balance.setText("–")
            self._load_history()
            return
        token = chain.network.token
        self.send_asset.blockSignals(True)
        if token and self.send_asset.count() == 1:
            self.send_asset.addItem("QDT", token)
        self.send_asset.blockSignals(False)

        def work(_c: Any) -> list[Any]:
            return tokens.balances(chain.w3, address, [token] if token else [])

        self.ctx.runner.run(work, on_success=self.latest_only("balances", self._show_balances),
                            on_failure=self.fail)
        self._load_history()
        self._fund_once(chain, address)

    def _show_balances(self, found: list[Any]) -> None:
        for balance in found:
            text = tokens.format_amount(balance.units, balance.decimals, 4)
            self.balance_values[balance.symbol] = balance.text
            if balance.token is None:
                self.eth_balance.setText(text)
            else:
                self.token_balance.setText(text)
                self.token_symbol.setText(f"{balance.symbol} · rewards and bounties")

    def _load_history(self) -> None:
        chain, address = self.ctx.chain, self.current_address()
        if chain is None or not address:
            self.history_model.set_rows([])
            return
        store, sync_lock = self.ctx.store, self.ctx.sync_lock

        def work(task: Any) -> tuple[list[dict[str, Any]], str]:
            from wallet import history

            with sync_lock:
                found = history.load_account_history(
                    store, chain.w3, chain.name, address, chain.network.token,
                    chain.network.board, progress=lambda d, t: task.progress(d, t))
            return found.rows, found.note

        self.ctx.runner.run(work, on_success=self.latest_only("history", self._show_history),
                            on_failure=self.fail)

    def _show_history(self, found: tuple[list[dict[str, Any]], str]) -> None:
        rows, note = found
        self.history_note.setText(note)
        self.history_note.setVisible(bool(note))
        # Pages of PAGE_SIZE rows reach the view as it scrolls (canFetchMore/fetchMore).
        self.history_model.set_pager(lambda offset, limit: rows[offset:offset + limit])
        if self.history_search.text():
            self._search_history(self.history_search.text())

    def _search_history(self, text: str) -> None:
        if text:
            self.history_model.fetch_all()  # search covers every row, not only loaded pages
        self.history_proxy.set_search(text)

    def selected_history_row(self) -> dict[str, Any] | None:
        rows = self.history_view.selectionModel().selectedRows()
        return self.history_proxy.row(rows[0].row()) if rows else None

    def _history_selected(self, *_args: Any) -> None:
        row = self.selected_history_row()
        pending = bool(row and row.get("status") == "pending" and row.get("hash"))
        self.speed_up_button.setEnabled(pending)
        self.cancel_tx_button.setEnabled(pending)

    def replace_tx(self, cancel: bool) -> None:
        """Speed up or cancel the selected pending transaction (wallet.tx reuses its nonce)."""
        row, chain, vault, sender = (self.selected_history_row(), self.ctx.chain, self.ctx.vault,
                                     self.current_address())
        if row is None or chain is None or vault is None or not sender:
            return
        store, tx_hash = self.ctx.store, str(row["hash"])

        def work(_c: Any) -> str:
            signer = vault.signer(sender)
            replace = txs.cancel if cancel else txs.speed_up
            return replace(chain.w3, signer, tx_hash, chain.chain_id, store=store,
                           network=chain.name)

        self.ctx.runner.run(work, on_success=lambda new: (
            self.banner.success(f"{'Cancellation' if cancel else 'Replacement'} sent: {new}."),
            self._load_history()), on_failure=self.fail)

    # -- account actions -------------------------------------------------------------

    def rename_account(self) -> None:
        address = self.current_address()
        if not address:
            return
        try:
            self.ctx.vault.set_label(address, self.label_edit.text())
        except QuarryError as exc:
            self.fail(str(exc))
            return
        self.banner.success("Label saved.")
        self._fill_accounts()

    def ask_add_account(self) -> None:
        vault = self.ctx.vault

        def submit(dialog: PasswordDialog) -> None:
            password = dialog.password.text()
            self.ctx.runner.run(lambda _c: vault.add_hd_account(password),
                                on_success=lambda info: self._account_added(dialog, info),
                                on_failure=dialog.failed)

        self.dialog = PasswordDialog(self, "Add account",
                                     "The next account of your recovery phrase is added.",
                                     submit, ok_text="Add account")
        self.dialog.open()

    def _account_added(self, dialog: PasswordDialog, info: Any) -> None:
        close_dialog(dialog)
        self.ctx.set_setting(ACCOUNT_SETTING, info.address)
        self.account_choice.setCurrentIndex(-1)
        self._fill_accounts()
        index = self.account_choice.findData(info.address)
        self.account_choice.setCurrentIndex(index)
        self.banner.success(f"Added {info.label} ({info.address}).")

    def copy_address(self) -> None:
        address = self.current_address()
        if address:
            copy_to_clipboard(address)
            self.banner.success("Address copied.")

    def _fund_once(self, chain: Any, address: str) -> None:
        """A new account on a network with a faucet (the embedded one, or another home's devnet)
        gets test ETH and QDT once (the CLI's wallet.devnet_client.fund_once, under the same
        setting, so the two never ask twice)."""
        from wallet.devnet_client import fund_once, needs_funding

        network, store = chain.network, self.ctx.store
        key = f"{network.name}|{network.rpc_url}|{address}"
        if key in self._funding or not needs_funding(store, network, address):
            return
        self._funding.add(key)

        def done(paid: bool) -> None:
            if paid:
                whose = "the embedded network's" if network.is_embedded else f"{network.name}'s"
                self.banner.info(f"New account: {whose} faucet sent "
                                 f"{short_address(address)} 10 test ETH and 1,000 QDT.")
                self._refresh_chain()

        self.ctx.runner.run(lambda _c: fund_once(store, network, address), on_success=done,
                            on_failure=self.fail, on_finished=lambda: self._funding.discard(key))

    def ask_faucet(self) -> None:
        chain, address = self.ctx.chain, self.current_address()
        if chain is None or not address:
            return
        from wallet.devnet_client import ask_faucet

        network, store = chain.network, self.ctx.store
        self.faucet_button.setEnabled(False)
        self.ctx.runner.run(lambda _c: ask_faucet(store, network, address),
                            on_success=lambda _r: self._funded(),
                            on_failure=self.fail,
                            on_finished=lambda: self.faucet_button.setEnabled(True))

    def _funded(self) -> None:
        self.banner.success("The faucet sent 10 test ETH and 1,000 QDT.")
        self._refresh_chain()

    # -- send -------------------------------------------------------------------------

    def review_send(self) -> None:
        chain, sender = self.ctx.chain, self.current_address()
        if chain is None:
            self.fail("Not connected to a network yet.")
            return
        to, amount, token = self.send_to.text().strip(), self.send_amount.text().strip(), \
            self.send_asset.currentData()
        self.review_button.setEnabled(False)
        self.banner.clear()
        self.ctx.runner.run(lambda _c: tokens.preview_send(chain.w3, sender, to, amount, token),
                            on_success=self._show_review, on_failure=self.fail,
                            on_finished=lambda: self.review_button.setEnabled(True))

    def _show_review(self, preview: Any) -> None:
        self.preview = preview
        fee = preview.fee
        self.review_text.setText(
            f"Send <b>{preview.amount_text} {html.escape(preview.symbol)}</b><br>"
            f"from {preview.sender}<br>to <b>{preview.to}</b><br><br>"
            f"Network fee: about {tokens.format_amount(fee.expected_cost_wei, 18, 8)} ETH "
            f"(at most {tokens.format_amount(fee.max_cost_wei, 18, 8)} ETH)")
        self.confirm_button.setEnabled(True)
        self.send_stack.setCurrentIndex(1)

    def confirm_send(self) -> None:
        preview, chain, vault = self.preview, self.ctx.chain, self.ctx.vault
        if preview is None or chain is None:
            return
        store = self.ctx.store
        self.confirm_button.setEnabled(False)
        self.send_busy.start("Signing and sending…", 0)

        def work(_c: Any) -> str:
            if not vault.is_unlocked:
                raise WalletLocked("The wallet is locked; unlock it to send.")
            signer = vault.signer(preview.sender)
            tx_hash = tokens.send(chain.w3, signer, preview, chain.chain_id, store=store,
                                  network=chain.name)
            txs.wait_for_receipt(chain.w3, tx_hash, store=store)  # raises with the revert reason
            return tx_hash

        self.task = self.ctx.runner.run(work, on_success=self._sent, on_failure=self._send_failed)

    def _sent(self, tx_hash: str) -> None:
        self.send_busy.hide()
        self.preview = None
        self.send_to.clear()
        self.send_amount.clear()
        self.send_stack.setCurrentIndex(0)
        self.banner.success(f"Sent. Transaction {tx_hash}.")
        self._refresh_chain()

    def _send_failed(self, message: str) -> None:
        self.send_busy.hide()
        self.confirm_button.setEnabled(True)
        self.fail(message)

    def on_locked(self) -> None:
        self.preview = None
        self.send_stack.setCurrentIndex(0)
