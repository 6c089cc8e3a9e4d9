"""From submitted blob bytes to decrypted updates, and the validation metric of a parameter vector.

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
from trainer.blob import blob_hash, parse_blob
from trainer.encoding import EncodingParams
from trainer.errors import TrainerError
from trainer.models import model_from_spec
from trainer.spec import BountySpec
from trainer.update import make_update

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedSubmission:
    address: str
    blob_hash: str  # as committed on chain
    data: bytes | None  # None when the blob could not be fetched
    error: str | None = None


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
    for item in fetched:
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
                    decoded.append(DecodedSubmission(item.address, item.blob_hash, update))
                    continue
            except TrainerError as exc:
                reason = str(exc)
            except (ValueError, ArithmeticError) as exc:  # corrupt ciphertexts
                reason = f"undecryptable blob ({exc})"
        log.info("submission of %s rejected: %s", item.address, reason)
        decoded.append(DecodedSubmission(item.address, item.blob_hash, None, reason))
    return decoded


def _check(item: FetchedSubmission) -> str | None:
    if item.data is None:
        return item.error or "blob could not be fetched"
    if blob_hash(item.data) != item.blob_hash.lower():
        return "blob does not match the hash committed on chain"
    return None


def accuracy_metric(spec: BountySpec, x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], float]:
    """params -> accuracy of the spec's model on the validation set (x already standardised)."""
    model = model_from_spec(spec)

    def metric(params: np.ndarray) -> float:
        model.set_params(params)
        return float(model.accuracy(x, y))

    return metric


def reference_update(
    spec: BountySpec, global_params: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """The practitioner's own update on its validation data: the direction honest updates
    share (used only to screen out unaligned updates, never aggregated)."""
    return make_update(spec, global_params, x, y).delta
