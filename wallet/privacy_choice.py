"""The privacy step's choice, in words, for every face (GUI wizard, CLI): the modes, the range
of noise each offers, its ε for the owner's rows, and what it measurably costs.

    choice = PrivacyChoice("row", noise_multiplier=2.0)
    shown = describe_choice(choice, spec, n_rows)     # ε, words, the measured cost
    config = choice.dp_sgd(spec, n_rows)              # for Contribution.train(dp_sgd=...)

"row" = "Protect each row" (DP-SGD during training, the default), "dataset" = "Protect my whole
dataset" (noise once on the whole update), "none". ε comes from dp-accounting for the mechanism
that will run (trainer.privacy); the measured lines come from `python -m benchmarks.privacy`
(docs/PROTOCOL.md holds the table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trainer.dp_sgd import DEFAULT_CLIP, DEFAULT_NOISE_MULTIPLIER, DpSgdConfig, dp_sgd_for
from trainer.privacy import (
    NO_NOISE,
    ROW_LEVEL,
    USER_LEVEL,
    describe_epsilon,
    dp_sgd_event,
    epsilon_of,
    user_level_event,
)
from trainer.spec import BountySpec

MODES = {
    "row": "Protect each row (recommended)",
    "dataset": "Protect my whole dataset",
    "none": "No noise",
}
MECHANISM = {"row": ROW_LEVEL, "dataset": USER_LEVEL, "none": NO_NOISE}
ROW_NOISE_RANGE = (0.5, 8.0)  # what the GUI's slider offers for DP-SGD
DEFAULT_DATASET_MAX = 2.0  # the slider's top for whole-dataset noise when the spec sets no cap

# Measured by `python -m benchmarks.privacy` (full mode: breast cancer, wine, digits, iris,
# diabetes; 4 honest owners and a free rider, 5 splits x 3 rounds; docs/PROTOCOL.md): the
# round model's accuracy lost and the share of rounds an honest owner was paid.
MEASURED = {
    "row": "In Quarry's demo markets this setting cost the round model {drop} accuracy points "
           "and honest owners were paid in {paid} of rounds (no noise: {paid_plain}).",
    "dataset": "In Quarry's demo markets whole-dataset noise (multiplier 1) cost the round model "
               "{drop} accuracy points and honest owners were paid in only {paid} of rounds.",
}
MEASURED_VALUES = {
    "row": {"drop": "0.7", "paid": "84 %", "paid_plain": "93 %"},
    "dataset": {"drop": "21", "paid": "20 %"},
}


@dataclass(frozen=True)
class PrivacyChoice:
    mode: str = "row"
    noise_multiplier: float = DEFAULT_NOISE_MULTIPLIER
    clip: float = DEFAULT_CLIP  # DP-SGD's per-row clip

    @property
    def mechanism(self) -> str:
        return MECHANISM[self.mode]

    def dp_sgd(self, spec: BountySpec, n_rows: int, epochs: int | None = None) -> DpSgdConfig | None:
        if self.mode != "row":
            return None
        return dp_sgd_for(spec.training, n_rows, self.noise_multiplier, self.clip, epochs=epochs)

    def user_noise(self) -> float:
        return self.noise_multiplier if self.mode == "dataset" else 0.0

    def epsilon(self, spec: BountySpec, n_rows: int, epochs: int | None = None) -> float:
        config = self.dp_sgd(spec, n_rows, epochs)
        if config is not None:
            return epsilon_of(dp_sgd_event(config.noise_multiplier, config.sampling_rate, config.steps),
                              spec.privacy.delta)
        if self.mode == "dataset" and self.noise_multiplier > 0:
            return epsilon_of(user_level_event(self.noise_multiplier), spec.privacy.delta)
        return math.inf


@dataclass(frozen=True)
class ChoiceText:
    epsilon: float
    headline: str  # "ε = 2.15 for each row" ...
    words: str  # what ε means for this mode
    measured: str  # the measured cost in the demo markets ("" for no noise)
    over_cap: str  # "" or why the bounty refuses it (its maximum ε)


def describe_choice(choice: PrivacyChoice, spec: BountySpec, n_rows: int, epochs: int | None = None) -> ChoiceText:
    eps = choice.epsilon(spec, n_rows, epochs)
    delta = spec.privacy.delta
    if math.isinf(eps):
        headline = "ε = ∞ (no noise)"
    elif choice.mode == "row":
        headline = f"ε = {eps:.2f} for each row"
    else:
        headline = f"ε = {eps:.2f} for your whole dataset"
    words = describe_epsilon(eps, delta, choice.mechanism)
    if choice.mode == "row" and not math.isinf(eps):
        config = choice.dp_sgd(spec, n_rows, epochs)
        assert config is not None
        words += (f" Noise is added while training (DP-SGD: each step looks at about "
                  f"{max(1, round(config.sampling_rate * n_rows))} of your {n_rows} rows, each row's "
                  f"influence clipped, {config.steps} steps).")
    template = MEASURED.get(choice.mode, "")
    measured = template.format(**MEASURED_VALUES[choice.mode]) if template else ""
    cap = spec.privacy.max_epsilon
    over = ""
    if cap is not None and not eps <= cap:
        over = f"This bounty accepts at most ε = {cap:g} per contribution: choose more noise."
    return ChoiceText(eps, headline, words, measured, over)


def measure_choice(choice: PrivacyChoice, spec: BountySpec, global_params: np.ndarray, x: np.ndarray,
                   y: np.ndarray, epochs: int | None = None) -> str:
    """The choice's cost on a held-out slice of the owner's rows, in words (slow: trains a few
    times; run it off the GUI thread)."""
    from trainer.privacy_preview import HOLDOUT_SHARE, preview_privacy

    train_rows = max(1, len(y) - max(1, int(round(HOLDOUT_SHARE * len(y)))))
    preview = preview_privacy(spec, global_params, x, y, noise_multiplier=choice.user_noise(),
                              dp_sgd=choice.dp_sgd(spec, train_rows, epochs), epochs=epochs)
    return preview.words()
