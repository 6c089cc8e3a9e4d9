"""What a privacy setting costs, measured on the owner's own rows before anything is sent.

    preview = preview_privacy(spec, global_params, X, y, dp_sgd=config)       # or noise_multiplier=
    preview.accuracy_plain, preview.accuracy_private    # on a held-out slice of the owner's rows

A slice of the owner's rows (HOLDOUT_SHARE, at least one) is held out; the round's model plus
an update trained on the rest is scored on it without noise and with the chosen setting (the
mean over a few draws of the noise, since one draw is luck). Nothing leaves the computer and
nothing is kept: this only says how much the noise costs on this owner's data. It uses the
same rows as the real update, so the numbers are themselves not private to the practitioner:
they are shown to the owner only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from trainer.dp_sgd import DpSgdConfig
from trainer.errors import DataError
from trainer.models import model_from_spec
from trainer.scoring import log_loss
from trainer.spec import BountySpec
from trainer.update import make_update

HOLDOUT_SHARE = 0.2
DRAWS = 3


@dataclass(frozen=True)
class PrivacyPreview:
    rows_held_out: int
    accuracy_before: float  # the round's model, on the held-out rows
    accuracy_plain: float  # round model + this owner's update without noise
    accuracy_private: float  # ... with the chosen setting (mean over DRAWS noise draws)
    log_loss_plain: float
    log_loss_private: float

    @property
    def drop_points(self) -> float:
        return 100.0 * (self.accuracy_plain - self.accuracy_private)

    def words(self) -> str:
        return (
            f"Measured on {self.rows_held_out} of your rows held out: the bounty's model with your "
            f"update reaches {100 * self.accuracy_plain:.1f} % accuracy without noise and "
            f"{100 * self.accuracy_private:.1f} % with this setting (round model alone: "
            f"{100 * self.accuracy_before:.1f} %)."
        )


def preview_privacy(
    spec: BountySpec,
    global_params: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    noise_multiplier: float = 0.0,
    dp_sgd: DpSgdConfig | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> PrivacyPreview:
    """Accuracy on a held-out slice with and without the chosen privacy setting."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(y) < 2:
        raise DataError("At least 2 rows are needed to hold some out.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_out = max(1, int(round(HOLDOUT_SHARE * len(y))))
    test, train = order[:n_out], order[n_out:]
    start = np.asarray(global_params, dtype=np.float64)
    model = model_from_spec(spec)
    # the comparison without noise must run even when the bounty's caps would refuse sending it
    spec = replace(spec, privacy=replace(spec.privacy, max_epsilon=None, max_noise_multiplier=None))

    def score(params: np.ndarray) -> tuple[float, float]:
        model.set_params(params)
        return model.accuracy(X[test], y[test]), log_loss(model, X[test], y[test])

    plain = make_update(spec, start, X[train], y[train], epochs=epochs)
    acc_before, _ = score(start)
    acc_plain, loss_plain = score(start + plain.delta)
    if dp_sgd is None and noise_multiplier <= 0:
        return PrivacyPreview(n_out, acc_before, acc_plain, acc_plain, loss_plain, loss_plain)
    accs, losses = [], []
    for draw in range(DRAWS):
        noisy = make_update(spec, start, X[train], y[train], epochs=epochs,
                            noise_multiplier=0.0 if dp_sgd is not None else noise_multiplier,
                            dp_sgd=dp_sgd, rng=np.random.default_rng(seed + 1 + draw))
        acc, loss = score(start + noisy.delta)
        accs.append(acc)
        losses.append(loss)
    return PrivacyPreview(n_out, acc_before, acc_plain, float(np.mean(accs)), loss_plain,
                          float(np.mean(losses)))
