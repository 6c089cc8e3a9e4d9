"""`python -m ui.screenshots OUTDIR`: render every page to OUTDIR/*.png.

Runs offscreen on a fresh embedded network (in this process, with its devnet plugins, so the
demo practitioner posts its bounties) and a demo wallet in a temporary data directory. The
demo wallet contributes to one bounty with the shipped sample files, so the contribution
steps and the Rewards page show real data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DEMO_PHRASE = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon "
               "abandon abandon about")  # the BIP-39 test vector: a public, test-only wallet
DEMO_PASSWORD = "demo password"
DEMO_DIR = Path(__file__).resolve().parent.parent / "resources" / "demo"
SIZE = (1180, 760)
# Short demo rounds, so the tour can show a scored round on the Rewards page.
DEMO_ROUND_SECONDS = "60"
SHORT_ROUND_LIMIT = 120  # wait for scoring only when the demo's rounds are this short


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.screenshots")
    parser.add_argument("outdir")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the demo")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QUARRY_SCRYPT_N", "4096")  # a throwaway demo wallet
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quarry-shots-") as tmp:
        return Shooter(Path(tmp), outdir, args.timeout).run()


class Shooter:
    def __init__(self, tmp: Path, outdir: Path, timeout: float) -> None:
        from PySide6.QtWidgets import QApplication

        self.tmp, self.outdir, self.timeout = tmp, outdir, timeout
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.shots: list[str] = []

    # -- helpers ----------------------------------------------------------------------

    def pump(self, seconds: float = 0.2) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        end = time.monotonic() + (timeout or self.timeout)
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"screenshots: timed out waiting for {what}")
            self.pump(0.05)

    def shot(self, widget, name: str) -> None:
        self.pump(0.3)
        path = self.outdir / f"{name}.png"
        widget.grab().save(str(path))
        self.shots.append(path.name)
        print(f"wrote {path}")

    def window_for(self, home: Path, network: bool):
        from ui import theme
        from ui.context import AppContext
        from ui.flow import AppFlow
        from ui.tasks import TaskRunner
        from wallet.store import Store

        ctx = AppContext(home=home, store=Store(home), runner=TaskRunner())
        theme.apply_theme(self.app, "light")
        flow = AppFlow(ctx, start_network=network, try_keyring=False)
        flow.window.resize(*SIZE)
        flow.window.show()
        return flow

    # -- the tour ---------------------------------------------------------------------

    def run(self) -> int:
        self.onboarding()
        from wallet import devnet_client

        home = self.tmp / "demo"
        # read by the demo practitioner in the devnet process, which inherits the environment
        os.environ.setdefault("QUARRY_DEMO_ROUND_SECONDS", DEMO_ROUND_SECONDS)
        url = devnet_client.ensure_running(home)  # detached, with the demo practitioner
        try:
            from wallet.vault import Vault

            vault, info = Vault.import_mnemonic(home, DEMO_PHRASE, DEMO_PASSWORD)
            vault.close()
            devnet_client.request_faucet(url, info.address)
            board = devnet_client.contracts(url)["board"]
            self.wait(lambda: _bounty_count(url, board) >= 3, "the demo bounties")
            self.tour(home)
        finally:
            devnet_client.stop(home)
        return 0

    def onboarding(self) -> None:
        flow = self.window_for(self.tmp / "new", network=False)
        window = flow.window
        self.shot(window, "01-onboarding")
        page = window.onboarding
        page.start_create()
        self.shot(window, "02-onboarding-phrase")
        page.start_quiz()
        self.shot(window, "03-onboarding-quiz")
        page._go_password("Create wallet")  # noqa: SLF001 - the step the quiz leads to
        page.password_form.password.setText("correct horse battery staple")
        page.password_form.confirmation.setText("correct horse battery staple")
        self.shot(window, "04-onboarding-password")
        window.close()

    def tour(self, home: Path) -> None:
        flow = self.window_for(home, network=True)
        window, ctx = flow.window, flow.ctx
        self.shot(window, "05-lock")
        window.lock_screen.password.setText(DEMO_PASSWORD)
        window.lock_screen.unlock_with_password()
        self.wait(lambda: window.mode() == "shell" and ctx.chain is not None, "unlock and network")
        wallet = window.page("wallet")
        window.show_page("wallet")
        wallet.refresh()
        self.wait(lambda: wallet.token_balance.text() not in ("–", ""), "balances")
        self.shot(window, "06-wallet-receive")
        wallet.tabs.setCurrentIndex(1)
        wallet.send_to.setText("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        wallet.send_amount.setText("12.5")
        wallet.send_asset.setCurrentIndex(wallet.send_asset.findText("QDT"))
        wallet.review_send()
        self.wait(lambda: wallet.send_stack.currentIndex() == 1, "the send review")
        self.shot(window, "07-wallet-send-review")
        wallet.confirm_send()
        self.wait(lambda: "Sent." in wallet.banner.text, "the transfer")
        wallet.tabs.setCurrentIndex(2)
        wallet.refresh()
        self.wait(lambda: wallet.history_proxy.rowCount() >= 2, "history")
        self.shot(window, "08-wallet-history")

        bounties = window.page("bounties")
        window.show_page("bounties")
        bounties.refresh()
        self.wait(lambda: bounties.model.rowCount() >= 3, "the bounty list")
        target = next(bounties.proxy.row(i) for i in range(bounties.proxy.rowCount())
                      if "cancer" in bounties.proxy.row(i)["title"].lower())
        bounties.select_bounty(int(target["id"]))
        self.wait(lambda: bounties.accept_button.isEnabled(), "bounty details")
        self.shot(window, "09-bounties")
        bounties.accept_selected()
        wizard = bounties.contribute
        wizard.set_files([str(DEMO_DIR / "breast_cancer_owner_a.csv")])
        wizard.check_files()
        self.wait(lambda: wizard.to_training.isEnabled(), "the schema check")
        self.shot(window, "10-contribute-files")
        wizard.go(1)
        wizard.epochs.setValue(max(wizard.epochs.value(), 8))
        wizard.start_training()
        self.wait(lambda: wizard.to_privacy.isEnabled(), "training")
        self.shot(window, "11-contribute-training")
        wizard.go(2)
        wizard.set_mode("row")  # the default: each row protected by DP-SGD
        self.shot(window, "12-contribute-privacy")
        # DP-SGD trains again with noise on each row, then encrypts (measured: still paid)
        wizard.start_encryption()
        self.wait(lambda: wizard.steps.currentIndex() == 4, "encryption")
        self.shot(window, "13-contribute-review")
        wizard.submit()
        self.wait(lambda: wizard.result is not None, "the submission")
        self.shot(window, "14-contribute-submitted")
        wizard.leave()

        rewards = window.page("rewards")
        window.show_page("rewards")
        bounty = target_bounty = int(target["id"])
        client = bounties.bounty_client_or_note()
        scored = client is not None and \
            client.bounty(target_bounty).round_duration <= SHORT_ROUND_LIMIT
        if scored:
            # Let the demo practitioner score the round, so the page shows a real report.
            self.wait(lambda: client.rounds(client.bounty(bounty))[0]["state"] == "finalized",
                      "the demo practitioner to score the round", SHORT_ROUND_LIMIT + 90)
        rewards.refresh()
        self.wait(lambda: rewards.model.rowCount() >= 1 and (
            not scored or rewards.model.row_at(0)["status"] == "finalised"), "rewards")
        rewards.table.selectRow(0)
        self.shot(window, "15-rewards")

        # Keep contributing to another bounty: the background runner submits to its open round
        window.show_page("bounties")
        other = next(bounties.proxy.row(i) for i in range(bounties.proxy.rowCount())
                     if int(bounties.proxy.row(i)["id"]) != target_bounty)
        bounties.select_bounty(int(other["id"]))
        self.wait(lambda: bounties.keep_button.isEnabled(), "the other bounty's details")
        dialog = bounties.keep_contributing()
        title = str(other["title"]).lower()
        name = "wine" if "wine" in title else "digits" if "digit" in title else "breast_cancer"
        dialog.set_sources([str(DEMO_DIR / f"{name}_owner_a.csv")])
        dialog.privacy.setCurrentIndex(dialog.privacy.findData("none"))
        self.shot(dialog, "18-keep-contributing")
        dialog.save_button.click()
        standing = window.page("standing")
        window.show_page("standing")
        runner = ctx.extras["autopilot"]
        runner.run_pass()
        self.wait(lambda: bool(runner.notes), "the autopilot's first pass", 120)
        standing.refresh()
        self.wait(lambda: standing.table.rowCount() >= 1, "the standing list")
        standing.table.selectRow(0)
        self.shot(window, "19-standing")
        settings = window.page("settings")
        window.show_page("settings")
        settings.refresh()
        self.shot(window, "16-settings")
        from ui import theme

        theme.apply_theme(self.app, "dark")
        window.close()
        dark = self.window_for(home, network=True)
        theme.apply_theme(self.app, "dark")
        dark.window.lock_screen.password.setText(DEMO_PASSWORD)
        dark.window.lock_screen.unlock_with_password()
        self.wait(lambda: dark.window.mode() == "shell" and dark.ctx.chain is not None, "unlock")
        page = dark.window.page("bounties")
        dark.window.show_page("bounties")
        page.refresh()
        self.wait(lambda: page.model.rowCount() >= 3, "the bounty list (dark)")
        page.table.selectRow(0)
        self.wait(lambda: page.details is not None, "details (dark)")
        self.shot(dark.window, "17-bounties-dark")
        self.wait(lambda: not dark.ctx.runner.running(), "idle", 30)
        dark.window.close()


def _bounty_count(url: str, board: str) -> int:
    from web3 import Web3

    from common.artifacts import abi

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    try:
        return int(w3.eth.contract(address=board, abi=abi("BountyBoard")).functions
                   .bountyCount().call())
    except Exception:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
