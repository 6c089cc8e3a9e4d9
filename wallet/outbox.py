"""Encrypted updates between their on-chain commit and their upload: `<home>/outbox/`.

The wallet commits an update's hash on chain first and publishes the blob after (uploads it
to the bounty's inbox, or writes the file:// blob), so nobody can see, copy and submit an
update before its owner's commit. From just before the commit until the practitioner has
it, the blob waits here, private to the owner (directory 0700, files 0600). An upload that
fails after the commit stays here and is retried by `quarry upload` or the GUI's "Retry
upload"; a blob whose commit never happened (the transaction failed or the program stopped
in between) is dropped by the retry, since the inbox would refuse it.

    <home>/outbox/0x<hash>.blob    the encrypted update
    <home>/outbox/0x<hash>.json    {"bountyId", "round", "contributor", "inboxUrl", "blobDir", "uri"}
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.atomic import atomic_write_bytes, atomic_write_text
from wallet.blob_store import LocalBlobStore, blob_hash, check_hash, upload_blob
from wallet.errors import InvalidInput, QuarryError

if TYPE_CHECKING:
    from wallet.bounties import BountyClient


@dataclass(frozen=True)
class PendingUpload:
    blob_hash: str
    bounty_id: int
    round: int
    contributor: str
    inbox_url: str  # "" for a file:// bounty
    blob_dir: str  # where a file:// bounty's blob is written ("" for an inbox)
    uri: str  # the URI committed on chain


def blob_uri(digest: str, inbox_url: str, blob_dir: str | os.PathLike[str] | None) -> str:
    """The URI a blob will have once published; known before it is (it is committed first)."""
    digest = check_hash(digest)
    if inbox_url:
        return inbox_url.rstrip("/") + "/blobs/" + digest
    if blob_dir is None:
        raise InvalidInput("This bounty stores blobs as local files; a blob directory is needed.")
    return LocalBlobStore(blob_dir).path_for(digest).as_uri()


def publish(pending: PendingUpload, blob: bytes) -> str:
    """Upload the blob to the inbox (or write the file:// blob); returns its URI."""
    if pending.inbox_url:
        return upload_blob(pending.inbox_url, blob, contributor=pending.contributor)
    return LocalBlobStore(pending.blob_dir).put(blob)


# How long after a round's deadline Quarry's practitioner still waits for a committed upload:
# practitioner.runner.UPLOAD_WINDOW_S (the wallet does not import the practitioner; a test
# keeps the two equal). Not enforced on chain: another practitioner may not wait.
PRACTITIONER_UPLOAD_WINDOW_S = 300


def upload_window_text() -> str:
    """The upload window in words, for the messages about a failed upload."""
    return (f"a Quarry practitioner waits for it up to {PRACTITIONER_UPLOAD_WINDOW_S // 60} minutes "
            "after the round closes")


class Outbox:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _paths(self, digest: str) -> tuple[Path, Path]:
        digest = check_hash(digest)
        return self.directory / f"{digest}.blob", self.directory / f"{digest}.json"

    def keep(self, blob: bytes, pending: PendingUpload) -> Path:
        if blob_hash(blob) != check_hash(pending.blob_hash):
            raise InvalidInput("The blob does not match the hash it is kept under.")
        blob_path, record_path = self._paths(pending.blob_hash)
        atomic_write_bytes(blob_path, bytes(blob), mode=0o600)
        atomic_write_text(record_path, json.dumps(asdict(pending), sort_keys=True), mode=0o600)
        return blob_path

    def remove(self, digest: str) -> None:
        for path in self._paths(digest):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def blob(self, digest: str) -> bytes:
        data = self._paths(digest)[0].read_bytes()
        if blob_hash(data) != check_hash(digest):
            raise InvalidInput(f"The kept blob {digest} is damaged (its hash does not match).")
        return data

    def pending(self) -> list[PendingUpload]:
        found = []
        for record in sorted(self.directory.glob("0x*.json")):
            try:
                fields = json.loads(record.read_text("utf-8"))
                found.append(PendingUpload(**fields))
            except (OSError, ValueError, TypeError):
                continue  # our own file, damaged: left for a person to look at
        return found


@dataclass(frozen=True)
class RetryResult:
    pending: PendingUpload
    outcome: str  # "uploaded", "not committed" (dropped), "failed" (kept)
    message: str


def retry_uploads(client: BountyClient, outbox: Outbox, *, drop_uncommitted: bool = True) -> list[RetryResult]:
    """Publish every kept blob whose hash is committed on chain; drop the ones never committed
    (unless `drop_uncommitted` is False: the app's background retry leaves them, as one may
    be a submission between its keep and its commit)."""
    from wallet.kept_updates import record_upload  # numpy: only when there is work

    results = []
    for pending in outbox.pending():
        try:
            mine = client.submission(pending.bounty_id, pending.round, pending.contributor)
            if mine is None or mine["blob_hash"] != check_hash(pending.blob_hash):
                if not drop_uncommitted:
                    continue
                outbox.remove(pending.blob_hash)
                results.append(RetryResult(pending, "not committed",
                                           "its hash was never committed on chain; dropped"))
                continue
            uri = publish(pending, outbox.blob(pending.blob_hash))
        except (QuarryError, OSError) as exc:
            results.append(RetryResult(pending, "failed", str(exc)))
            continue
        record_upload(client, pending.contributor, pending.bounty_id, pending.round, pending.blob_hash, uri)
        outbox.remove(pending.blob_hash)
        results.append(RetryResult(pending, "uploaded", uri))
    return results
