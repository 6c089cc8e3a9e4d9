"""The data owner's contribution to a bounty, as one service for the CLI and the GUI.

    result = contribute(client, signer, bounty_id, files, options, progress=..., should_stop=...)

Steps (each reports progress and checks should_stop between pieces of work):
0. check what costs nothing first: the options, and that every data file exists and is
   readable (before any network work; `check_data_files` lets a caller do it even earlier),
1. read the bounty; its current round must accept submissions (not needed for a dry run),
2. fetch the spec and the round's model from their URIs; both must match their on-chain
   hashes (wallet.blob_store.fetch_blob refuses a mismatch); the noise asked for is checked
   against the spec's cap before the model is fetched,
3. load and validate the owner's files against the spec's schema (trainer.data),
4. train locally from the round's model, clip, add Gaussian noise if asked (ε reported),
5. encode and encrypt under the bounty's Paillier key into the update blob,
6. check the round the update was built for is still the bounty's current round (else
   StaleRound: nothing is sent; train again), keep the plaintext update the practitioner
   will decrypt in <home>/kept-updates (never sent; wallet.kept_updates),
7. commit its hash on chain, directly or gasless through the inbox's relay, and only then
   publish the blob: upload it to the spec's inbox (or write it to <home>/blobs for
   file:// bounties). Nobody sees an update before its commit. The blob waits in
   <home>/outbox (wallet.outbox) until published; an upload that fails after the commit
   stays there for `quarry upload` (the result says so, `upload_error`).

Round numbers: `round` (results, JSON) is the on-chain index, 0-based; text says
`round 0 (1 of 6)` (wallet.history.round_text).

Only the encrypted blob and its hash ever leave the computer. A cancelled or failed step
sends nothing further: training and encryption write nothing to disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from trainer.data import load_dataset
from trainer.errors import TrainingCancelled
from trainer.models import model_from_bytes
from trainer.spec import BountySpec
from trainer.update import encrypt_to_blob, make_update
from trainer.update_blob import blob_hash
from wallet.blob_store import fetch_blob
from wallet.bounties import BountyClient
from wallet.errors import InvalidInput, QuarryError
from wallet.history import round_text
from wallet.kept_updates import keep_update
from wallet.outbox import Outbox, PendingUpload, blob_uri, publish

STEPS = ("bounty", "spec", "model", "data", "train", "encrypt", "submit", "upload")
Progress = Callable[[str, float, str], None]  # (step, fraction 0..1 of that step, message)
StopCheck = Callable[[], bool]
SPEC_MAX_BYTES = 4 * 1024 * 1024
MODEL_MAX_BYTES = 256 * 1024 * 1024


def check_data_files(data_files: Sequence[str | Path], what: str = "Data file") -> None:
    """Every file exists, is a regular file and can be opened: a cheap check before any
    network work (the schema is checked once the spec is known)."""
    if not data_files:
        raise InvalidInput("Choose at least one data file to train on (--data FILE).")
    problems = []
    for raw in data_files:
        path = Path(raw)
        if not path.exists():
            problems.append(f"{raw}: no such file")
        elif not path.is_file():
            problems.append(f"{raw}: not a file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{raw}: cannot be read (permission denied)")
    if problems:
        raise InvalidInput(f"{what} problem: " + "; ".join(problems) + ".")


def check_options(options: ContributeOptions) -> None:
    if options.epochs is not None and not 1 <= options.epochs <= 10_000:
        raise InvalidInput("Epochs must be between 1 and 10000.")
    if not math.isfinite(options.noise_multiplier) or options.noise_multiplier < 0:
        raise InvalidInput("The noise multiplier (--dp-noise) must be a number >= 0.")


def check_noise(spec: BountySpec, noise_multiplier: float) -> None:
    """The noise multiplier within the bounty's cap (checked before the model is fetched)."""
    cap = spec.privacy.max_noise_multiplier
    if cap is not None and noise_multiplier > cap:
        raise InvalidInput(
            f"This bounty accepts a noise multiplier (--dp-noise) of at most {cap:g}; "
            f"{noise_multiplier:g} asked."
        )


@dataclass(frozen=True)
class ContributeOptions:
    epochs: int | None = None  # None: the spec's epochs
    noise_multiplier: float = 0.0
    gasless: bool = False
    dry_run: bool = False


@dataclass
class ContributionResult:
    bounty_id: int
    round: int  # the on-chain index, 0-based
    title: str
    n_rows: int
    n_params: int
    blob_hash: str
    blob_bytes: int
    epsilon: float
    dp_delta: float
    clipped: bool
    final_loss: float | None
    final_accuracy: float | None
    key_fingerprint: str
    uri: str | None = None
    tx_hash: str | None = None
    dry_run: bool = False
    sent: list[str] = field(default_factory=list)  # what left the computer
    rounds: int | None = None  # the bounty's number of rounds (for `round_text`)
    upload_error: str | None = None  # committed on chain, but the blob could not be published
    kept_at: str | None = None  # where the unpublished blob waits (wallet.outbox)

    def summary(self) -> str:
        eps = "no noise (ε = ∞)" if math.isinf(self.epsilon) else f"ε = {self.epsilon:.2f}, δ = {self.dp_delta:g}"
        lines = [
            f"Bounty {self.bounty_id} ({self.title}), {round_text(self.round, self.rounds)}",
            f"Trained on {self.n_rows} rows of your data; {self.n_params} model parameters.",
            f"Privacy: {eps}" + ("; the update was clipped to the bounty's bound." if self.clipped else "."),
            f"Encrypted update: {self.blob_bytes} bytes, hash {self.blob_hash}, "
            f"for key {self.key_fingerprint}.",
        ]
        if self.dry_run:
            lines.append("Dry run: nothing was uploaded or submitted. Would send only the "
                         "encrypted update and its hash.")
        else:
            lines.append(f"Submitted in transaction {self.tx_hash}")
            if self.upload_error:
                lines.append(f"Not uploaded yet: {self.upload_error}")
            else:
                lines.append(f"Uploaded to {self.uri}")
        return "\n".join(lines)

    def upload_warning(self) -> str | None:
        """One line for a submission committed on chain whose blob is not published yet."""
        if not self.upload_error:
            return None
        if self.kept_at is None:
            return f"submitted on chain, but the upload failed ({self.upload_error}); the update was not kept."
        return (f"submitted on chain, but the upload failed ({self.upload_error}); the encrypted "
                f"update is kept in {self.kept_at}: retry with 'quarry upload'.")


def _noop_progress(step: str, fraction: float, message: str) -> None:
    pass


def _check_stop(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise TrainingCancelled("Cancelled; nothing was sent.")


def load_bounty_spec(client: BountyClient, bounty_id: int) -> tuple[object, BountySpec]:
    """(bounty, spec) with the spec's bytes checked against the on-chain hash."""
    bounty = client.bounty(bounty_id)
    data = fetch_blob(bounty.spec_uri, bounty.spec_hash, max_bytes=SPEC_MAX_BYTES)
    return bounty, BountySpec.from_json_bytes(data)


def contribute(
    client: BountyClient,
    signer: LocalAccount | None,
    bounty_id: int,
    data_files: Sequence[str | Path],
    options: ContributeOptions = ContributeOptions(),  # noqa: B008 - frozen dataclass
    *,
    blob_dir: str | Path | None = None,
    outbox_dir: str | Path | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> ContributionResult:
    report = progress or _noop_progress
    check_data_files(data_files)
    check_options(options)
    if not options.dry_run and signer is None:
        raise InvalidInput("Submitting needs an unlocked account.")

    report("bounty", 0.0, f"Reading bounty {bounty_id}")
    bounty = client.bounty(bounty_id)
    if not options.dry_run and bounty.phase != "accepting":
        raise QuarryError(
            f"Bounty {bounty_id} does not accept submissions now "
            f"({round_text(bounty.current_round, bounty.rounds)} is {bounty.phase})."
        )
    round_index = bounty.current_round
    if not options.dry_run and client.submission(bounty_id, round_index, signer.address):  # type: ignore[union-attr]
        raise QuarryError(
            f"You already submitted to {round_text(round_index, bounty.rounds)} of bounty {bounty_id}."
        )
    _check_stop(should_stop)

    report("spec", 0.0, "Fetching the bounty's spec")
    spec = BountySpec.from_json_bytes(fetch_blob(bounty.spec_uri, bounty.spec_hash, SPEC_MAX_BYTES))
    check_noise(spec, options.noise_multiplier)
    if options.gasless and not spec.inbox_url:
        raise InvalidInput("This bounty has no inbox to relay a gasless submission; submit directly.")
    _check_stop(should_stop)

    report("model", 0.0, "Fetching the round's model")
    round_info = client.rounds(bounty)[round_index]
    model_data = fetch_blob(round_info["model_uri"], round_info["model_hash"], MODEL_MAX_BYTES)
    global_params = model_from_bytes(model_data, spec).get_params()
    _check_stop(should_stop)

    report("data", 0.0, "Checking your data against the bounty's schema")
    dataset = load_dataset([str(f) for f in data_files], spec)
    _check_stop(should_stop)

    epochs = options.epochs or spec.training.epochs
    history: list[tuple[float, float]] = []

    def on_epoch(epoch: int, loss: float, accuracy: float) -> None:
        history.append((loss, accuracy))
        report("train", epoch / epochs, f"Epoch {epoch}/{epochs}: loss {loss:.4f}, accuracy {accuracy:.3f}")

    report("train", 0.0, f"Training on {dataset.n_rows} rows")
    update = make_update(
        spec, global_params, dataset.X, dataset.y, epochs=options.epochs,
        noise_multiplier=options.noise_multiplier, progress=on_epoch, should_stop=should_stop,
    )
    _check_stop(should_stop)

    report("encrypt", 0.0, "Encrypting your update")
    blob = encrypt_to_blob(
        spec, bounty_id, round_index, update,
        progress=lambda done, total: report("encrypt", done / max(total, 1), f"{done}/{total} ciphertexts"),
        should_stop=should_stop,
    )
    digest = blob_hash(blob)
    result = ContributionResult(
        bounty_id=bounty_id, round=round_index, title=spec.title, n_rows=dataset.n_rows,
        n_params=int(update.delta.size), blob_hash=digest, blob_bytes=len(blob),
        epsilon=update.epsilon, dp_delta=update.dp_delta, clipped=update.clipped,
        final_loss=history[-1][0] if history else None,
        final_accuracy=history[-1][1] if history else None,
        key_fingerprint=spec.key_fingerprint_short, dry_run=options.dry_run,
        rounds=bounty.rounds,
    )
    if options.dry_run:
        report("submit", 1.0, "Dry run: nothing sent")
        return result
    _check_stop(should_stop)
    # training took a while: the round may have moved on (StaleRound before anything is kept)
    client.check_can_submit(bounty_id, signer.address, round_index)  # type: ignore[union-attr]
    # kept at home before anything is sent: the wallet checks the round's report with it
    keep_update(client, signer.address, bounty_id, round_index, digest, update.delta,  # type: ignore[union-attr]
                spec.encoding_params())

    submitted = submit_update(
        client, signer, bounty_id, round_index, blob, spec.inbox_url,  # type: ignore[arg-type]
        gasless=options.gasless, blob_dir=blob_dir, outbox_dir=outbox_dir, progress=report)
    result.uri, result.tx_hash = submitted.uri, submitted.tx_hash
    result.upload_error, result.kept_at = submitted.upload_error, submitted.kept_at
    result.sent.extend(submitted.sent)
    return result


def _not_committed(client: BountyClient, bounty_id: int, round_index: int, account: str, digest: str) -> bool:
    try:
        mine = client.submission(bounty_id, round_index, account)
    except Exception:  # the node is unreachable: keep the blob
        return False
    return mine is None or mine["blob_hash"] != digest


@dataclass
class SubmitOutcome:
    uri: str
    tx_hash: str
    sent: list[str]
    upload_error: str | None = None  # the commit is on chain but the blob is not published
    kept_at: str | None = None  # where the unpublished blob waits for `quarry upload`


def submit_update(
    client: BountyClient,
    signer: LocalAccount,
    bounty_id: int,
    round_index: int,
    blob: bytes,
    inbox_url: str,
    *,
    gasless: bool = False,
    blob_dir: str | Path | None = None,
    outbox_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> SubmitOutcome:
    """Commit the blob's hash on chain for `round_index` (the round it was built for), then
    publish the blob (upload to `inbox_url`, or write it into `blob_dir` for a file://
    bounty). The CLI's `contribute` and the GUI's review step both end here.

    StaleRound, before anything is signed, when `round_index` is no longer current. A failed
    commit publishes nothing. A failed upload after the commit is not an exception: the
    outcome carries `upload_error` and the blob stays in `outbox_dir` for a retry."""
    report = progress or _noop_progress
    if gasless and not inbox_url:
        raise InvalidInput("This bounty has no inbox to relay a gasless submission; submit directly.")
    digest = blob_hash(blob)
    uri = blob_uri(digest, inbox_url, blob_dir)
    pending = PendingUpload(digest, bounty_id, round_index, signer.address, inbox_url,
                            "" if inbox_url else str(blob_dir), uri)
    outbox = Outbox(outbox_dir) if outbox_dir is not None else None
    client.check_can_submit(bounty_id, signer.address, round_index)
    kept_at = str(outbox.keep(blob, pending)) if outbox is not None else None
    sent: list[str] = []

    report("submit", 0.0, "Committing the update's hash on chain")
    try:
        if gasless:
            tx_hash = client.submit_gasless(signer, bounty_id, digest, uri, inbox_url, round_=round_index)
            sent.append(f"signed submission to the relay at {inbox_url}/relay")
        else:
            receipt = client.submit(signer, bounty_id, digest, uri, round_=round_index)
            tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    except BaseException:
        # a commit that failed is dropped; one whose fate is unknown (a receipt that never
        # came) is kept for `quarry upload`, which drops it if the chain never saw it
        if outbox is not None and _not_committed(client, bounty_id, round_index, signer.address, digest):
            outbox.remove(digest)
        raise
    sent.append(f"transaction {tx_hash} with the blob hash")
    report("submit", 1.0, "Committed")

    report("upload", 0.0, "Uploading the encrypted update" if inbox_url else "Writing the encrypted update")
    try:
        uri = publish(pending, blob)
    except (QuarryError, OSError) as exc:
        return SubmitOutcome(uri, tx_hash, sent, upload_error=str(exc), kept_at=kept_at)
    if outbox is not None:
        outbox.remove(digest)
    sent.append(f"encrypted update blob ({len(blob)} bytes) to {uri}")
    report("upload", 1.0, "Uploaded")
    return SubmitOutcome(uri, tx_hash, sent)
