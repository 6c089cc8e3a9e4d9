"""`python -m selftest --home DIR` (in the desktop bundle: `quarry-app -m selftest ...`):
checks that this install of the app works on this machine's display, end to end.

In a data directory without a wallet it opens the app's window (the same `build_window` as
`quarry-app`), waits for onboarding, creates a wallet through it as a person would (new phrase,
the quiz, a password), waits for the wallet's pages, then (unless --no-network) for the embedded
network and its demo bounties, and stops that network again. It also encrypts on the worker
processes the app starts for large updates. It prints one JSON line (times in
seconds since this module started) and exits 0, or prints `error: ...` and exits 1. The packaging
tests run it from an installed wheel and from the bundle under Xvfb; a person can run it to
check a bundle on a new machine. It never touches an existing wallet: the directory must have none.

It sits above every layer (like the tests): it drives the GUI, the encryption workers and the
embedded network of one install together, so it may import all of them.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


class SelfTestError(Exception):
    pass


def _wait(app: Any, what: str, done: Callable[[], Any], timeout: float) -> Any:
    """Run the event loop until `done()` is truthy (its value is returned), or fail."""
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SelfTestError(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def _create_wallet(app: Any, window: Any, timeout: float) -> str:
    page = window.onboarding
    page.create_button.click()
    words = [label.text().split(". ", 1)[1] for label in page.word_labels]
    if " ".join(words) != page.phrase:
        raise SelfTestError("the recovery phrase shown is not the wallet's phrase")
    page.start_quiz()
    for question in page.quiz.questions:  # answered from the words shown, as a person would
        for radio in page.quiz_groups[question.position].buttons():
            if radio.text() == words[question.position - 1]:
                radio.setChecked(True)
    page.check_quiz()
    if page.steps.currentWidget() is not page.password_step:
        raise SelfTestError("the quiz did not accept the words shown")
    password = secrets.token_urlsafe(16)
    page.password_form.password.setText(password)
    page.password_form.confirmation.setText(password)
    page.finish_button.click()
    _wait(app, "the wallet's pages", lambda: window.mode() == "shell", timeout)
    vault = window.ctx.vault
    if vault is None or not vault.is_unlocked or len(vault.accounts()) != 1:
        raise SelfTestError("onboarding finished without an unlocked wallet with one account")
    return str(vault.accounts()[0].address)


def _encryption_workers() -> int:
    """Encrypts on two worker processes, children of this executable (`-m trainer._worker`; in
    the bundle its own dispatch), with a small key, and checks the ciphertexts decrypt. Called
    directly, the parallel path raises instead of falling back to encrypting in this process."""
    from phe import paillier as phe

    from trainer import paillier
    from trainer.obfuscator import obfuscator_for

    public, private = phe.generate_paillier_keypair(n_length=512)
    config = {"op": "encrypt", "n": str(public.n), "hs": str(int(obfuscator_for(public.n).hs))}
    plaintexts = list(range(1, 300))
    try:
        ciphertexts = paillier._run_parallel(config, public.n, plaintexts, 2, None, None, "Encryption")
    except paillier.WorkerFailure as exc:
        raise SelfTestError(f"the encryption workers failed: {exc}") from None
    if [private.raw_decrypt(c) for c in ciphertexts] != plaintexts:
        raise SelfTestError("the encryption workers' ciphertexts do not decrypt to the plaintexts")
    return len(ciphertexts)


def _demo_bounties(chain: Any) -> int:
    from wallet.bounties import BountyClient

    client = BountyClient(chain.w3, chain.network.board, chain.chain_id, None, file_roots=None)
    return len(client.list_bounties())


def run(home: Path, network: bool, timeout: float) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from ui.app import build_window
    from wallet.vault import Vault

    if Vault.exists(home):
        raise SelfTestError(f"{home} already holds a wallet; give an empty directory")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = build_window(home, app, start_network=network)
    window.show()
    _wait(app, "the onboarding window",
          lambda: window.mode() == "onboarding" and window.onboarding.isVisible(), timeout)
    result: dict[str, Any] = {"onboarding_s": round(time.perf_counter() - STARTED, 3),
                              "platform": app.platformName()}
    result["address"] = _create_wallet(app, window, timeout)
    result["wallet_s"] = round(time.perf_counter() - STARTED, 3)
    result["encrypted_by_workers"] = _encryption_workers()
    if network:
        ctx = window.ctx

        def connected() -> Any:
            if ctx.network.state == "error":
                raise SelfTestError(f"the embedded network failed: {ctx.network.text}")
            return ctx.chain

        try:
            chain = _wait(app, "the embedded network", connected, timeout)
            result["chain_id"] = chain.chain_id
            from practitioner.demo import DATASETS  # one demo bounty per shipped dataset

            result["bounties"] = _wait(
                app, "the demo bounties",
                lambda: (n := _demo_bounties(chain)) >= len(DATASETS) and n, timeout)
            result["network_s"] = round(time.perf_counter() - STARTED, 3)
        finally:
            from devnet.launcher import stop_running

            stop_running(home)
    window.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="an empty data directory (created if missing)")
    parser.add_argument("--no-network", action="store_true", help="skip the embedded network")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per step")
    args = parser.parse_args(argv)
    from common.paths import data_home

    try:
        result = run(data_home(args.home), not args.no_network, args.timeout)
    except SelfTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0

