"""Reading an `.npz` blob from a stranger: size-capped before and after decompression, no
pickle, exactly the expected members; every failure is one `BlobError` (or subclass)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import numpy as np

from trainer.errors import BlobError


def read_npz_members(
    data: bytes,
    members: Sequence[str],
    *,
    name: str,
    kind: str,
    max_bytes: int,
    error: type[BlobError] = BlobError,
) -> dict[str, np.ndarray]:
    """The arrays of `data`, which must hold exactly `members`. `name` ("model blob") and
    `kind` ("model file") word the messages; `error` is the exception raised."""
    if not isinstance(data, bytes | bytearray):
        raise error(f"A {name} must be bytes.")
    if len(data) > max_bytes:
        raise error(f"The {name} is {len(data)} bytes; the limit is {max_bytes}.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > max_bytes:
                raise error(f"The {name} uncompresses to more than the size limit.")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if set(npz.files) != set(members):
                quoted = [f"'{m}'" for m in members]
                listed = " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
                raise error(f"The {name} must hold exactly {listed}.")
            return {m: npz[m] for m in members}
    except BlobError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types on garbage
        raise error(f"The {name} is not a readable {kind} ({exc}).") from exc
