"""Posting a bounty: complete and check the spec, publish spec and initial model, escrow, create.

The spec file may leave out what the practitioner's own files determine; `post` fills in:
- `paillier` from the practitioner's key (if present it must be that key: we could not
  decrypt updates for another one), with the key file's proof that it is well formed
  (trainer.key_proof; every owner's wallet refuses a spec of valuation_rules 3 without it),
- `standardize` from the validation set (mean and std per feature; std 0 becomes 1),
- `validation_commitment` = keccak256(salt || validation set) with a fresh secret salt,
- `initial_model` = a freshly initialised model of the spec's architecture, stored as a blob,
- `inbox_url` = the inbox the blobs are served from ("" = file:// URIs, embedded network),
- `privacy.clip_norm`, when left out, = the norm of the practitioner's own first update on
  the validation set (3 significant digits). Owners' DP noise is N(0, (sigma * clip_norm)^2)
  per parameter, so a bound far above honest update norms drowns their signal: with the
  demo data a clip norm of 5 (updates ~1) got 80-95 % of noisy honest updates rejected,
  the calibrated bound 13-40 % at noise multiplier 0.5 (docs/PROTOCOL.md, valuation).
Then trainer.spec checks the whole spec; nothing goes on chain unless it is valid.
A validation set under RECOMMENDED_VALIDATION_ROWS rows posts with a warning
(`validation_size_warning`): there one relabelled example can move a large part of a round;
so does a model of fewer than COPY_DIRECTION_MIN_PARAMS parameters (`small_model_warning`):
there a copy plus noise is paid as its own update. A validation set without rows of one of
the spec's classes is refused, and one with under MIN_CLASS_VALIDATION_ROWS rows of a class
posts with a warning (`validation_class_check`): updates are valued on the validation set, so
owners whose rows are of that class are paid by what those few rows show.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from practitioner.keys import load_key_proof, load_public_key
from practitioner.session import Session
from practitioner.state import save_validation, write_json
from practitioner.validation_reuse import (
    PUBLIC_ROWS_KEY,
    here_of,
    revealed_rows_refusal,
    shared_rows,
    unrevealed_rows_warning,
)
from trainer.copy_proof import COPY_DIRECTION_MIN_PARAMS
from trainer.data import load_dataset
from trainer.encoding import EncodingParams
from trainer.models import model_from_spec, model_to_bytes
from trainer.reveal import validation_commitment
from trainer.spec import (
    MIN_CLASS_VALIDATION_ROWS,
    RECOMMENDED_VALIDATION_ROWS,
    VALUATION_RULES,
    BountySpec,
)
from trainer.update import make_update
from trainer.update_blob import blob_limit, blob_size
from wallet.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_ROUNDS = 10_000
BOARD_MAX_CONTRIBUTORS = 10_000  # BountyBoard.MAX_CONTRIBUTORS
MIN_ROUND_SECONDS = 60  # owners need time to train; tests of the demo go lower
_PLACEHOLDER_HASH = "0x" + "00" * 32


@dataclass(frozen=True)
class PostedBounty:
    bounty_id: int
    spec: BountySpec
    spec_hash: str
    spec_uri: str
    model_hash: str
    model_uri: str


def read_spec_file(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"The spec file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the spec file {path}: {exc}") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"The spec file {path} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidInput(f"The spec file {path} must hold a JSON object.")
    return obj


def _prefilled(
    raw: dict[str, Any], paillier_n: int, paillier_proof: Sequence[int], inbox_url: str,
    model_ref: tuple[str, str] | None,
) -> tuple[dict[str, Any], BountySpec, bool, bool]:
    """(spec dict with placeholders for what post fills in, its parse, fill standardize?,
    fill clip_norm?); SpecError names the first bad field the practitioner wrote."""
    spec = copy.deepcopy(raw)
    given_n = (spec.get("paillier") or {}).get("n")
    if given_n is not None and str(given_n) != str(paillier_n):
        raise InvalidInput(
            "The spec's paillier.n is not your key's public modulus; leave it out to use yours."
        )
    # with the key's proof of being well formed (trainer.key_proof): the spec's hash commits to it
    spec["paillier"] = {"n": str(paillier_n), "bits": paillier_n.bit_length(),
                        "proof": [str(root) for root in paillier_proof]}
    spec.setdefault("inbox_url", inbox_url)
    n_columns = len((spec.get("schema") or {}).get("columns") or [])
    fill_standardize = "standardize" not in spec
    if fill_standardize:
        spec["standardize"] = {"mean": [0.0] * n_columns, "std": [1.0] * n_columns}
    spec.setdefault("validation_commitment", _PLACEHOLDER_HASH)
    spec.setdefault("metric", "log_loss")  # what every round is valued on
    spec["valuation_rules"] = VALUATION_RULES  # what post commits every bounty to (below)
    privacy = spec.get("privacy")
    fill_clip_norm = isinstance(privacy, dict) and "clip_norm" not in privacy
    if fill_clip_norm:
        spec["privacy"] = {**privacy, "clip_norm": 1.0}  # placeholder until measured
    if model_ref is not None:
        spec["initial_model"] = {"hash": model_ref[0], "uri": model_ref[1]}
    else:
        spec.setdefault("initial_model", {"hash": _PLACEHOLDER_HASH, "uri": "pending"})
    parsed = BountySpec.from_json(spec)
    check_blob_limit(parsed)
    return spec, parsed, fill_standardize, fill_clip_norm


def check_spec(raw: dict[str, Any], *, paillier_n: int, paillier_proof: Sequence[int],
               inbox_url: str = "") -> BountySpec:
    """Every field the practitioner wrote, checked before any password, training or chain
    work (what post fills in gets a placeholder here)."""
    return _prefilled(raw, paillier_n, paillier_proof, inbox_url, None)[1]


def check_blob_limit(spec: BountySpec) -> None:
    """Every update blob of the spec's model must fit the blob limit a practitioner reads
    (`update_blob.blob_limit`), or every submission would be rejected unread."""
    size = blob_size(model_from_spec(spec).n_params, EncodingParams.from_spec(spec))
    limit = blob_limit(spec.max_blob_bytes)
    if size > limit:
        named = f"The spec's max_blob_bytes ({limit})" if spec.max_blob_bytes else f"The default blob limit ({limit} bytes)"
        raise InvalidInput(f"{named} is below the size of any update blob of its model ({size} bytes): "
                           "every submission would be rejected. Raise max_blob_bytes, or use a smaller model or "
                           "encoding.")


def check_post_options(
    reward_per_round: int, rounds: int, round_seconds: int, min_round_seconds: int = MIN_ROUND_SECONDS,
) -> None:
    if reward_per_round <= 0:
        raise InvalidInput("The reward per round must be more than 0.")
    if not 1 <= rounds <= MAX_ROUNDS:
        raise InvalidInput(f"The number of rounds must be between 1 and {MAX_ROUNDS}.")
    if round_seconds < min_round_seconds:
        raise InvalidInput(f"A round must last at least {min_round_seconds} seconds.")


def complete_spec(
    raw: dict[str, Any],
    *,
    paillier_n: int,
    paillier_proof: Sequence[int],
    validation_files: list[str],
    inbox_url: str,
    model_ref: tuple[str, str] | None = None,
) -> tuple[BountySpec, np.ndarray, np.ndarray, bytes]:
    """(spec, validation x standardised, validation y, salt); fills the fields listed above.

    The initial model is filled with a placeholder when `model_ref` is None (the caller
    builds the model from the returned spec and completes it again).
    """
    spec, parsed, fill_standardize, fill_clip_norm = _prefilled(raw, paillier_n, paillier_proof, inbox_url,
                                                                model_ref)
    if not validation_files:
        raise InvalidInput("Give the held-out validation data with --validation FILE.")
    dataset = load_dataset(validation_files, parsed)
    x, y = dataset.X, dataset.y
    warning = validation_size_warning(len(y))
    if warning:  # it still posts (the demo's wine set has 44 rows); owners see the size
        log.warning("%s", warning)
    warning = validation_class_check(y, parsed.schema.classes)
    if warning:
        log.warning("%s", warning)
    spec["validation_rows"] = declared_validation_rows(raw, len(y))
    spec["validation_class_rows"] = declared_class_rows(raw, y, parsed.n_classes)
    # the bounty's reports follow the rules owners' wallets check (the bound along the
    # reference in every report, the exact pay rule, ...): committed in the spec's hash, so a
    # report that breaks them is a Mismatch, not "a report from an older practitioner"
    spec["valuation_rules"] = VALUATION_RULES
    if fill_standardize:
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std <= 1e-12] = 1.0  # constant columns (e.g. blank pixels)
        spec["standardize"] = {"mean": mean.tolist(), "std": std.tolist()}
        parsed = BountySpec.from_json(spec)
        x = (x - mean) / std
    if fill_clip_norm:
        spec["privacy"]["clip_norm"] = calibrated_clip_norm(parsed, x, y)
        parsed = BountySpec.from_json(spec)
    small = small_model_warning(model_from_spec(parsed).get_params().size)
    if small:  # it still posts: owners see the model's size in the spec
        log.warning("%s", small)
    salt = secrets.token_bytes(32)
    if raw.get("validation_commitment") is None:
        spec["validation_commitment"] = validation_commitment(x, y, salt)
    parsed = BountySpec.from_json(spec)
    return parsed, x, y, salt


def declared_validation_rows(raw: dict[str, Any], rows: int) -> int:
    """The spec's `validation_rows`: the validation files' row count (a spec that declares
    another is refused). Owners see it before they train; their wallets check it at the reveal."""
    declared = raw.get("validation_rows")
    if declared is not None and declared != rows:
        raise InvalidInput(f"The spec declares {declared} validation rows; the validation files hold {rows}.")
    return rows


def declared_class_rows(raw: dict[str, Any], y: np.ndarray, n_classes: int) -> list[int]:
    """The spec's `validation_class_rows`: the validation files' rows per class (a spec that
    declares others is refused). Owners see them before they train, since what their rows of a
    class teach is valued on that class's validation rows; their wallets check them at the reveal."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).tolist()
    declared = raw.get("validation_class_rows")
    if declared is not None and declared != counts:
        raise InvalidInput(f"The spec declares {declared} validation rows per class; the validation "
                           f"files hold {counts}.")
    return counts


def validation_size_warning(rows: int) -> str | None:
    """The warning `post` gives for a validation set of `rows` rows, or None."""
    if rows >= RECOMMENDED_VALIDATION_ROWS:
        return None
    return (
        f"The validation set has {rows} rows: on sets this small one validation example "
        "can decide a large part of a round's pay (measured: one relabelled example moved "
        "up to 9 % of a round on 30 rows, 6 % on 35, 14 % on 42, 12 % on 88, 6 % on 113), and honest "
        "updates are often too uncertain to be paid (measured: on a hard 4-class table with 42 "
        "rows, a third of honest owners' updates could not be told from zero and were paid "
        f"nothing). Use {RECOMMENDED_VALIDATION_ROWS} rows or more if you can."
    )


# Measured (validation sets of wine, iris and the Palmer penguins with one class cut down to
# k rows, 12 splits each; an owner holding 20 rows of that class only, beside three owners of 30
# mixed rows): its mean share of a round was 0.0-0.7 % with k = 0, 0.0-1.9 % with k = 1,
# 0.0-3 % with k = 3, 0.7-18 % with k = 10 and 9-20 % with every row of the class
# (trainer.spec.MIN_CLASS_VALIDATION_ROWS).


def validation_class_check(y: np.ndarray, classes: Sequence[int | str]) -> str | None:
    """Refuse a validation set that has no rows of one of the spec's classes (what owners'
    updates teach about it could only cost them); the warning `post` gives when a class has
    fewer than MIN_CLASS_VALIDATION_ROWS rows, or None."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    absent = [repr(classes[i]) for i in range(len(classes)) if counts[i] == 0]
    if absent:
        raise InvalidInput(
            f"The validation set has no rows of class {', '.join(absent)}: updates are valued on it, so "
            "what owners' rows of that class teach the model could only lower their pay. Add rows "
            "of every class, or remove the class from the spec's schema.classes.")
    few = [f"{classes[i]!r} ({counts[i]})" for i in range(len(classes)) if counts[i] < MIN_CLASS_VALIDATION_ROWS]
    if not few:
        return None
    return (
        f"The validation set has few rows of class {', '.join(few)}: updates are valued on it, so "
        "owners whose rows are mostly of that class are paid by what those rows show (measured: "
        "an owner holding one class's rows only was paid on average 0-3 % of a round with 1-3 "
        "validation rows of it, 9-20 % with all of them). Use "
        f"{MIN_CLASS_VALIDATION_ROWS} rows of each class or more if you can."
    )


def small_model_warning(n_params: int) -> str | None:
    """The warning `post` gives for a model of `n_params` parameters, or None: under
    COPY_DIRECTION_MIN_PARAMS the copy rule catches only exact multiples (docs/PROTOCOL.md,
    Valuation step 2), so a copier who adds noise to another owner's update is paid."""
    if n_params >= COPY_DIRECTION_MIN_PARAMS:
        return None
    return (
        f"The model has {n_params} parameters: on models this small honest owners with "
        "different rows can train in the same direction, so only exact copies of an update "
        "(the same or a scaled ciphertext) are caught, and a copy with a little noise added "
        "is paid as its own update. Use more features, or post --by-invitation so that "
        "each invited owner is one submitter."
    )


def calibrated_clip_norm(spec: BountySpec, x: np.ndarray, y: np.ndarray) -> float:
    """The L2 norm of one update trained from the initial model on (x, y), 3 significant
    digits: the typical size of an honest owner's update with a part of similar size
    (DP-FedAvg clips at about the median update norm)."""
    initial = model_from_spec(spec).get_params()
    norm = make_update(spec, initial, x, y).raw_norm
    if not np.isfinite(norm) or norm <= 0:
        raise InvalidInput(
            "Training on the validation set does not move the model; give privacy.clip_norm."
        )
    return float(f"{norm:.3g}")


def post_bounty(
    session: Session,
    spec_path: str | Path,
    *,
    validation_files: list[str],
    reward_per_round: int,
    rounds: int,
    round_seconds: int,
    token: str | None = None,
    raw_spec: dict[str, Any] | None = None,
    min_round_seconds: int = MIN_ROUND_SECONDS,
    by_invitation: bool = False,
    allow_revealed_validation: bool = False,
) -> PostedBounty:
    """`by_invitation`: the spec names this key as its invitation signer (practitioner.invitations).
    A validation set that shares rows with one another bounty of this home revealed is refused
    (`practitioner.validation_reuse`: anyone could send them back as an update and be paid for
    them) unless `allow_revealed_validation` (the rows are public anyway)."""
    check_post_options(reward_per_round, rounds, round_seconds, min_round_seconds)
    if session.signer is None:
        raise InvalidInput("Posting needs an account: give --account or --private-key-file.")
    token = token or session.token_address
    if not token:
        raise InvalidInput("No reward token: give --token ADDRESS (this network has no default).")
    public_key = load_public_key(session.home.key_path)
    proof = load_key_proof(session.home.key_path)
    raw = dict(raw_spec if raw_spec is not None else read_spec_file(spec_path))
    if by_invitation:
        raw["invitation_signer"] = session.signer.address
    if allow_revealed_validation:  # owners are told, in the spec they verify against its hash
        raw["public_validation"] = True
    spec, x, y, salt = complete_spec(
        raw, paillier_n=public_key.n, paillier_proof=proof, validation_files=validation_files,
        inbox_url=session.inbox_url,
    )
    shared = shared_rows(session.home, spec, x, y)
    here = here_of(session)
    refusal = revealed_rows_refusal(shared, len(y), here)
    if refusal and not allow_revealed_validation:
        raise InvalidInput(refusal)
    # a bounty posted with public rows holds no reveal back (validation_reuse.live_sharers)
    warning = None if allow_revealed_validation else unrevealed_rows_warning(shared, len(y), here)
    if warning:
        log.warning("%s", warning)
    # the escrow is checked before anything is stored or sent
    client = session.client
    total = reward_per_round * rounds
    balance = client.token_balance(token, session.signer.address)
    if balance < total:
        raise InvalidInput(
            f"The escrow needs {session.amount_text(total, token)} ({rounds} rounds of "
            f"{session.amount_text(reward_per_round, token)}); {session.signer.address} holds "
            f"{session.amount_text(balance, token)}."
        )
    model_hash, model_uri = session.publish(model_to_bytes(model_from_spec(spec)), spec.inbox_url)
    final = spec.to_json()
    final["initial_model"] = {"hash": model_hash, "uri": model_uri}
    spec = BountySpec.from_json(final)
    spec_hash, spec_uri = session.publish(spec.to_json_bytes(), spec.inbox_url)
    client.approve(token, total)
    bounty_id = client.create_bounty(
        token=token, reward_per_round=reward_per_round, rounds=rounds,
        round_duration=round_seconds,
        # The board's cap, not the encoding's: every update is decrypted on its own, and the
        # encoding's max_contributors only bounds a homomorphic sum (trainer.aggregate refuses
        # more). A lower cap would let that many junk submissions lock honest owners out.
        max_contributors=BOARD_MAX_CONTRIBUTORS,
        spec_hash=spec_hash, spec_uri=spec_uri, model_hash=model_hash, model_uri=model_uri,
    )
    directory = session.bounty_dir(bounty_id)
    directory.mkdir(parents=True, exist_ok=True)
    save_validation(directory, x, y)
    write_json(directory / "bounty.json", {
        "bountyId": bounty_id, "specHash": spec_hash, "specURI": spec_uri,
        "validationSalt": salt.hex(), "title": spec.title,
        **({PUBLIC_ROWS_KEY: True} if allow_revealed_validation else {}),
    })
    return PostedBounty(bounty_id, spec, spec_hash, spec_uri, model_hash, model_uri)
