"""Start-up time of the commands people run most, against a bare interpreter in the same run.

    python -m benchmarks.startup [--runs 9] [--json] [--no-app]

Each command runs as a whole process, in turn with the baseline `python -c pass` (A B A B ...,
so a machine that speeds up or slows down affects both), after one warm-up run each. Reported:
median wall seconds of each, and the median of the per-pair ratios command / baseline.
Targets (issue 14): `quarry --help` and `quarry wallet list` <= 0.3 s, the app's first window
<= 1.5 s on a warm machine.

`quarry wallet list` runs over a wallet made for the run (fast scrypt: the benchmark is about
imports, not key derivation). The app's first window is `quarry-app`'s own window built
offscreen without a network, and shown; the process exits once Qt has processed the show.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import emit, machine

REPO = Path(__file__).resolve().parents[1]

FIRST_WINDOW = """
import sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
from ui.app import build_window
app = QApplication(sys.argv[:1])
window = build_window(Path(sys.argv[1]), app, start_network=False)
window.show()
app.processEvents()
"""


def _run_once(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _paired(command: list[str], baseline: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    _run_once(command, env), _run_once(baseline, env)  # warm-up: file caches, .pyc files
    times, base, ratios = [], [], []
    for _ in range(runs):
        t, b = _run_once(command, env), _run_once(baseline, env)
        times.append(t)
        base.append(b)
        ratios.append(t / b)
    return {"median_s": statistics.median(times), "baseline_median_s": statistics.median(base),
            "ratio_median": statistics.median(ratios), "min_s": min(times), "max_s": max(times)}


def _wallet_home(root: Path, env: dict[str, str]) -> Path:
    home = root / "home"
    code = ("import sys; from wallet.vault import Vault; "
            "v, _ = Vault.create(sys.argv[1], 'benchmark password'); v.close()")
    subprocess.run([sys.executable, "-c", code, str(home)], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return home


def run(runs: int = 9, app: bool = True) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QUARRY_SCRYPT_N": "1024",
           "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("QUARRY_HOME", None)
    baseline = [sys.executable, "-c", "pass"]
    quarry = [sys.executable, "-m", "wallet.cli"]
    results: dict[str, Any] = {"runs": runs, **machine()}
    with tempfile.TemporaryDirectory(prefix="quarry-startup-") as tmp:
        home = _wallet_home(Path(tmp), env)
        commands = {
            "quarry --help": quarry + ["--help"],
            "quarry wallet list": quarry + ["--home", str(home), "wallet", "list"],
        }
        if app:
            commands["app first window"] = [sys.executable, "-c", FIRST_WINDOW, str(home)]
        for name, command in commands.items():
            for key, value in _paired(command, baseline, runs, env).items():
                results[f"{name}: {key}"] = value
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-app", action="store_true", help="skip the app's first window")
    args = parser.parse_args(argv)
    emit("Start-up (whole processes; ratios against `python -c pass`)",
         run(args.runs, app=not args.no_app), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
