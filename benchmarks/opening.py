"""What replaying an opened round costs an owner's wallet (trainer/openings.py; PROTOCOL,
Verification, "Opened rounds").

    python -m benchmarks.opening [--players 12] [--features 64] [--classes 10] [--rows 360] [--json]

On a bounty that opens its updates, every owner's wallet replays the round's game from the
opened updates (`openings.recompute_round`) once the validation set is revealed. Measured in
the same run on the same players: the practitioner's own valuation of them
(`practitioner.valuation.value_round`, the baseline: `valuation_s`) and the wallet's replay
(`replay_s`), and their ratio. A softmax model of `--features` x `--classes` (+ biases)
parameters (digits' 650 by default) on `--rows` random validation rows; exact Shapley up to
12 players, the round's seeded GTG-Shapley beyond. Checking each opened blob's Paillier
openings is measured apart, per blob, by `python -m benchmarks.copy_proof` (`check_s`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from benchmarks._common import emit, machine, timed
from practitioner.decode import ValidationScorer
from practitioner.valuation import DecodedSubmission, value_round
from trainer.alignment import reference_update
from trainer.models import model_from_spec
from trainer.openings import recompute_round
from trainer.scoring import per_example_log_loss
from trainer.spec import BountySpec
from trainer.testing import make_spec_dict


def run(players: int = 12, features: int = 64, classes: int = 10, rows: int = 360, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    spec = BountySpec.from_json(make_spec_dict(features, classes=list(range(classes))))
    x = rng.normal(size=(rows, features))
    y = rng.integers(0, classes, size=rows)
    model = model_from_spec(spec)
    start = model.get_params()
    reference = reference_update(spec, start, x, y)
    norm = float(np.linalg.norm(reference)) or 1.0
    updates = [reference * rng.uniform(0.2, 1.0) + rng.normal(0, norm / 8, reference.size) for _ in range(players)]
    addresses = [f"0x{i + 1:040x}" for i in range(players)]
    submissions = [DecodedSubmission(a, f"0x{i:064x}", u, order=i)
                   for i, (a, u) in enumerate(zip(addresses, updates, strict=True))]
    valued, valuation_s = timed(lambda: value_round(
        start, submissions, ValidationScorer(spec, x, y), 10**18, clip_norm=1e9, reference=reference,
        along_bound=norm, seed=seed))

    def losses(params: np.ndarray) -> np.ndarray:
        model.set_params(params)
        return per_example_log_loss(model, x, y)

    # the wallet replays the counted updates (what the screen kept, copies left out)
    by_address = dict(zip(addresses, updates, strict=True))
    counted = {line.address: by_address[line.address] for line in valued.contributors if line.copy_of is None}
    replayed, replay_s = timed(lambda: recompute_round(start, counted, losses, reference=reference,
                                                       along_bound=norm, seed=seed))
    worst = max(abs(replayed.lines[line.address.lower()].value - line.value) for line in valued.contributors)
    if worst > 1e-9 * max(1.0, replayed.utility_clip):  # the benchmark measures a replay that agrees
        raise AssertionError(f"the replay differs from the valuation by {worst}")
    return {
        "players": players, "counted": len(counted), "params": int(start.size), "validation_rows": rows, "method": valued.method,
        "evaluations": valued.evaluations, "valuation_s": valuation_s, "replay_s": replay_s,
        "replay_vs_valuation": replay_s / valuation_s, "largest_value_difference": worst, **machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="What replaying an opened round costs an owner's wallet.")
    parser.add_argument("--players", type=int, default=12)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rows", type=int, default=360)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    emit(f"Replaying an opened round of {args.players} updates", run(args.players, args.features, args.classes,
                                                                     args.rows), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
