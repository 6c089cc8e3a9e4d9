"""Content-addressed blobs (specs, models, encrypted updates, reports): hash, store, fetch, upload.

A blob is named by keccak256 of its exact bytes. Whoever fetches one checks the hash and
rejects a mismatch (InvalidInput), so a URI never has to be trusted. URIs are `file:///abs`
(the embedded network) or `http(s)://host/blobs/0x<hash>` (a practitioner's inbox).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from eth_utils import keccak

from wallet.atomic import atomic_write_bytes
from wallet.errors import InvalidInput, NetworkError, NotFound

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 60
_HASH = re.compile(r"^0x[0-9a-f]{64}$")


def blob_hash(data: bytes) -> str:
    """keccak256 of the exact bytes, as 0x + 64 lowercase hex digits."""
    return "0x" + keccak(bytes(data)).hex()


def check_hash(value: str) -> str:
    """A blob hash in canonical form (0x + 64 lowercase hex), or InvalidInput."""
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return "0x" + bytes(value).hex()
    text = str(value).strip().lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if not _HASH.match(text):
        raise InvalidInput(f"Not a blob hash (0x + 64 hex digits): {value!r}")
    return text


class LocalBlobStore:
    """Blobs as files `<dir>/0x<hash>`, written atomically; `put` returns a file:// URI."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_for(self, digest: str) -> Path:
        return self.directory / check_hash(digest)

    def put(self, data: bytes) -> str:
        digest = blob_hash(data)
        path = self.path_for(digest)
        if not path.exists():
            atomic_write_bytes(path, bytes(data), mode=0o644)
        return path.as_uri()

    def get(self, digest: str) -> bytes:
        path = self.path_for(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"No blob {check_hash(digest)} in {self.directory}.") from exc
        if blob_hash(data) != check_hash(digest):
            raise InvalidInput(f"The stored blob {path} is damaged (its hash does not match).")
        return data

    def __contains__(self, digest: str) -> bool:
        return self.path_for(digest).exists()


def _read_limited(stream, max_bytes: int, uri: str) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(f"The blob at {uri} is larger than {max_bytes} bytes.")
    return data


def fetch_blob(uri: str, expected_hash: str, max_bytes: int = DEFAULT_MAX_BYTES,
               timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """The blob's bytes from a file:// or http(s):// URI, only if keccak256 matches."""
    expected = check_hash(expected_hash)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInput(f"Only local file:// URIs can be read: {uri}")
        path = Path(unquote(parsed.path))
        try:
            with open(path, "rb") as handle:
                data = _read_limited(handle, max_bytes, uri)
        except FileNotFoundError as exc:
            raise NotFound(f"The blob file {path} does not exist.") from exc
        except OSError as exc:
            raise NotFound(f"Cannot read the blob file {path}: {exc.strerror}") from exc
    elif parsed.scheme in ("http", "https"):
        request = urllib.request.Request(uri, headers={"Accept": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = _read_limited(response, max_bytes, uri)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"The blob at {uri} does not exist (HTTP 404).") from exc
            raise NetworkError(f"Fetching {uri} failed: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NetworkError(f"Cannot fetch {uri}: {reason}") from exc
    else:
        raise InvalidInput(f"Unsupported blob URI (file:// or http(s):// only): {uri}")
    actual = blob_hash(data)
    if actual != expected:
        raise InvalidInput(
            f"The blob at {uri} does not match its committed hash (expected {expected}, got {actual}); "
            "it was not used."
        )
    return data


def upload_blob(inbox_url: str, data: bytes, timeout: float = FETCH_TIMEOUT_SECONDS) -> str:
    """PUT the blob to an inbox (`PUT /blobs/0x<hash>`); returns the URI it answers."""
    parsed = urlparse(inbox_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"Not an inbox URL: {inbox_url!r}")
    digest = blob_hash(data)
    url = inbox_url.rstrip("/") + "/blobs/" + digest
    request = urllib.request.Request(
        url, data=bytes(data), method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        messages = {
            400: "the inbox refused the blob (hash mismatch)",
            413: "the blob is larger than the inbox accepts",
            429: "the inbox is rate limiting; try again later",
        }
        raise NetworkError(f"Uploading to {inbox_url} failed: {messages.get(exc.code, f'HTTP {exc.code}')}"
                           f"{detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(f"Cannot reach the inbox at {inbox_url}: {reason}") from exc
    uri = answer.get("uri") if isinstance(answer, dict) else None
    if not isinstance(uri, str) or not uri:
        return url
    return uri


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f" ({error})" if isinstance(error, str) and error else ""
