"""From submitted blob bytes to decrypted updates, and the validation scores of a parameter vector.

Each blob is checked independently: a blob that fails (hash mismatch, wrong bounty or
round, wrong key, malformed, undecryptable) becomes a rejected submission with its reason
and never stops the round.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from phe import paillier

from practitioner.valuation import DecodedSubmission
from trainer.aggregate import decrypt_update
from trainer.alignment import reference_update  # noqa: F401 - here since before trainer.alignment
from trainer.encoding import EncodingParams
from trainer.errors import TrainerError, TrainingCancelled
from trainer.models import model_from_spec
from trainer.paillier import default_workers
from trainer.scoring import accuracy_from_proba, per_example_log_loss_from_proba
from trainer.spec import BountySpec
from trainer.update_blob import UpdateBlob, blob_hash, blob_limit, parse_blob

if TYPE_CHECKING:
    from practitioner.cluster import Cluster

log = logging.getLogger(__name__)

# From this many verified blobs on, they are decrypted in local worker processes, one blob
# per task (a blob of ~10,000 parameters is ~120 ciphertexts, too few for decrypt_blocks' own
# split). The private key reaches the workers through the pool's start-up pipe, as it
# reaches trainer._worker's; it never leaves the machine.
PARALLEL_MIN_BLOBS = 16


@dataclass(frozen=True)
class FetchedSubmission:
    address: str
    blob_hash: str  # as committed on chain
    data: bytes | None  # None when the blob could not be fetched
    error: str | None = None
    order: int | None = None  # index in getSubmitters; None: the position in the fetched list


def decode_submissions(
    spec: BountySpec,
    private_key: paillier.PaillierPrivateKey,
    bounty_id: int,
    round_index: int,
    fetched: Sequence[FetchedSubmission],
    *,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
    timings: dict[str, float] | None = None,
    cluster: Cluster | None = None,
) -> list[DecodedSubmission]:
    """Verify, parse and decrypt each fetched blob (in submission order). `workers`: local
    processes for the decryption of many blobs (None = one per idle core); `timings`, when
    given, receives the seconds spent parsing ("parse") and decrypting ("decrypt"). With a
    `cluster` whose operator shared the key with its workers, they decrypt; otherwise
    decryption stays here (`practitioner.cluster`)."""
    started = time.perf_counter()
    encoding = EncodingParams.from_spec(spec)
    n_params = model_from_spec(spec).n_params
    public_key = spec.public_key()
    if private_key.public_key.n != public_key.n:
        raise TrainerError("The Paillier key given is not this bounty's key.")
    limit = blob_limit(spec.max_blob_bytes)
    decoded: list[DecodedSubmission | None] = []
    parsed: list[tuple[int, FetchedSubmission, int, UpdateBlob]] = []
    for position, item in enumerate(fetched):
        order = item.order if item.order is not None else position
        reason = _check(item)
        if reason is None:
            try:
                blob = parse_blob(
                    item.data, expected_public_key=public_key, expected_encoding=encoding,  # type: ignore[arg-type]
                    max_bytes=limit,
                )
                if blob.bounty_id != bounty_id or blob.round != round_index:
                    reason = f"blob is for bounty {blob.bounty_id} round {blob.round}"
                elif blob.n_params != n_params:
                    reason = f"blob has {blob.n_params} parameters; the model has {n_params}"
                else:
                    parsed.append((len(decoded), item, order, blob))
                    decoded.append(None)  # filled in once decrypted
                    continue
            except TrainerError as exc:
                reason = f"unreadable blob: {exc}"
            except (ValueError, ArithmeticError) as exc:  # corrupt ciphertexts
                reason = f"undecryptable blob ({exc})"
        log.info("submission of %s rejected: %s", item.address, reason)
        decoded.append(DecodedSubmission(item.address, item.blob_hash, None, reason, order))
    if timings is not None:
        timings["parse"] = time.perf_counter() - started
        started = time.perf_counter()
    workers = default_workers() if workers is None else max(1, int(workers))
    blobs = [blob for _, _, _, blob in parsed]
    if cluster is not None and cluster.shares_key:
        outcomes = cluster.decrypt(private_key, blobs)
    elif workers > 1 and len(parsed) >= PARALLEL_MIN_BLOBS and should_stop is None:
        outcomes = _decrypt_in_pool(private_key, blobs, workers)
    else:
        outcomes = [decrypt_one(private_key, blob, should_stop) for blob in blobs]
    for (slot, item, order, _), (update, reason) in zip(parsed, outcomes, strict=True):
        if update is None:
            log.info("submission of %s rejected: %s", item.address, reason)
        decoded[slot] = DecodedSubmission(item.address, item.blob_hash, update, reason, order)
    if timings is not None:
        timings["decrypt"] = time.perf_counter() - started
    return [d for d in decoded if d is not None]


def decrypt_one(
    private_key: paillier.PaillierPrivateKey,
    blob: UpdateBlob,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """One verified blob's update, or None and why it cannot be decrypted."""
    try:
        return decrypt_update(private_key, blob, should_stop=should_stop, workers=workers), None
    except TrainingCancelled:  # the round stops; it is not this blob's fault
        raise
    except TrainerError as exc:  # one of the protocol's reasons (wallet.round_report.PROTOCOL_REJECTIONS)
        return None, f"undecryptable blob: {exc}"
    except (ValueError, ArithmeticError) as exc:  # corrupt ciphertexts
        return None, f"undecryptable blob ({exc})"


_POOL_KEY: paillier.PaillierPrivateKey | None = None


def _pool_start(n: int, p: int, q: int) -> None:
    global _POOL_KEY
    _POOL_KEY = paillier.PaillierPrivateKey(paillier.PaillierPublicKey(n), p, q)


def _pool_decrypt(blob: UpdateBlob) -> tuple[np.ndarray | None, str | None]:
    assert _POOL_KEY is not None
    return decrypt_one(_POOL_KEY, blob, workers=1)


def _decrypt_in_pool(
    private_key: paillier.PaillierPrivateKey, blobs: Sequence[UpdateBlob], workers: int
) -> list[tuple[np.ndarray | None, str | None]]:
    # spawn, not fork: the caller may be a threaded program (the app, an HTTP server)
    context = multiprocessing.get_context("spawn")
    key = (private_key.public_key.n, private_key.p, private_key.q)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_pool_start,
                             initargs=key) as pool:
        return list(pool.map(_pool_decrypt, blobs, chunksize=4))


def _check(item: FetchedSubmission) -> str | None:
    if item.data is None:
        return item.error or "blob could not be fetched"
    if blob_hash(item.data) != item.blob_hash.lower():
        return "blob does not match the hash committed on chain"
    return None


class ValidationScorer:
    """Scores parameter vectors of the spec's model on the validation set (x already
    standardised): per-example log-loss and accuracy (`trainer.scoring`, the functions the
    wallet uses to check a report)."""

    def __init__(self, spec: BountySpec, x: np.ndarray, y: np.ndarray) -> None:
        self.model = model_from_spec(spec)
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.int64)
        self.n_classes = spec.model.n_classes

    def probabilities(self, params: np.ndarray) -> np.ndarray:
        self.model.set_params(params)
        return self.model.predict_proba(self.x)

    def losses(self, params: np.ndarray) -> np.ndarray:
        return per_example_log_loss_from_proba(self.probabilities(params), self.y)

    def log_loss(self, params: np.ndarray) -> float:
        return float(self.losses(params).mean())

    def accuracy(self, params: np.ndarray) -> float:
        return accuracy_from_proba(self.probabilities(params), self.y)
