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

from trainer.encoding import EncodingParams, encode, pack
from trainer.errors import BlobError, TrainerError, TrainingCancelled
from trainer.models import model_from_spec
from trainer.paillier import encrypt_update
from trainer.privacy import add_gaussian_noise, clip_update, epsilon_spent
from trainer.spec import BountySpec
from trainer.train import CANCELLED, EpochRecord, train_local
from trainer.update_blob import encode_blob


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


def make_update(
    spec: BountySpec,
    global_params: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int | None = None,
    noise_multiplier: float = 0.0,
    progress: Callable[[int, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    time_budget_s: float | None = None,
    rng: np.random.Generator | None = None,
) -> LocalUpdate:
    """Train the spec's model from `global_params` on (X, y); return the private update.

    rng seeds the privacy noise; leave it None outside tests.
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
    if not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise TrainerError("The noise multiplier must be a non-negative number.")
    cap = spec.privacy.max_noise_multiplier
    if cap is not None and noise_multiplier > cap:
        raise TrainerError(
            f"This bounty accepts a noise multiplier of at most {cap}; {noise_multiplier} asked."
        )
    model.set_params(start)
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
        epsilon=epsilon_spent(noise_multiplier, 1.0, 1, spec.privacy.delta),
        dp_delta=spec.privacy.delta,
        noise_multiplier=float(noise_multiplier),
        raw_norm=raw_norm,
        clipped=raw_norm > spec.privacy.clip_norm,
        stopped_reason=result.stopped_reason,
    )


def encrypt_to_blob(
    spec: BountySpec,
    bounty_id: int,
    round: int,
    local_update: LocalUpdate,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> bytes:
    """Encode, pack and encrypt the update under the bounty's key; the update blob's bytes.

    Each parameter is clamped to [-encoding.clip, encoding.clip] by the encoding.
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
        n_samples=min(local_update.n_samples, 2**32 - 1),
        workers=workers,
        progress=progress,
        should_stop=should_stop,
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
) -> bytes:
    """Encode, pack and encrypt a float vector; the update blob's bytes (format v1).

    rng: a seeded random.Random makes the ciphertexts deterministic (tests only).
    """
    plaintexts = pack(encode(np.asarray(vector, dtype=np.float64), encoding), encoding)
    ciphertexts = encrypt_update(
        public_key, plaintexts, workers=workers, progress=progress, should_stop=should_stop,
        rng=rng,
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
