"""The data owner's contribution to a bounty: one staged service for the CLI, the GUI wizard
and the autopilot (standing contributions). Each face only calls these steps.

    c = Contribution(client, bounty_id, account=addr, file_roots=[home])
    c.prepare(files)            # bounty state, already-submitted check, spec + model, schema
    c.train(epochs)             # local training from the round's model, clipped; progress, cancel
    c.privatise(noise)          # Gaussian noise within the spec's cap; ε
    c.encrypt()                 # Paillier, under the bounty's key, into the update blob
    result = c.submit(signer)   # stale-round check, keep the plaintext, commit, then upload

`contribute(...)` runs all of them in one go (the CLI, tests). Steps, in detail:
1. prepare: what costs nothing first (the options; every data file exists and is readable),
   then the bounty: its current round must accept submissions and the account must not have
   submitted to it yet (not needed for a dry run); the spec and the round's model are
   fetched from their URIs, only inside `file_roots` for file:// URIs (a URI is a stranger's
   input; the argument is required), and both must match their on-chain hashes; a noise
   multiplier given up front is checked against the spec's cap before the model is fetched;
   the files are loaded and checked against the spec's schema (trainer.data).
2. train: from the round's model; the update is clipped to the spec's bound.
3. privatise: Gaussian noise (noise multiplier within the spec's cap), ε reported.
4. encrypt: encode and encrypt under the bounty's Paillier key into the update blob.
5. submit: the round the update was built for must still be current (else StaleRound:
   nothing is sent; prepare and train again); the plaintext update the practitioner will
   decrypt is kept in <home>/kept-updates (never sent; wallet.kept_updates); then
   `submit_update` commits its hash on chain (directly or gasless through the inbox's relay)
   and only then publishes the blob (upload to the spec's inbox, or <home>/blobs for file://
   bounties). Nobody sees an update before its commit. The blob waits in <home>/outbox
   (wallet.outbox) until published; an upload that fails after the commit stays there for
   `quarry upload` (the result says so, `upload_error`).

Every step reports `progress(step, fraction, message)` and checks `should_stop()` between
pieces of work (TrainingCancelled). Errors meant for people are QuarryError / TrainerError;
anything else is a bug and propagates as itself.

Round numbers: `round` (results, JSON) is the on-chain index, 0-based; text says
`round 0 (1 of 6)` (wallet.history.round_text).

Only the encrypted blob and its hash ever leave the computer. A cancelled or failed step
sends nothing further: training and encryption write nothing to disk.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from trainer.data import Dataset, LoadOptions, load_dataset, rows_text
from trainer.dp_sgd import DpSgdConfig, dp_sgd_for
from trainer.errors import TrainerError, TrainingCancelled
from trainer.models import model_from_bytes, model_from_spec
from trainer.obfuscator_pool import ObfuscatorPool
from trainer.privacy import (
    NO_NOISE,
    ROW_LEVEL,
    USER_LEVEL,
    add_gaussian_noise,
    describe_epsilon,
    epsilon_spent,
)
from trainer.spec import BountySpec
from trainer.update import (
    LocalUpdate,
    check_max_epsilon,
    encrypt_to_blob,
    make_update,
    plan_privacy,
    precompute_obfuscators,
)
from trainer.update_blob import blob_hash, blob_limit, blob_size
from wallet.blob_store import fetch_blob
from wallet.bounties import Bounty, BountyClient
from wallet.column_maps import DataChoices, options_for, remember_used
from wallet.errors import InvalidInput, QuarryError
from wallet.history import round_text
from wallet.invitations import require_invitation
from wallet.kept_updates import keep_update, record_upload, round_trip, sent_before
from wallet.outbox import Outbox, PendingUpload, blob_uri, publish
from wallet.privacy_budget import DatasetFile, PrivacyBudget
from wallet.store import Store

# The privacy modes people choose (issue 10): "row" = "Protect each row" (DP-SGD during
# training, the default of the CLI and the GUI), "dataset" = "Protect my whole dataset"
# (user-level noise on the update), "none".
PRIVACY_MODES = ("row", "dataset", "none")

STEPS = ("bounty", "spec", "model", "data", "train", "privacy", "encrypt", "submit", "upload")
Progress = Callable[[str, float, str], None]  # (step, fraction 0..1 of that step, message)
StopCheck = Callable[[], bool]
EpochCallback = Callable[[int, float, float], None]  # (epoch, loss, accuracy)
FileRoots = Sequence[str | os.PathLike[str]]
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
    check_noise_value(options.noise_multiplier)
    if options.mode not in PRIVACY_MODES:
        raise InvalidInput(f"The privacy mode (--privacy) is one of {', '.join(PRIVACY_MODES)}.")
    if options.mode == "none" and options.noise_multiplier > 0:
        raise InvalidInput("--dp-noise needs --privacy row or dataset.")
    if options.dp_clip is not None and not (math.isfinite(options.dp_clip) and options.dp_clip > 0):
        raise InvalidInput("The per-row clip (--dp-clip) must be a number > 0.")


def check_noise_value(noise_multiplier: float) -> None:
    if not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise InvalidInput("The noise multiplier (--dp-noise) must be a number >= 0.")


def check_noise(spec: BountySpec, noise_multiplier: float) -> None:
    """The noise multiplier within the bounty's cap."""
    check_noise_value(noise_multiplier)
    cap = spec.privacy.max_noise_multiplier
    if cap is not None and noise_multiplier > cap:
        raise InvalidInput(
            f"This bounty accepts a noise multiplier (--dp-noise) of at most {cap:g}; "
            f"{noise_multiplier:g} asked."
        )


def privacy_preview(noise_multiplier: float, delta: float) -> tuple[float, str]:
    """(ε, the same in words) of one round with this noise multiplier: what a face shows
    while the person chooses (the GUI's slider), before anything is trained or sent."""
    eps = epsilon_spent(noise_multiplier, 1.0, 1, delta)
    return eps, describe_epsilon(eps, delta)


@dataclass(frozen=True)
class ContributeOptions:
    epochs: int | None = None  # None: the spec's epochs
    noise_multiplier: float = 0.0
    gasless: bool = False
    dry_run: bool = False
    # None: "dataset" when noise_multiplier > 0, else "none" (what callers of the service
    # got before the modes existed); the CLI and the GUI default to "row"
    privacy: str | None = None
    dp_clip: float | None = None  # DP-SGD's per-example clip (None: trainer.dp_sgd.DEFAULT_CLIP)
    # how the files are read: column and label-value choices, --strict (wallet.column_maps)
    data: DataChoices = field(default_factory=DataChoices)
    # refuse an update this account already sent to another round (Contribution.submit); the
    # CLI, the GUI and standing contributions turn it on, as callers of the service did not have it
    refuse_repeat: bool = False
    # refuse an update without privacy noise to a bounty that opens its updates to the round's
    # contributors at the reveal (trainer.openings); the front ends turn it on likewise
    refuse_open_without_noise: bool = False

    @property
    def mode(self) -> str:
        if self.privacy is not None:
            return self.privacy
        return "dataset" if self.noise_multiplier > 0 else "none"


class RepeatedUpdate(InvalidInput):
    """The update about to be sent copies one this wallet already committed to another round:
    whoever decrypted that one (the practitioner) could send it first from another address and
    be credited instead (docs/PROTOCOL.md, Valuation step 2). Nothing was sent; each front end
    says how to send an update of one's own (privacy noise)."""

    def __init__(self, account: str, bounty_id: int, round_index: int, sender: str, rounds: int | None) -> None:
        self.bounty_id, self.round_index, self.sender = bounty_id, round_index, sender
        who = "you" if sender.lower() == account.lower() else f"your account {sender}"
        super().__init__(
            f"This update is the one {who} already sent to bounty {bounty_id} {round_text(round_index, rounds)} "
            "(no privacy noise, and the same model). Whoever decrypted that one, the practitioner, could "
            "send it first from another address and be credited instead of you. Nothing was sent: train "
            "with privacy noise to send an update of your own.")


def sends_without_noise(mode: str, noise_multiplier: float | None) -> bool:
    """Whether a privacy setting sends the update without any noise: none, or the whole-dataset
    mode with no (or zero) noise multiplier."""
    return mode == "none" or (mode == "dataset" and not (noise_multiplier or 0.0) > 0.0)


class OpenUpdateWithoutNoise(InvalidInput):
    """The bounty opens every counted update to its round's contributors once its validation set
    is revealed (`open_updates`, trainer.openings), and this update has no privacy noise: the
    other contributors would see it as it is. Nothing was sent; each front end says how to
    protect it (privacy noise) or to send it anyway."""

    def __init__(self, bounty_id: int) -> None:
        self.bounty_id = bounty_id
        super().__init__(
            f"Bounty {bounty_id} opens every counted update to the round's other contributors once its "
            "validation set is revealed, so that each of them can check every value, and this update has no "
            "privacy noise: they would see it as it is. Nothing was sent: train with privacy noise to protect "
            "it.")


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
    data_summary: str = ""  # what of the files was used: rows read, dropped and why, per class

    def summary(self) -> str:
        eps = "no noise (ε = ∞)" if math.isinf(self.epsilon) else f"ε = {self.epsilon:.2f}, δ = {self.dp_delta:g}"
        lines = [
            f"Bounty {self.bounty_id} ({self.title}), {round_text(self.round, self.rounds)}",
            *([self.data_summary] if self.data_summary else []),
            f"Trained on {rows_text(self.n_rows)} of your data; {self.n_params} model parameters.",
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
        from wallet.outbox import upload_window_text

        return (f"submitted on chain, but the upload failed ({self.upload_error}); the encrypted "
                f"update is kept in {self.kept_at}: retry with 'quarry upload' ({upload_window_text()}).")


def _noop_progress(step: str, fraction: float, message: str) -> None:
    pass


def _check_stop(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise TrainingCancelled("Cancelled; nothing was sent.")


def load_bounty_spec(client: BountyClient, bounty_id: int, *, file_roots: FileRoots) -> tuple[Bounty, BountySpec]:
    """(bounty, spec) with the spec's bytes checked against the on-chain hash, a file:// spec
    read only inside `file_roots`."""
    bounty = client.bounty(bounty_id)
    data = fetch_blob(bounty.spec_uri, bounty.spec_hash, SPEC_MAX_BYTES, file_roots=file_roots)
    return bounty, BountySpec.from_json_bytes(data)


class Contribution:
    """One contribution to one round of one bounty, step by step (see the module docstring).

    A step may be repeated (train again with other epochs, privatise with another noise);
    `prepare` starts over for the bounty's current round (after a StaleRound). The object is
    used by one thread at a time: a GUI runs each step in a worker and waits for it."""

    def __init__(self, client: BountyClient, bounty_id: int, *, file_roots: FileRoots,
                 account: str | None = None, progress: Progress | None = None,
                 should_stop: StopCheck | None = None, budget: PrivacyBudget | None = None,
                 store: Store | None = None) -> None:
        if file_roots is None:  # a URI from the chain must never open any local file
            raise TypeError("file_roots is required: the directories file:// URIs may be read from")
        self.client = client
        self.bounty_id = bounty_id
        self.account = account  # None: a dry run, nothing is checked against an account
        self.file_roots = [str(r) for r in file_roots]
        self.progress = progress or _noop_progress
        self.should_stop = should_stop
        self.bounty: Bounty | None = None
        self.spec: BountySpec | None = None
        self.global_params: np.ndarray | None = None
        self.files: list[str] = []
        self.dataset: Dataset | None = None
        self.trained: LocalUpdate | None = None  # clipped, no noise yet
        self.update: LocalUpdate | None = None  # with the chosen noise: what is encrypted
        self.blob: bytes | None = None
        # obfuscators for the bounty's key, drawn in the background from open_round on
        # (while the owner trains), so encrypt() is multiplications only; each used once
        self.obfuscators: ObfuscatorPool | None = None
        # the owner's privacy ledger (wallet.privacy_budget): checked before training and
        # before encrypting, recorded when the update is committed; None = not kept (tests)
        self.budget = budget
        # the wallet's store: each file's column mapping is reused and remembered per bounty
        # (wallet.column_maps); None = nothing remembered
        self.store = store
        self.choices = DataChoices()

    # -- helpers ------------------------------------------------------------------------

    def _stop(self, should_stop: StopCheck | None) -> StopCheck | None:
        return should_stop if should_stop is not None else self.should_stop

    def _report(self, progress: Progress | None) -> Progress:
        return progress if progress is not None else self.progress

    @property
    def round_index(self) -> int:
        """The round this contribution is built for (the bounty's current round at prepare)."""
        if self.bounty is None:
            raise QuarryError("Prepare the contribution first.")
        return self.bounty.current_round

    @property
    def blob_hash(self) -> str | None:
        return blob_hash(self.blob) if self.blob is not None else None

    # -- 1. prepare ----------------------------------------------------------------------

    def open_round(self, *, noise_multiplier: float | None = None, gasless: bool = False,
                   require_open: bool = True, progress: Progress | None = None,
                   should_stop: StopCheck | None = None) -> BountySpec:
        """The bounty (its round must accept submissions and the account must not have
        submitted to it yet, unless `require_open` is False: a dry run), its spec and the
        round's model, both hash-checked and read only inside the allowed roots."""
        report, stop = self._report(progress), self._stop(should_stop)
        self.trained = self.update = self.blob = None
        report("bounty", 0.0, f"Reading bounty {self.bounty_id}")
        bounty = self.client.bounty(self.bounty_id)
        if require_open and bounty.phase != "accepting":
            if bounty.status != "open":  # over: no round of it will open again
                how = "was cancelled" if bounty.status == "cancelled" else "has completed its rounds"
                raise QuarryError(f"Bounty {self.bounty_id} {how}; it takes no more submissions.")
            raise QuarryError(
                f"Bounty {self.bounty_id} does not accept submissions now "
                f"({round_text(bounty.current_round, bounty.rounds)} is {bounty.phase}).")
        if require_open and self.account is not None and self.client.submission(
                self.bounty_id, bounty.current_round, self.account):
            raise QuarryError(f"You already submitted to {round_text(bounty.current_round, bounty.rounds)} "
                              f"of bounty {self.bounty_id}.")
        _check_stop(stop)

        report("spec", 0.0, "Fetching the bounty's spec")
        spec = BountySpec.from_json_bytes(
            fetch_blob(bounty.spec_uri, bounty.spec_hash, SPEC_MAX_BYTES, file_roots=self.file_roots))
        if require_open and self.account is not None:  # before training for nothing
            require_invitation(self.client, spec, self.bounty_id, self.account, self.store)
        if noise_multiplier is not None:
            check_noise(spec, noise_multiplier)
        if gasless and not spec.inbox_url:
            raise InvalidInput("This bounty has no inbox to relay a gasless submission; submit directly.")
        _check_stop(stop)

        size = blob_size(model_from_spec(spec).n_params, spec.encoding_params())
        if size > blob_limit(spec.max_blob_bytes):  # before downloading or training for nothing
            raise InvalidInput(
                f"Bounty {self.bounty_id} accepts update blobs of at most {blob_limit(spec.max_blob_bytes)} bytes, "
                f"and an update of its model takes {size} bytes: the practitioner would reject yours unread. "
                "Nothing was trained or sent; the practitioner has to post the bounty again with a larger limit.")
        report("model", 0.0, "Fetching the round's model")
        round_info = self.client.rounds(bounty)[bounty.current_round]
        model_data = fetch_blob(round_info["model_uri"], round_info["model_hash"], MODEL_MAX_BYTES,
                                file_roots=self.file_roots)
        self.global_params = model_from_bytes(model_data, spec).get_params()
        self.bounty, self.spec = bounty, spec
        if self.obfuscators is not None:
            self.obfuscators.close()  # another round or bounty: those are not needed
        self.obfuscators = precompute_obfuscators(spec, int(np.asarray(self.global_params).size))
        _check_stop(stop)
        return spec

    def check_file(self, path: str | Path) -> str | None:
        """None when this one file matches the spec's schema, else the problem (one line):
        the autopilot picks up only the files of a folder that match."""
        if self.spec is None:
            raise QuarryError("Prepare the contribution first.")
        try:
            load_dataset([str(path)], self.spec, self.load_options([path], self.choices))
        except (QuarryError, TrainerError) as exc:
            return str(exc)
        return None

    def load_options(self, data_files: Sequence[str | Path],
                     choices: DataChoices | None = None) -> LoadOptions:
        """How the files are read: the owner's choices over each file's remembered mapping."""
        if self.spec is None:
            raise QuarryError("Prepare the contribution first.")
        return options_for(data_files, self.store, self.spec.spec_hash, choices or self.choices)

    def load_data(self, data_files: Sequence[str | Path], *, choices: DataChoices | None = None,
                  progress: Progress | None = None, should_stop: StopCheck | None = None) -> Dataset:
        """The files, mapped to and checked against the spec's schema (every problem in one
        message; incomplete rows dropped and counted unless `choices.strict`); the mapping
        used is remembered for this bounty and file."""
        if self.spec is None:
            raise QuarryError("Prepare the contribution first.")
        check_data_files(data_files)
        report = self._report(progress)
        report("data", 0.0, "Checking your data against the bounty's schema")
        if choices is not None:
            self.choices = choices
        options = self.load_options(data_files)
        dataset = load_dataset([str(f) for f in data_files], self.spec, options,
                               progress=lambda f, m: report("data", f, m),
                               should_stop=self._stop(should_stop))
        if self.store is not None:
            remember_used(self.store, self.spec.spec_hash, self.bounty_id, dataset, options)
        self.files, self.dataset = [str(f) for f in data_files], dataset
        self.trained = self.update = self.blob = None
        _check_stop(self._stop(should_stop))
        return dataset

    def prepare(self, data_files: Sequence[str | Path], *, noise_multiplier: float | None = None,
                gasless: bool = False, require_open: bool = True, progress: Progress | None = None,
                should_stop: StopCheck | None = None,
                choices: DataChoices | None = None) -> Contribution:
        """open_round, then load_data: all that comes before training."""
        check_data_files(data_files)  # costs nothing: before any network work
        if noise_multiplier is not None:
            check_noise_value(noise_multiplier)
        self.open_round(noise_multiplier=noise_multiplier, gasless=gasless, require_open=require_open,
                        progress=progress, should_stop=should_stop)
        self.load_data(data_files, choices=choices, progress=progress, should_stop=should_stop)
        return self

    # -- 2. train ------------------------------------------------------------------------

    def row_privacy(self, noise_multiplier: float | None = None, clip: float | None = None,
                    epochs: int | None = None) -> DpSgdConfig:
        """The DP-SGD setting for the prepared data (the wallet's defaults unless given)."""
        if self.spec is None or self.dataset is None:
            raise QuarryError("Prepare the contribution (bounty and data) first.")
        kwargs: dict = {"epochs": epochs}
        if noise_multiplier is not None:
            kwargs["noise_multiplier"] = noise_multiplier
        if clip is not None:
            kwargs["clip"] = clip
        return dp_sgd_for(self.spec.training, self.dataset.n_rows, **kwargs)

    def check_privacy(self, mechanism: str, params: dict, epsilon: float) -> None:
        """The bounty's maximum ε and the owner's budget ceiling, before any work is done:
        InvalidInput / PrivacyBudgetExceeded with what to change."""
        if self.spec is None:
            raise QuarryError("Prepare the contribution first.")
        try:
            check_max_epsilon(self.spec, epsilon)
        except TrainerError as exc:
            raise InvalidInput(str(exc)) from exc
        if self.budget is not None and self.files:
            self.budget.check([DatasetFile.of(f) for f in self.files], mechanism, params)

    def train(self, epochs: int | None = None, *, on_epoch: EpochCallback | None = None,
              progress: Progress | None = None, should_stop: StopCheck | None = None,
              dp_sgd: DpSgdConfig | None = None) -> LocalUpdate:
        """Train from the round's model on the prepared data; the update is clipped to the
        spec's bound. Without `dp_sgd` it has no noise yet (privatise adds user-level noise);
        with it, training is DP-SGD ("Protect each row", its own epochs) and the update is
        already private (checked against the spec's maximum ε and the budget first)."""
        if self.spec is None or self.dataset is None or self.global_params is None:
            raise QuarryError("Prepare the contribution (bounty and data) before training.")
        if epochs is not None and not 1 <= epochs <= 10_000:
            raise InvalidInput("Epochs must be between 1 and 10000.")
        report, stop = self._report(progress), self._stop(should_stop)
        total = epochs or self.spec.training.epochs
        if dp_sgd is not None:
            total = dp_sgd.epochs
            try:
                plan = plan_privacy(self.spec, dp_sgd=dp_sgd)
            except TrainerError as exc:  # the bounty's maximum ε
                raise InvalidInput(str(exc)) from exc
            self.check_privacy(plan.mechanism, plan.params, plan.epsilon)

        def each_epoch(epoch: int, loss: float, accuracy: float) -> None:
            report("train", epoch / total, f"Epoch {epoch}/{total}: loss {loss:.4f}, accuracy {accuracy:.3f}")
            if on_epoch is not None:
                on_epoch(epoch, loss, accuracy)

        report("train", 0.0, f"Training on {rows_text(self.dataset.n_rows)}")
        self.trained = make_update(self.spec, self.global_params, self.dataset.X, self.dataset.y,
                                   epochs=epochs, noise_multiplier=0.0, progress=each_epoch,
                                   should_stop=stop, dp_sgd=dp_sgd)
        self.update = self.blob = None
        _check_stop(stop)
        return self.trained

    # -- 3. privatise --------------------------------------------------------------------

    def privatise(self, noise_multiplier: float = 0.0, *, rng: np.random.Generator | None = None,
                  progress: Progress | None = None) -> LocalUpdate:
        """The trained update with Gaussian noise of `noise_multiplier` × the clip bound,
        within the spec's cap (InvalidInput above it); ε of this round. rng: tests only."""
        if self.spec is None or self.trained is None:
            raise QuarryError("Train before adding privacy noise.")
        if self.trained.mechanism == ROW_LEVEL:  # DP-SGD: private already, one mode at a time
            if noise_multiplier > 0:
                raise InvalidInput("This update was trained with DP-SGD (each row protected); "
                                   "train again without it to add whole-dataset noise instead.")
            self.check_privacy(ROW_LEVEL, self.trained.mechanism_params, self.trained.epsilon)
            self.update, self.blob = self.trained, None
            return self.update
        check_noise(self.spec, noise_multiplier)
        mechanism = USER_LEVEL if noise_multiplier > 0 else NO_NOISE
        params = {"noise_multiplier": float(noise_multiplier)} if noise_multiplier > 0 else {}
        self.check_privacy(mechanism, params, epsilon_spent(noise_multiplier, 1.0, 1, self.spec.privacy.delta))
        self._report(progress)("privacy", 0.0, f"Adding noise (multiplier {noise_multiplier:g})"
                               if noise_multiplier > 0 else "No privacy noise added")
        delta = add_gaussian_noise(self.trained.delta, noise_multiplier, self.spec.privacy.clip_norm, rng)
        self.update = dataclasses.replace(
            self.trained, delta=delta, noise_multiplier=float(noise_multiplier),
            epsilon=epsilon_spent(noise_multiplier, 1.0, 1, self.spec.privacy.delta),
            dp_delta=self.spec.privacy.delta, mechanism=mechanism, mechanism_params=params)
        self.blob = None
        return self.update

    # -- 4. encrypt ----------------------------------------------------------------------

    def encrypt(self, *, progress: Progress | None = None, should_stop: StopCheck | None = None) -> bytes:
        """The update encrypted under the bounty's key into the update blob (for the round
        it was built for: its header says which)."""
        if self.spec is None or self.bounty is None:
            raise QuarryError("Prepare the contribution first.")
        if self.update is None:
            if self.trained is None:
                raise QuarryError("Train before encrypting.")
            self.privatise(0.0)
        report, stop = self._report(progress), self._stop(should_stop)
        report("encrypt", 0.0, "Encrypting your update")
        assert self.update is not None
        self.blob = encrypt_to_blob(
            self.spec, self.bounty_id, self.bounty.current_round, self.update,
            progress=lambda done, total: report("encrypt", done / max(total, 1), f"{done}/{total} ciphertexts"),
            should_stop=stop, obfuscators=self.obfuscators)
        _check_stop(stop)
        return self.blob

    def result(self, *, dry_run: bool = False) -> ContributionResult:
        """What was built (and, after submit, sent)."""
        if self.blob is None or self.update is None or self.spec is None or self.bounty is None \
                or self.dataset is None:
            raise QuarryError("Encrypt the update first.")
        history = self.update.train_history
        last = history[-1] if history else None
        return ContributionResult(
            bounty_id=self.bounty_id, round=self.bounty.current_round, title=self.spec.title,
            n_rows=self.dataset.n_rows, n_params=int(self.update.delta.size),
            blob_hash=blob_hash(self.blob), blob_bytes=len(self.blob), epsilon=self.update.epsilon,
            dp_delta=self.update.dp_delta, clipped=self.update.clipped,
            final_loss=last.loss if last is not None else None,
            final_accuracy=last.accuracy if last is not None else None,
            key_fingerprint=self.spec.key_fingerprint_short, dry_run=dry_run, rounds=self.bounty.rounds,
            data_summary=self.dataset.summary(self.spec))

    # -- 5. submit -----------------------------------------------------------------------

    def submit(self, signer: LocalAccount, *, gasless: bool = False, blob_dir: str | Path | None = None,
               outbox_dir: str | Path | None = None, progress: Progress | None = None,
               should_stop: StopCheck | None = None, refuse_repeat: bool = False,
               refuse_open_without_noise: bool = False) -> ContributionResult:
        """Send the encrypted update for the round it was built for: StaleRound when that
        round closed meanwhile (nothing sent); with `refuse_repeat`, InvalidInput when this
        account already sent the same update to another round (`kept_updates.sent_before`;
        nothing sent); with `refuse_open_without_noise`, OpenUpdateWithoutNoise for an update
        without privacy noise to a bounty that opens its updates (nothing sent); the plaintext
        kept at home; then commit on chain and upload (`submit_update`). The blob is spent
        afterwards."""
        if self.blob is None or self.spec is None or self.bounty is None or self.update is None:
            raise QuarryError("Encrypt the update before submitting it.")
        if self.account is not None and signer.address != self.account:
            raise InvalidInput(f"This update was prepared for {self.account}, not {signer.address}.")
        _check_stop(self._stop(should_stop))
        result = self.result()
        round_index, digest = self.bounty.current_round, result.blob_hash
        # training took a while: the round may have moved on (StaleRound before anything is kept)
        self.client.check_can_submit(self.bounty_id, signer.address, round_index)
        if refuse_open_without_noise and self.spec.open_updates and math.isinf(self.update.epsilon):
            raise OpenUpdateWithoutNoise(self.bounty_id)
        encoding = self.spec.encoding_params()
        decrypted = round_trip(self.update.delta, encoding)  # what the practitioner will decrypt
        repeated = sent_before(self.client, signer.address, decrypted, self.bounty_id, round_index) \
            if refuse_repeat else None
        if repeated is not None:
            try:  # the round is named as everywhere else: "round 2 (2 of 3)"
                rounds: int | None = self.client.bounty(repeated[0]).rounds
            except QuarryError:
                rounds = None
            raise RepeatedUpdate(signer.address, *repeated, rounds=rounds)
        # kept at home before anything is sent: the wallet checks the round's report with it
        keep_update(self.client, signer.address, self.bounty_id, round_index, digest, self.update.delta,
                    encoding, self.blob, decrypted=decrypted)
        # the privacy spent is recorded before the commit (a crash after it must not leave the
        # budget understated) and dropped again if the commit did not happen
        if self.budget is not None:
            self.budget.record(
                [DatasetFile.of(f) for f in self.files], signer.address,
                mechanism=self.update.mechanism, params=self.update.mechanism_params,
                epsilon=self.update.epsilon, delta=self.update.dp_delta, bounty_id=self.bounty_id,
                round=round_index, blob_hash=digest, board=str(getattr(self.client, "board_address", "")))
        try:
            submitted = submit_update(
                self.client, signer, self.bounty_id, round_index, self.blob, self.spec.inbox_url,
                gasless=gasless, blob_dir=blob_dir, outbox_dir=outbox_dir, progress=self._report(progress))
        except BaseException:
            if self.budget is not None and _not_committed(self.client, self.bounty_id, round_index,
                                                          signer.address, digest):
                self.budget.forget(digest)
            raise
        self.blob = None  # committed: never to be sent again
        result.uri, result.tx_hash = submitted.uri, submitted.tx_hash
        result.upload_error, result.kept_at = submitted.upload_error, submitted.kept_at
        result.sent.extend(submitted.sent)
        return result


def contribute(
    client: BountyClient,
    signer: LocalAccount | None,
    bounty_id: int,
    data_files: Sequence[str | Path],
    options: ContributeOptions = ContributeOptions(),  # noqa: B008 - frozen dataclass
    *,
    file_roots: FileRoots,
    blob_dir: str | Path | None = None,
    outbox_dir: str | Path | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    budget: PrivacyBudget | None = None,
    store: Store | None = None,
) -> ContributionResult:
    """Every step of a Contribution in one go (the CLI's `quarry train`). `options.mode`
    picks the privacy mode; `budget` (the owner's privacy ledger) is checked and recorded;
    `store` keeps each file's column mapping for the next round."""
    check_data_files(data_files)
    check_options(options)
    if not options.dry_run and signer is None:
        raise InvalidInput("Submitting needs an unlocked account.")
    contribution = Contribution(client, bounty_id, file_roots=file_roots,
                                account=None if signer is None else signer.address,
                                progress=progress, should_stop=should_stop, budget=budget,
                                store=store)
    mode = options.mode
    contribution.prepare(data_files, noise_multiplier=options.noise_multiplier if mode == "dataset" else None,
                         gasless=options.gasless, require_open=not options.dry_run,
                         choices=options.data)
    assert contribution.spec is not None
    if options.refuse_open_without_noise and contribution.spec.open_updates \
            and sends_without_noise(mode, options.noise_multiplier):
        raise OpenUpdateWithoutNoise(bounty_id)  # said before training, a dry run too
    if mode == "row":
        dp_sgd = contribution.row_privacy(options.noise_multiplier or None, options.dp_clip, options.epochs)
        contribution.train(options.epochs, dp_sgd=dp_sgd)
        contribution.privatise(0.0)
    else:
        assert contribution.spec is not None
        # the bounty's maximum ε and the budget, before training for nothing
        plan = plan_privacy(contribution.spec, options.noise_multiplier, enforce_max_epsilon=False)
        contribution.check_privacy(plan.mechanism, plan.params, plan.epsilon)
        contribution.train(options.epochs)
        contribution.privatise(options.noise_multiplier)
    contribution.encrypt()
    if options.dry_run:
        (progress or _noop_progress)("submit", 1.0, "Dry run: nothing sent")
        return contribution.result(dry_run=True)
    assert signer is not None
    return contribution.submit(signer, gasless=options.gasless, blob_dir=blob_dir, outbox_dir=outbox_dir,
                               refuse_repeat=options.refuse_repeat,
                               refuse_open_without_noise=options.refuse_open_without_noise)


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
    record_upload(client, signer.address, bounty_id, round_index, digest, uri)
    if outbox is not None:
        outbox.remove(digest)
    sent.append(f"encrypted update blob ({len(blob)} bytes) to {uri}")
    report("upload", 1.0, "Uploaded")
    return SubmitOutcome(uri, tx_hash, sent)
