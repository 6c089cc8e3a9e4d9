"""From submitted blob bytes to decrypted updates, and the validation scores of a parameter vector.

Each blob is checked independently: a blob that fails (hash mismatch, wrong bounty or
round, wrong key, malformed, undecryptable) becomes a rejected submission with its reason
and never stops the round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from phe import paillier

from practitioner.valuation import DecodedSubmission
from trainer.aggregate import decrypt_update
from trainer.encoding import EncodingParams
from trainer.errors import TrainerError
from trainer.models import model_from_spec
from trainer.scoring import accuracy_from_proba, per_example_log_loss_from_proba
from trainer.spec import BountySpec
from trainer.update import make_update
from trainer.update_blob import blob_hash, parse_blob

log = logging.getLogger(__name__)


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
) -> list[DecodedSubmission]:
    encoding = EncodingParams.from_spec(spec)
    n_params = model_from_spec(spec).n_params
    public_key = spec.public_key()
    if private_key.public_key.n != public_key.n:
        raise TrainerError("The Paillier key given is not this bounty's key.")
    limit = spec.max_blob_bytes
    decoded: list[DecodedSubmission] = []
    for position, item in enumerate(fetched):
        order = item.order if item.order is not None else position
        reason = _check(item)
        if reason is None:
            try:
                blob = parse_blob(
                    item.data, expected_public_key=public_key, expected_encoding=encoding,  # type: ignore[arg-type]
                    **({"max_bytes": limit} if limit else {}),
                )
                if blob.bounty_id != bounty_id or blob.round != round_index:
                    reason = f"blob is for bounty {blob.bounty_id} round {blob.round}"
                elif blob.n_params != n_params:
                    reason = f"blob has {blob.n_params} parameters; the model has {n_params}"
                else:
                    update = decrypt_update(private_key, blob, should_stop=should_stop)
                    decoded.append(DecodedSubmission(item.address, item.blob_hash, update, order=order))
                    continue
            except TrainerError as exc:
                reason = str(exc)
            except (ValueError, ArithmeticError) as exc:  # corrupt ciphertexts
                reason = f"undecryptable blob ({exc})"
        log.info("submission of %s rejected: %s", item.address, reason)
        decoded.append(DecodedSubmission(item.address, item.blob_hash, None, reason, order))
    return decoded


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


def reference_update(
    spec: BountySpec, global_params: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """The practitioner's own update on its validation data: the direction honest updates
    share (used only to screen out unaligned updates, never aggregated)."""
    return make_update(spec, global_params, x, y).delta
