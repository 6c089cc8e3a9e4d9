"""The owner's own plaintext updates, kept in its home (never sent) so the wallet can check
a round's report once the validation set is revealed.

What is kept is exactly what the practitioner decrypts: the clipped (and possibly noised)
update after the fixed-point round trip of the spec's encoding (clamp to [-clip, clip],
`q` = `(x + clip) * 2^precision_bits` rounded stochastically, back to
`q / 2^precision_bits - clip`). The rounding's random bits come from a hash of the update
itself (`trainer.encoding.rounding_seed`), so `round_trip` draws exactly what the blob holds.
Anything else (the raw float update) would differ in the last bits and make an honest
report's "without you" score look wrong.

    <home>/kept-updates/<chainId>-<board>/<bountyId>/<round>/<account>-<blobHash>.npy

Beside it, `<account>-<blobHash>.proof-token` names a copy proof of it (trainer.copy_proof),
and `<account>-<blobHash>.uploaded.json` records when the blob was published and where
(`record_upload`): a report that calls the blob unavailable although it was published before
the round closed contradicts what the practitioner's own inbox (or file) received.

One float64 .npy per submission, written atomically and read with allow_pickle=False. The
key is (chain, board, bounty, round, account, blob hash): a resubmission elsewhere or
another account never reads the wrong vector. Beside it, `<account>-<blobHash>.sha256` holds
the sha256 of exactly the array written (`kept_digest`: its dtype, shape and bytes), so a copy
damaged (or replaced) on this computer since is told apart from a practitioner's misstatement:
it reads as not kept, with the reason (`read_kept_update`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import atomic_write_bytes, atomic_write_text
from trainer.encoding import EncodingParams, decode_sum, encode

KEPT_DIR = "kept-updates"
MAX_KEPT_BYTES = 256 * 1024 * 1024  # a model of 32M parameters; anything larger is not ours
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def round_trip(vector: np.ndarray, encoding: EncodingParams) -> np.ndarray:
    """The vector the practitioner decrypts from an encrypted `vector` (float64)."""
    return decode_sum(encode(np.asarray(vector, dtype=np.float64), encoding), 1, encoding)


def kept_path(home: str | os.PathLike[str], chain_id: int, board: str, bounty_id: int,
              round_index: int, account: str, blob_hash: str) -> Path:
    blob_hash = blob_hash.lower()
    if not _HASH.match(blob_hash) or not _ADDRESS.match(account) or not _ADDRESS.match(board):
        raise ValueError("a kept update is keyed by a 0x address and a 0x 32-byte hash")
    network = f"{int(chain_id)}-{board.lower()}"
    return (Path(home) / KEPT_DIR / network / str(int(bounty_id)) / str(int(round_index))
            / f"{account.lower()}-{blob_hash}.npy")


# what np.load raises on a damaged file (EOFError: an empty one; BadZipFile: one that starts
# like a zip archive, which np.load reads as an archive)
_LOAD_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def _one_float64_vector(loaded: object) -> bool:
    # a file that starts like a zip archive can load as an archive (NpzFile), not an array
    return isinstance(loaded, np.ndarray) and loaded.dtype == np.float64 and loaded.ndim == 1


def kept_digest(vector: np.ndarray) -> str:
    """The sha256 (hex) of exactly an array's bytes: its dtype, its shape and its data (C order)."""
    vector = np.ascontiguousarray(vector)
    head = f"{vector.dtype.str} {vector.shape}\n".encode()
    return hashlib.sha256(head + vector.tobytes()).hexdigest()


def save_kept_update(path: Path, vector: np.ndarray) -> None:
    vector = np.ascontiguousarray(vector, dtype=np.float64)
    buffer = io.BytesIO()
    np.save(buffer, vector, allow_pickle=False)
    # the digest first: an interrupted save never leaves a new vector without its digest
    atomic_write_text(_digest_path(path), kept_digest(vector))
    atomic_write_bytes(path, buffer.getvalue())


def read_kept_update(path: Path) -> tuple[np.ndarray | None, str]:
    """(the kept vector, "") when this computer holds it; (None, "") when it holds none;
    (None, why) when the file it holds is not the update written when it was sent: unreadable,
    not one float64 vector, or no longer matching the digest written beside it."""
    try:
        if path.stat().st_size > MAX_KEPT_BYTES:
            return None, "its file is larger than any update"
        with path.open("rb") as handle:
            vector = np.load(handle, allow_pickle=False)
    except FileNotFoundError:
        return None, ""
    except _LOAD_ERRORS:
        return None, "its file cannot be read"
    if not _one_float64_vector(vector):
        return None, "its file does not hold one float64 vector"
    if not _digest_holds(path, vector):
        return None, "it no longer matches what was written when you sent it"
    return vector, ""


def load_kept_update(path: Path) -> np.ndarray | None:
    """The kept vector, or None when this computer does not hold it (or it is damaged)."""
    return read_kept_update(path)[0]


def _digest_path(kept: Path) -> Path:
    return kept.with_name(kept.name.removesuffix(".npy") + ".sha256")


def _digest_holds(path: Path, vector: np.ndarray) -> bool:
    """Whether `vector`, read from the kept update at `path`, is what was written there. A kept
    update written by an older wallet has no digest beside it: trusted as before (nothing to
    tell its damage by)."""
    try:
        digest = _digest_path(path).read_text("utf-8").strip()
    except FileNotFoundError:
        return True
    except (OSError, ValueError):  # a digest that cannot be read vouches for nothing
        return False
    return digest == kept_digest(vector)


def keep_update(client: Any, account: str, bounty_id: int, round_index: int, blob_hash: str,
                delta: np.ndarray, encoding: EncodingParams, blob: bytes | None = None, *,
                decrypted: np.ndarray | None = None) -> Path | None:
    """Keep what the practitioner will decrypt from this submission (call it before the
    submission goes on chain, so a crash after submitting never loses it): `decrypted` when
    the caller computed it already (`round_trip(delta, encoding)`). `client` is a
    wallet.bounties.BountyClient; without a store (no home) nothing is kept."""
    store = getattr(client, "store", None)
    if store is None:
        return None
    path = kept_path(store.home, client.chain_id, client.board_address, bounty_id, round_index,
                     account, blob_hash)
    save_kept_update(path, round_trip(delta, encoding) if decrypted is None else decrypted)
    if blob is not None:  # what names a copy proof of this update (trainer.copy_proof)
        from trainer.copy_proof import copy_proof_token

        atomic_write_text(_token_path(path), copy_proof_token(bounty_id, round_index, account, blob))
    return path


def sent_before(client: Any, account: str, vector: np.ndarray, bounty_id: int, round_index: int
                ) -> tuple[int, int, str] | None:
    """(bounty, round, account) of an update this wallet already sent (committed on chain) on
    this board, from any of its accounts, in another round than (`bounty_id`, `round_index`),
    that the one `account` is about to send (`vector`, as kept) copies by the rule a copy proof
    is checked by (`trainer.copy_proof.is_copy_link`), else None. An update sent twice (no
    privacy noise, a model that did not move or a second bounty from the same model) can be sent
    first from another address by whoever decrypted the first: the practitioner."""
    from trainer.copy_proof import is_copy_link
    from wallet.errors import NetworkError, QuarryError

    store = getattr(client, "store", None)
    if store is None:
        return None
    vector = np.asarray(vector, dtype=np.float64)
    if float(np.linalg.norm(vector)) == 0.0:
        return None
    network = Path(store.home) / KEPT_DIR / f"{int(client.chain_id)}-{str(client.board_address).lower()}"
    for path in sorted(network.glob("*/*/0x*-0x*.npy")):
        bounty, round_ = path.parent.parent.name, path.parent.name
        if not (bounty.isdigit() and round_.isdigit()) or (int(bounty), int(round_)) == (bounty_id, round_index):
            continue  # this round's own (a retry after a failed commit, or another account of this wallet)
        try:  # the header first: a kept update of another model is not read
            earlier = np.load(path, mmap_mode="r", allow_pickle=False)
        except _LOAD_ERRORS:
            continue
        if not _one_float64_vector(earlier) or earlier.shape != vector.shape:
            continue
        earlier = np.asarray(earlier)
        if not is_copy_link(vector, earlier) or not _digest_holds(path, earlier):
            continue
        sender, _sep, digest = path.stem.rpartition("-")
        try:  # kept before the commit: it counts only if the chain has it
            committed = client.submission(int(bounty), int(round_), sender)
        except NetworkError:
            raise
        except QuarryError:  # a bounty this chain does not have (a node that was reset)
            continue
        if committed is not None and str(committed["blob_hash"]).lower() == digest:
            return int(bounty), int(round_), sender
    return None


def _token_path(kept: Path) -> Path:
    return kept.with_name(kept.name.removesuffix(".npy") + ".proof-token")


def keep_token(client: Any, account: str, bounty_id: int, round_index: int, blob_hash: str,
               blob: bytes) -> Path | None:
    """Keep what names this submission's copy proof and its round's opening (its token), from
    the blob's bytes, without the update: a wallet restored on another computer gets its blob
    back from the practitioner's inbox (wallet.recover). None without a store."""
    from trainer.copy_proof import copy_proof_token

    path = _kept_path_for(client, account, bounty_id, round_index, blob_hash)
    if path is None:
        return None
    token = _token_path(path)
    atomic_write_text(token, copy_proof_token(bounty_id, round_index, account, blob))
    return token


def copy_proof_token_for(client: Any, account: str, bounty_id: int, round_index: int,
                         blob_hash: str) -> str | None:
    """The token a copy proof of this submission is served under (kept when it was sent), or
    None when this computer did not keep it."""
    path = _kept_path_for(client, account, bounty_id, round_index, blob_hash)
    if path is None:
        return None
    try:
        token = _token_path(path).read_text("utf-8").strip()
    except OSError:
        return None
    return token if _HASH.match(token) else None


def kept_update_for(client: Any, account: str, bounty_id: int, round_index: int,
                    blob_hash: str) -> np.ndarray | None:
    """The update kept for this submission, or None when this computer does not keep it or
    the copy it keeps is damaged."""
    return read_kept_update_for(client, account, bounty_id, round_index, blob_hash)[0]


def read_kept_update_for(client: Any, account: str, bounty_id: int, round_index: int,
                         blob_hash: str) -> tuple[np.ndarray | None, str]:
    """`read_kept_update` of this submission's kept update: (vector, "") or (None, why not;
    "" when this computer does not keep it)."""
    path = _kept_path_for(client, account, bounty_id, round_index, blob_hash)
    return read_kept_update(path) if path is not None else (None, "")


def _kept_path_for(client: Any, account: str, bounty_id: int, round_index: int,
                   blob_hash: str) -> Path | None:
    store = getattr(client, "store", None)
    if store is None:
        return None
    try:
        return kept_path(store.home, client.chain_id, client.board_address, bounty_id, round_index,
                         account, blob_hash)
    except ValueError:
        return None


def _receipt_path(kept: Path) -> Path:
    return kept.with_name(kept.name.removesuffix(".npy") + ".uploaded.json")


def record_upload(client: Any, account: str, bounty_id: int, round_index: int, blob_hash: str,
                  uri: str, at: float | None = None) -> None:
    """Note that the blob was published to `uri` now (after the inbox accepted it, or the file
    was written). Without a store nothing is noted."""
    path = _kept_path_for(client, account, bounty_id, round_index, blob_hash)
    if path is None:
        return
    receipt = {"uri": uri, "at": time.time() if at is None else float(at)}
    atomic_write_text(_receipt_path(path), json.dumps(receipt))


def upload_receipt(client: Any, account: str, bounty_id: int, round_index: int,
                   blob_hash: str) -> dict[str, Any] | None:
    """{"uri", "at"} when this computer published the blob, else None."""
    path = _kept_path_for(client, account, bounty_id, round_index, blob_hash)
    if path is None:
        return None
    try:
        receipt = json.loads(_receipt_path(path).read_text("utf-8"))
        return {"uri": str(receipt["uri"]), "at": float(receipt["at"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
