"""The data owner's whole local step: train, clip, add noise, encode, encrypt, serialise.

    update = make_update(spec, global_params, X, y, noise_multiplier=1.0, progress=..., ...)
    blob = encrypt_to_blob(spec, bounty_id, round, update, progress=..., should_stop=...)
    blob_hash(blob)   # what goes on chain

Both are slow enough to run off the GUI thread; both honour should_stop() by raising
TrainingCancelled, and neither writes anything to disk.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from phe import paillier

from trainer.dp_sgd import DpSgdConfig, train_dp_sgd
from trainer.encoding import EncodingParams, encode, pack
from trainer.errors import BlobError, TrainerError, TrainingCancelled
from trainer.models import model_from_spec
from trainer.obfuscator_pool import ObfuscatorPool
from trainer.paillier import encrypt_update
from trainer.privacy import (
    NO_NOISE,
    ROW_LEVEL,
    USER_LEVEL,
    add_gaussian_noise,
    clip_update,
    dp_sgd_event,
    epsilon_of,
    user_level_event,
)
from trainer.spec import BountySpec
from trainer.train import CANCELLED, EpochRecord, train_local
from trainer.update_blob import DECLARED_SAMPLES, encode_blob


@dataclass(frozen=True)
class LocalUpdate:
    delta: np.ndarray  # new - global parameters, clipped (and noised if asked)
    n_samples: int
    train_history: list[EpochRecord] = field(default_factory=list)
    epsilon: float = math.inf  # this round's epsilon (inf without noise)
    dp_delta: float = 1e-5
    noise_multiplier: float = 0.0
    raw_norm: float = 0.0  # L2 norm of the update before clipping
    clipped: bool = False
    stopped_reason: str = "completed"
    # trainer.privacy.ROW_LEVEL (DP-SGD), USER_LEVEL or NO_NOISE, and what the privacy
    # ledger (wallet.privacy_budget) needs to rebuild its DpEvent
    mechanism: str = NO_NOISE
    mechanism_params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PrivacyPlan:
    """The mechanism a contribution will run and its epsilon, known before any training."""

    mechanism: str
    params: dict
    epsilon: float
    delta: float


def plan_privacy(spec: BountySpec, noise_multiplier: float = 0.0,
                 dp_sgd: DpSgdConfig | None = None, *, enforce_max_epsilon: bool = True) -> PrivacyPlan:
    """The privacy plan of a contribution; TrainerError when the spec's caps refuse it
    (privacy.max_noise_multiplier for user-level noise, privacy.max_epsilon for any mode
    unless `enforce_max_epsilon` is False: make_update, which the practitioner also runs on
    its own validation set, leaves that check to the wallet)."""
    if not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise TrainerError("The noise multiplier must be a non-negative number.")
    if dp_sgd is not None and noise_multiplier > 0:
        raise TrainerError("Choose one privacy mode: DP-SGD (each row) or user-level noise.")
    delta = spec.privacy.delta
    if dp_sgd is not None:
        params = dp_sgd.to_json()
        plan = PrivacyPlan(ROW_LEVEL, params, epsilon_of(
            dp_sgd_event(dp_sgd.noise_multiplier, dp_sgd.sampling_rate, dp_sgd.steps), delta), delta)
    elif noise_multiplier > 0:
        cap = spec.privacy.max_noise_multiplier
        if cap is not None and noise_multiplier > cap:
            raise TrainerError(
                f"This bounty accepts a noise multiplier of at most {cap}; {noise_multiplier} asked."
            )
        plan = PrivacyPlan(USER_LEVEL, {"noise_multiplier": float(noise_multiplier)},
                           epsilon_of(user_level_event(noise_multiplier), delta), delta)
    else:
        plan = PrivacyPlan(NO_NOISE, {}, math.inf, delta)
    if enforce_max_epsilon:
        check_max_epsilon(spec, plan.epsilon)
    return plan


def check_max_epsilon(spec: BountySpec, epsilon: float) -> None:
    """TrainerError when `epsilon` is above the spec's privacy.max_epsilon."""
    cap = spec.privacy.max_epsilon
    if cap is not None and not epsilon <= cap:
        shown = "∞ (no noise)" if math.isinf(epsilon) else f"{epsilon:.2f}"
        raise TrainerError(
            f"This bounty accepts at most ε = {cap:g} per contribution; the chosen privacy "
            f"setting spends ε = {shown}. Choose more noise (or fewer epochs)."
        )


def make_update(
    spec: BountySpec,
    global_params: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int | None = None,
    noise_multiplier: float = 0.0,
    dp_sgd: DpSgdConfig | None = None,
    progress: Callable[[int, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    time_budget_s: float | None = None,
    rng: np.random.Generator | None = None,
) -> LocalUpdate:
    """Train the spec's model from `global_params` on (X, y); return the private update.

    Privacy: `dp_sgd` trains with DP-SGD ("Protect each row"; its own epochs, `epochs` is
    ignored); `noise_multiplier` > 0 adds user-level noise to the clipped update ("Protect my
    whole dataset"); neither: no noise. Either way the update is clipped to the spec's
    clip_norm (for DP-SGD post-processing, free). rng seeds the sampling and the noise;
    leave it None outside tests.
    """
    model = model_from_spec(spec)
    start = np.asarray(global_params, dtype=np.float64)
    if start.ndim != 1 or start.size != model.n_params:
        raise TrainerError(
            f"The global model has {start.size} parameters; this bounty's model needs "
            f"{model.n_params}."
        )
    if not np.all(np.isfinite(start)):
        raise TrainerError("The global model holds NaN or infinite parameters.")
    plan = plan_privacy(spec, noise_multiplier, dp_sgd, enforce_max_epsilon=False)
    model.set_params(start)
    if dp_sgd is not None:
        result = train_dp_sgd(model, X, y, spec.training, dp_sgd, progress=progress,
                              should_stop=should_stop, time_budget_s=time_budget_s, rng=rng)
    else:
        result = train_local(
            model,
            X,
            y,
            spec.training,
            progress=progress,
            should_stop=should_stop,
            time_budget_s=time_budget_s,
            epochs=epochs,
        )
    if result.stopped_reason == CANCELLED:
        raise TrainingCancelled("Training cancelled by the user; nothing was sent.")
    raw = result.params - start
    raw_norm = float(np.linalg.norm(raw))
    delta = clip_update(raw, spec.privacy.clip_norm)
    delta = add_gaussian_noise(delta, noise_multiplier, spec.privacy.clip_norm, rng)
    return LocalUpdate(
        delta=delta,
        n_samples=int(len(y)),
        train_history=list(result.history),
        epsilon=plan.epsilon,
        dp_delta=spec.privacy.delta,
        noise_multiplier=float(dp_sgd.noise_multiplier if dp_sgd is not None else noise_multiplier),
        raw_norm=raw_norm,
        clipped=raw_norm > spec.privacy.clip_norm,
        stopped_reason=result.stopped_reason,
        mechanism=plan.mechanism,
        mechanism_params=plan.params,
    )


def encrypt_to_blob(
    spec: BountySpec,
    bounty_id: int,
    round: int,
    local_update: LocalUpdate,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
    obfuscators: ObfuscatorPool | None = None,
) -> bytes:
    """Encode, pack and encrypt the update under the bounty's key; the update blob's bytes.

    Each parameter is clamped to [-encoding.clip, encoding.clip] by the encoding.
    obfuscators: drawn while training (`precompute_obfuscators`); send time is then
    multiplications only.
    """
    encoding = EncodingParams.from_spec(spec)
    n_params = int(local_update.delta.size)
    expected = model_from_spec(spec).n_params
    if n_params != expected:
        raise TrainerError(
            f"The update has {n_params} parameters; this bounty's model has {expected}."
        )
    data = encrypt_vector_to_blob(
        spec.public_key(),
        local_update.delta,
        encoding,
        bounty_id=bounty_id,
        round=round,
        n_samples=DECLARED_SAMPLES,  # not local_update.n_samples: the row count stays here
        workers=workers,
        progress=progress,
        should_stop=should_stop,
        obfuscators=obfuscators,
    )
    if spec.max_blob_bytes is not None and len(data) > spec.max_blob_bytes:
        raise BlobError(
            f"The encrypted update is {len(data)} bytes; this bounty's inbox accepts at most "
            f"{spec.max_blob_bytes}."
        )
    return data


def encrypt_vector_to_blob(
    public_key: paillier.PaillierPublicKey,
    vector: np.ndarray,
    encoding: EncodingParams,
    *,
    bounty_id: int,
    round: int,
    n_samples: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    rng: random.Random | None = None,
    obfuscators: ObfuscatorPool | None = None,
) -> bytes:
    """Encode, pack and encrypt a float vector; the update blob's bytes (format v1).

    rng: a seeded random.Random makes the ciphertexts deterministic (tests only).
    obfuscators: a pool precomputed for this key; each ciphertext takes its own out of it.
    """
    plaintexts = pack(encode(np.asarray(vector, dtype=np.float64), encoding), encoding)
    ciphertexts = encrypt_update(
        public_key, plaintexts, workers=workers, progress=progress, should_stop=should_stop,
        rng=rng, obfuscators=obfuscators,
    )
    return encode_blob(
        bounty_id=bounty_id,
        round=round,
        n_params=int(np.asarray(vector).size),
        encoding=encoding,
        public_key=public_key,
        n_samples=n_samples,
        ciphertexts=ciphertexts,
    )


def precompute_obfuscators(spec: BountySpec, n_params: int) -> ObfuscatorPool:
    """Start drawing, in the background, the obfuscators one update of `n_params` parameters
    needs under the bounty's key (one per packed ciphertext); pass the pool to
    `encrypt_to_blob`. Call it as soon as the spec and the model are known (before training)."""
    count = EncodingParams.from_spec(spec).n_plaintexts(max(1, int(n_params)))
    return ObfuscatorPool(spec.public_key(), count).start()
