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

    python -m benchmarks.startup --window EXE [--window EXE ...] [--runs 9]

times a whole app as people start it (issue 13): EXE (`.venv/bin/quarry-app`, the `quarry-app` of
a venv the wheel was installed into, or the bundle's `dist/Quarry/quarry-app`) is started on a
private Xvfb display with a fresh data directory, so it opens onboarding and starts the embedded
network in the background, until the X server reports its main window viewable (mapped on
screen: Qt paints a window when it is exposed). Needs Xvfb and xwininfo (Debian: xvfb, x11-utils).
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


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = ":" + pipe.readline().strip()
    return server, display


def _viewable(env: dict[str, str]) -> bool:
    """Whether a top-level window of class quarry-app, larger than Qt's 1x1 helper, is mapped."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
    for line in tree.splitlines():
        if '("quarry-app"' in line and " 1x1+" not in line:
            info = subprocess.run(["xwininfo", "-id", line.split()[0]], env=env, capture_output=True,
                                  text=True).stdout
            if "IsViewable" in info:
                return True
    return False


def _stop_devnet(home: Path, timeout: float = 60) -> None:
    """Stop the embedded network the app left running (it outlives the app by design). When the
    app was ended while starting it, the network is waited for first, or it would keep running."""
    from devnet.launcher import running_url, stop_running

    deadline = time.monotonic() + timeout
    while (home / "devnet" / "devnet.log").exists() and running_url(home) is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_running(home)


def _first_window_once(exe: str, env: dict[str, str], root: Path, timeout: float = 60) -> float:

    home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
    errors = (home / "stderr.txt").open("wb")
    start = time.perf_counter()
    app = subprocess.Popen([exe, "--home", str(home)], env=env, cwd=root, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=errors)
    try:
        while not _viewable(env):
            if app.poll() is not None or time.perf_counter() - start > timeout:
                tail = (home / "stderr.txt").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{exe} showed no window (exit code {app.poll()}): {tail}")
            time.sleep(0.005)
        return time.perf_counter() - start
    finally:
        app.terminate()
        app.wait(30)
        errors.close()
        _stop_devnet(home)


def run_windows(executables: list[str], runs: int = 9) -> dict[str, Any]:
    server, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    for name in ("QUARRY_HOME", "PYTHONPATH", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    results: dict[str, Any] = {"runs": runs, **machine()}
    try:
        with tempfile.TemporaryDirectory(prefix="quarry-window-") as tmp:
            for exe in executables:
                _first_window_once(exe, env, Path(tmp))  # warm-up: file caches, .pyc files
                times = [_first_window_once(exe, env, Path(tmp)) for _ in range(runs)]
                results[f"{exe}: median_s"] = statistics.median(times)
                results[f"{exe}: min_s"] = min(times)
                results[f"{exe}: max_s"] = max(times)
    finally:
        server.terminate()
        server.wait(10)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-app", action="store_true", help="skip the app's first window")
    parser.add_argument("--window", action="append", metavar="EXE",
                        help="time EXE's first window on Xvfb instead (repeatable)")
    args = parser.parse_args(argv)
    if args.window:
        emit("First window on an X display (whole app, fresh data directory)",
             run_windows(args.window, args.runs), args.json)
        return 0
    emit("Start-up (whole processes; ratios against `python -c pass`)",
         run(args.runs, app=not args.no_app), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
