"""Content-addressed blobs (specs, models, encrypted updates, reports): hash, store, fetch, upload.

A blob is named by keccak256 of its exact bytes. Whoever fetches one checks the hash and
rejects a mismatch (InvalidInput), so a URI never has to be trusted. URIs are `file:///abs`
(the embedded network) or `http(s)://host/blobs/0x<hash>` (a practitioner's inbox).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

from Crypto.Hash import keccak as keccak_hash
from eth_utils import keccak

from common.atomic import atomic_write_bytes
from trainer import jsonsafe
from wallet.errors import BlobTooLarge, InvalidInput, NetworkError, NotFound

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 60
MAX_ANSWER_BYTES = 64 * 1024  # of an inbox's JSON answer
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


READ_CHUNK_BYTES = 1024 * 1024
MAX_REDIRECTS = 5


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, and only to http(s):// (urllib also allows ftp)."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req, fp, code, msg, headers):
        target = urlparse(urljoin(req.full_url, headers.get("Location") or headers.get("URI") or ""))
        if target.scheme not in ("http", "https"):
            raise InvalidInput(f"The blob at {req.full_url} redirects to a {target.scheme or 'relative'}:// "
                               "URI; only http(s):// redirects are followed.")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


# urllib's opener, but redirects only to http(s): for every request to an inbox or blob host
http_opener = urllib.request.build_opener(_HttpOnlyRedirects)


class _Reader:
    """Reads a stream in chunks, hashing as it goes; stops past `max_bytes` or the deadline."""

    def __init__(self, uri: str, max_bytes: int, deadline: float | None = None) -> None:
        self.uri = uri
        self.max_bytes = max_bytes
        self.deadline = deadline

    def read(self, stream) -> tuple[bytes, str]:
        digest = keccak_hash.new(digest_bits=256)
        parts: list[bytes] = []
        size = 0
        # read1 returns what has arrived, so a slow server cannot hold a read past the deadline
        read = getattr(stream, "read1", stream.read)
        while True:
            chunk = read(min(READ_CHUNK_BYTES, self.max_bytes + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise BlobTooLarge(f"The blob at {self.uri} is larger than {self.max_bytes} bytes.")
            digest.update(chunk)
            parts.append(chunk)
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise NetworkError(f"Fetching {self.uri} took too long; it was abandoned.")
        return b"".join(parts), "0x" + digest.hexdigest()


def _inside(path: Path, roots: Sequence[str | os.PathLike[str]]) -> bool:
    return any(path.is_relative_to(Path(root).expanduser().resolve()) for root in roots)


def _read_file(uri: str, parsed, max_bytes: int,
               file_roots: Sequence[str | os.PathLike[str]] | None) -> tuple[bytes, str]:
    if parsed.netloc not in ("", "localhost"):
        raise InvalidInput(f"Only local file:// URIs can be read: {uri}")
    path = Path(unquote(parsed.path))
    if not path.is_absolute():
        raise InvalidInput(f"A file:// blob URI needs an absolute path: {uri}")
    # symlinks and .. are resolved first, so neither can lead out of the allowed directories
    resolved = path.resolve()
    if file_roots is not None and not _inside(resolved, file_roots):
        raise InvalidInput(f"The blob URI {uri} points outside the directories blobs are read from; "
                           "it was not opened.")
    try:
        # O_NONBLOCK: opening a FIFO must not hang (only regular files are read); O_NOFOLLOW:
        # a symlink swapped in after resolve() is not followed
        descriptor = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError as exc:
        raise NotFound(f"The blob file {path} does not exist.") from exc
    except OSError as exc:
        raise NotFound(f"Cannot read the blob file {path}: {exc.strerror}") from exc
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"The blob URI {uri} is not a regular file.")
        raise BlobTooLarge(f"The blob at {uri} is larger than {max_bytes} bytes.")
    with open(descriptor, "rb") as handle:
        return _Reader(uri, max_bytes).read(handle)


def _read_http(uri: str, max_bytes: int, timeout: float) -> tuple[bytes, str]:
    request = urllib.request.Request(uri, headers={"Accept": "application/octet-stream"})
    try:
        with http_opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.strip().isdigit() and int(declared) > max_bytes:
                raise BlobTooLarge(f"The blob at {uri} is larger than {max_bytes} bytes.")
            # `timeout` bounds each socket read; the deadline bounds a server that drips
            return _Reader(uri, max_bytes, time.monotonic() + timeout).read(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"The blob at {uri} does not exist (HTTP 404).") from exc
        raise NetworkError(f"Fetching {uri} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(f"Cannot fetch {uri}: {reason}") from exc


def fetch_blob(uri: str, expected_hash: str, max_bytes: int = DEFAULT_MAX_BYTES,
               timeout: float = FETCH_TIMEOUT_SECONDS, *,
               file_roots: Sequence[str | os.PathLike[str]] | None) -> bytes:
    """The blob's bytes from a file:// or http(s):// URI, only if keccak256 matches.

    At most `max_bytes` are read (a larger blob is refused while reading); an HTTP fetch is
    abandoned after `timeout` seconds in all and follows only http(s) redirects.
    `file_roots` is required: a file:// URI must lie inside one of those directories, so a
    URI from a stranger cannot make the wallet open other local files; None (said
    explicitly) allows any local file, for a party reading its own market's blobs. Bytes that do not hash to
    `expected_hash` are never returned.
    """
    expected = check_hash(expected_hash)
    if not isinstance(uri, str):
        raise InvalidInput(f"Not a blob URI: {uri!r}")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        data, actual = _read_file(uri, parsed, max_bytes, file_roots)
    elif parsed.scheme in ("http", "https"):
        data, actual = _read_http(uri, max_bytes, timeout)
    else:
        raise InvalidInput(f"Unsupported blob URI (file:// or http(s):// only): {uri}")
    if actual != expected:
        raise InvalidInput(
            f"The blob at {uri} does not match its committed hash (expected {expected}, got {actual}); "
            "it was not used."
        )
    return data


def copy_proof_uri(inbox_url: str, report_uri: str, token: str, kind: str = "copy-proofs") -> str | None:
    """Where a round's copy proof (trainer.copy_proof), or with kind "openings" its opening
    (trainer.openings), is served: the bounty's inbox at /<kind>/<token>, or, for a bounty
    without one (file:// blobs, one computer), beside the report's blob store (`.../blobs/<hash>`
    -> `.../<kind>/<token>`); None when there is no such place."""
    if not re.fullmatch(r"0x[0-9a-f]{64}", token) or kind not in ("copy-proofs", "openings"):
        raise ValueError(f"not a copy proof or opening token: {kind}/{token!r}")
    if inbox_url:
        return f"{inbox_url.rstrip('/')}/{kind}/{token}" if inbox_url.startswith(("http://", "https://")) else None
    head, _sep, name = report_uri.rpartition("/")
    base, _sep, folder = head.rpartition("/")
    if report_uri.startswith("file://") and folder == "blobs" and re.fullmatch(r"0x[0-9a-fA-F]{64}", name):
        return f"{base}/{kind}/{token}"
    return None


def fetch_copy_proof(uri: str, max_bytes: int, timeout: float = FETCH_TIMEOUT_SECONDS, *,
                     file_roots: Sequence[str | os.PathLike[str]] | None) -> bytes:
    """A copy proof's bytes from `copy_proof_uri` (no hash on chain names it: the proof is
    checked by what it opens). NotFound when there is none, NetworkError when the inbox cannot
    be reached; a file:// proof must lie inside `file_roots`, as a blob must."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        data, _digest = _read_file(uri, parsed, max_bytes, file_roots)
    else:
        data, _digest = _read_http(uri, max_bytes, timeout)
    return data


CONTRIBUTOR_HEADER = "X-Quarry-Contributor"


def upload_blob(inbox_url: str, data: bytes, timeout: float = FETCH_TIMEOUT_SECONDS, *,
                contributor: str | None = None) -> str:
    """PUT the blob to an inbox (`PUT /blobs/0x<hash>`); returns the URI it answers.

    An update blob is uploaded after its hash is committed on chain, naming its contributor
    (the inbox accepts it only if that contributor's submission has this hash)."""
    parsed = urlparse(inbox_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"Not an inbox URL: {inbox_url!r}")
    digest = blob_hash(data)
    url = inbox_url.rstrip("/") + "/blobs/" + digest
    headers = {"Content-Type": "application/octet-stream"}
    if contributor:
        headers[CONTRIBUTOR_HEADER] = contributor
    request = urllib.request.Request(url, data=bytes(data), method="PUT", headers=headers)
    try:
        with http_opener.open(request, timeout=timeout) as response:
            answer = jsonsafe.loads(response.read(MAX_ANSWER_BYTES) or b"{}")
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        messages = {
            400: "the inbox refused the blob",
            403: "the inbox accepts only blobs whose hash is committed on chain for its bounties",
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


class InboxRefusal(NetworkError):
    """An inbox answered a request with an HTTP error: its status and the reason it gave."""

    def __init__(self, inbox_url: str, status: int, reason: str) -> None:
        super().__init__(f"The inbox at {inbox_url} answered {status}: {reason}")
        self.status, self.reason = int(status), reason


def post_json(inbox_url: str, path: str, payload: dict[str, Any], timeout: float = 60,
              max_bytes: int = MAX_ANSWER_BYTES) -> dict[str, Any]:
    """POST a JSON object to an inbox endpoint (`/relay`, `/invitations`, `/sent-blobs`); its
    JSON answer, of at most `max_bytes`.
    InboxRefusal when it answers an HTTP error, NetworkError when it cannot be reached or
    answers something that is not a JSON object."""
    parsed = urlparse(inbox_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"Not an inbox URL: {inbox_url!r}")
    request = urllib.request.Request(inbox_url.rstrip("/") + path, json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with http_opener.open(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        try:
            reason = jsonsafe.loads(exc.read(MAX_ANSWER_BYTES)).get("error") or f"HTTP {exc.code}"
        except (ValueError, OSError, AttributeError):
            reason = f"HTTP {exc.code}"
        raise InboxRefusal(inbox_url, exc.code, str(reason)) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NetworkError(f"Cannot reach the inbox at {inbox_url}: {getattr(exc, 'reason', exc)}") from exc
    try:
        answer = jsonsafe.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise NetworkError(f"The inbox at {inbox_url} answered something that is not a JSON object "
                           f"(of at most {max_bytes} bytes).")
    return answer


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = jsonsafe.loads(exc.read(MAX_ANSWER_BYTES) or b"{}")
    except (ValueError, OSError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f" ({error})" if isinstance(error, str) and error else ""
