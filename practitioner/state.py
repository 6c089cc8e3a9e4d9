"""Where the practitioner keeps its files under the data home.

    <home>/practitioner/
        paillier-key.json                     the key pair (private part encrypted)
        blobs/0x<hash>                        content-addressed blobs it published (the inbox serves them)
        uploads/0x<hash>                      owners' encrypted updates received by the inbox (never served)
        bounties/<chainId>-<board>-<id>/
            bounty.json                       spec hash, validation commitment salt, options
            validation.npz                    the held-out validation set (never published)
            round-<r>.json                    the evaluation of round r (what finalize sends)

Everything else (rounds, submissions, models in force) is read back from the chain, so a
restart continues where it stopped.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import atomic_write_bytes, atomic_write_text
from common.paths import data_home
from practitioner.keys import KEY_FILENAME
from trainer.update_blob import blob_hash as blob_hash_of
from wallet.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class PractitionerHome:
    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> PractitionerHome:
        root = data_home(home) / "practitioner"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(root)

    @property
    def key_path(self) -> Path:
        return self.root / KEY_FILENAME

    @property
    def blob_dir(self) -> Path:
        path = self.root / "blobs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def upload_dir(self) -> Path:
        path = self.root / "uploads"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    @property
    def copy_proof_dir(self) -> Path:
        """Copy proofs (trainer.copy_proof), each named by its token: the inbox serves them at
        /copy-proofs/<token> to whoever can name one (the copied owner)."""
        return self.root / "copy-proofs"

    @property
    def opening_dir(self) -> Path:
        """Round openings (trainer.openings) once published at the reveal, each under every
        contributor's token: the inbox serves them at /openings/<token>."""
        return self.root / "openings"

    def bounty_dir(self, chain_id: int, board: str, bounty_id: int) -> Path:
        return self.root / "bounties" / f"{chain_id}-{board.lower()}-{bounty_id}"

    def known_bounties(self, chain_id: int, board: str) -> list[int]:
        prefix = f"{chain_id}-{board.lower()}-"
        base = self.root / "bounties"
        if not base.is_dir():
            return []
        ids = []
        for entry in base.iterdir():
            if entry.name.startswith(prefix) and (entry / "bounty.json").is_file():
                suffix = entry.name[len(prefix):]
                if suffix.isdigit():
                    ids.append(int(suffix))
        return sorted(ids)


# --- local blob store ----------------------------------------------------------------------


def store_blob(blob_dir: Path, data: bytes) -> str:
    """Store `data` under its keccak256; returns the 0x hash."""
    digest = blob_hash_of(data)
    target = blob_dir / digest
    if not target.exists():
        atomic_write_bytes(target, data, mode=0o644)
    return digest


def local_blob_path(blob_dir: Path, blob_hash: str) -> Path:
    """Where a blob store keeps the blob (keyed by its lower-case hash)."""
    return blob_dir / blob_hash.lower()


def read_local_blob(blob_dir: Path, blob_hash: str) -> bytes | None:
    """The blob if stored locally and intact, else None."""
    path = local_blob_path(blob_dir, blob_hash)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if blob_hash_of(data) != blob_hash.lower():
        return None
    return data


# --- the held-out validation set -----------------------------------------------------------


def validation_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ascontiguousarray(x, dtype=np.float64), y=np.ascontiguousarray(y, dtype=np.int64))
    return buffer.getvalue()


def save_validation(directory: Path, x: np.ndarray, y: np.ndarray) -> None:
    atomic_write_bytes(directory / "validation.npz", validation_bytes(x, y))


def load_validation(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    path = directory / "validation.npz"
    if not path.is_file():
        raise NotFound(f"No validation set for this bounty at {path}.")
    with np.load(path, allow_pickle=False) as archive:
        return np.asarray(archive["x"], dtype=np.float64), np.asarray(archive["y"], dtype=np.int64)


# --- JSON records --------------------------------------------------------------------------


def write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise NotFound(f"{path} does not exist.")
    try:
        obj = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidInput(f"{path} is not a JSON object.")
    return obj
