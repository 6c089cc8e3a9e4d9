"""The practitioner's inbox: a small HTTP server on 127.0.0.1 (docs/PROTOCOL.md, "Inbox HTTP API").

- `PUT /blobs/0x<hash>`: an owner's encrypted update, uploaded after its hash was committed
  on chain. Stored in `upload_dir` (never served back) when keccak256(body) == hash, the body
  is within the size limit and the `admit` callable accepts it (practitioner.admission: the
  hash is the on-chain submission of the contributor named in `X-Quarry-Contributor` to one
  of this practitioner's bounties); 201 `{"uri"}`; 400 on mismatch, 403 not committed,
  411 without Content-Length, 413 too large.
- `GET /blobs/0x<hash>`: only what the practitioner published itself (`blob_dir`: specs,
  models, reports, validation reveals); 200 with the bytes or 404. Uploaded updates are
  never served: a stranger cannot fetch an owner's update and submit it as its own.
- `POST /relay` JSON `{"bountyId","round","blobHash","uri","contributor","deadline","signature"}`:
  relays a gasless submission through the `relay` callable; 200 `{"txHash"}`, or a 4xx
  `{"error"}` (`Refused` carries its status: 403 not our bounty, 409 not the current round,
  429 the contributor's limit; 400 otherwise).
- `POST /invitations` JSON `{"bountyId","code","contributor"}`: redeems a single-use
  invitation code through the `redeem` callable (practitioner.invitations.redeem_code); 200
  `{"invitation"}` (the signed invitation file's JSON), 403 an unknown code, 409 a code
  another address redeemed, 404 when the inbox runs without the practitioner's key.
- `POST /sent-blobs` JSON `{"bountyId","round","contributor","deadline","signature"}`: the
  contributor's own blob of a round whose report is on chain, through the `sent_blob` callable
  (practitioner.admission: the EIP-712 `SentBlobRequest` must be signed by the contributor);
  200 `{"blob"}` (base64), 403 not signed by the contributor or expired, 404 nothing
  submitted or not held here, 409 no report yet. The only way an uploaded blob leaves the
  inbox, and only to its owner's key.
- Every client address has a token bucket; an empty bucket answers 429.

With `record_path`, every request body received is appended to that file (tests use it to
prove that only encrypted blobs and hashes reached the practitioner).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from common.atomic import atomic_write_bytes
from trainer import jsonsafe
from wallet.errors import QuarryError

log = logging.getLogger(__name__)

DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024
MAX_RELAY_BODY = 16 * 1024
DEFAULT_RATE = 2.0  # requests per second refilled per client
DEFAULT_BURST = 60
_BLOB_PATH = re.compile(r"^/blobs/(0x[0-9a-f]{64})$")
# what the inbox serves by a token only its owner can name: copy proofs (trainer.copy_proof)
# and, once the validation set is revealed, round openings (trainer.openings)
_PROOF_PATH = re.compile(r"^/(copy-proofs|openings)/(0x[0-9a-f]{64})$")
_TOKEN_KINDS = {"copy-proofs": "copy proof", "openings": "round opening"}
RELAY_FIELDS = ("bountyId", "round", "blobHash", "uri", "contributor", "deadline", "signature")
INVITATION_FIELDS = ("bountyId", "code", "contributor")
SENT_BLOB_FIELDS = ("bountyId", "round", "contributor", "deadline", "signature")

Relay = Callable[[dict[str, Any]], str]
# the request's JSON -> the signed invitation's JSON, or raises Refused
Redeem = Callable[[dict[str, Any]], dict[str, Any]]
# (blob hash, body, contributor named by the uploader or None) -> None, or raises Refused
Admit = Callable[[str, bytes, "str | None"], None]
# the signed request's JSON -> the contributor's own blob, base64, or raises Refused
SentBlob = Callable[[dict[str, Any]], str]
CONTRIBUTOR_HEADER = "X-Quarry-Contributor"


class Refused(QuarryError):
    """A request the inbox turns down, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)


@dataclass(frozen=True)
class PostRoute:
    """A JSON endpoint: what it does (for messages), the body's exact fields, the callable that
    answers it (None: this inbox does not offer it, 404 `absent`) and the key its result is
    answered under."""

    name: str
    fields: tuple[str, ...]
    call: Callable[[dict[str, Any]], Any] | None
    answer_key: str
    absent: str


def answer_post(route: PostRoute, body: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of a POST to `route`; both servers answer through it."""
    if route.call is None:
        return HTTPStatus.NOT_FOUND, {"error": route.absent}
    try:
        payload = jsonsafe.loads(body)
    except ValueError:
        return HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"}
    if not isinstance(payload, dict) or sorted(payload) != sorted(route.fields):
        return HTTPStatus.BAD_REQUEST, {"error": f"body must have exactly: {', '.join(route.fields)}"}
    try:
        result = route.call(payload)
    except Refused as exc:
        return exc.status, {"error": str(exc)}
    except QuarryError as exc:
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
    except Exception as exc:  # a failure must not kill the server's thread
        log.warning("%s failed: %s", route.name, exc)
        return HTTPStatus.BAD_REQUEST, {"error": f"{route.name} failed: {exc}"}
    return HTTPStatus.OK, {route.answer_key: result}


def blob_path(directory: Path, blob_hash: str) -> Path:
    return directory / blob_hash.lower()


def read_copy_proof(directory: Path, token: str) -> bytes:
    """A copy proof or a round opening by its token (0x + 64 hex, matched by the path's
    pattern) in its directory; FileNotFoundError when there is none."""
    return (directory / token.lower()).read_bytes()


class _TokenBuckets:
    """Per-client token bucket: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1.0, now)
            return True


class InboxAddress:
    """What both inbox servers share: their state (`_set_up_inbox`), URL, blob URIs and the optional request record.
    The server sets `server_address`, `record_path` and `_record_lock`."""

    server_address: tuple
    record_path: Path | None
    _record_lock: threading.Lock

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def blob_uri(self, blob_hash: str) -> str:
        return f"{self.url}/blobs/{blob_hash.lower()}"

    def _set_up_inbox(
        self, blob_dir: str | Path, *, max_blob_bytes: int, rate: float, burst: int,
        relay: Relay | None, record_path: str | Path | None, upload_dir: str | Path | None,
        admit: Admit | None, redeem: Redeem | None, sent_blob: SentBlob | None = None,
    ) -> None:
        """The state both servers hold: the directories (created), limits, rate buckets,
        relay, code redemption, admission check and request record."""
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.upload_dir = Path(upload_dir) if upload_dir is not None else self.blob_dir.parent / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # copy proofs and round openings, by token (PractitionerHome.copy_proof_dir and
        # .opening_dir: next to blobs/)
        self.token_dirs = {kind: self.blob_dir.parent / kind for kind in _TOKEN_KINDS}
        self.admit = admit
        self.max_blob_bytes = max_blob_bytes
        self.buckets = _TokenBuckets(rate, burst)
        self.post_routes = {
            "/relay": PostRoute("relay", RELAY_FIELDS, relay, "txHash", "this inbox does not relay submissions"),
            "/invitations": PostRoute("redeeming the code", INVITATION_FIELDS, redeem, "invitation",
                                      "this inbox does not redeem invitation codes"),
            "/sent-blobs": PostRoute("giving a blob back", SENT_BLOB_FIELDS, sent_blob, "blob",
                                     "this inbox does not give blobs back"),
        }
        self.record_path = Path(record_path) if record_path else None
        self._record_lock = threading.Lock()

    def record(self, method: str, path: str, body: bytes) -> None:
        if self.record_path is None:
            return
        with self._record_lock, open(self.record_path, "ab") as handle:
            handle.write(f"--- {method} {path} {len(body)}\n".encode())
            handle.write(body)
            handle.write(b"\n")


class InboxServer(InboxAddress, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        blob_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        relay: Relay | None = None,
        record_path: str | Path | None = None,
        upload_dir: str | Path | None = None,
        admit: Admit | None = None,
        redeem: Redeem | None = None,
        sent_blob: SentBlob | None = None,
    ) -> None:
        """`blob_dir`: what GET serves (the practitioner's own blobs); `upload_dir` (default
        `uploads` next to it): where owners' updates go, never served. Without `admit` every
        hash-checked upload is stored (tests); `quarry-practitioner serve` always checks the
        chain (practitioner.admission.InboxPolicy)."""
        self._set_up_inbox(blob_dir, max_blob_bytes=max_blob_bytes, rate=rate, burst=burst,
                           relay=relay, record_path=record_path, upload_dir=upload_dir, admit=admit,
                           redeem=redeem, sent_blob=sent_blob)
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _InboxHandler)

    def start(self) -> InboxServer:
        """Serve in a daemon thread (tests, the demo); `shutdown()` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _InboxHandler(BaseHTTPRequestHandler):
    server: InboxServer
    server_version = "QuarryInbox/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("inbox %s: " + format, self.client_address[0], *args)

    # -- helpers -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode())

    def _error(self, status: int, message: str) -> None:
        self.close_connection = True
        self._json(status, {"error": message})

    def _rate_limited(self) -> bool:
        if self.server.buckets.allow(self.client_address[0]):
            return False
        self._error(HTTPStatus.TOO_MANY_REQUESTS, "too many requests; slow down")
        return True

    def _read_body(self, limit: int) -> bytes | None:
        raw_length = self.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return None
        length = int(raw_length)
        if length > limit:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {limit} bytes")
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self._error(HTTPStatus.BAD_REQUEST, "truncated body")
            return None
        return body

    # -- verbs ---------------------------------------------------------------------------

    def _blob_request(self) -> str | None:
        """The 0x hash of a /blobs/ request within the rate limit; else answered, None."""
        if self._rate_limited():
            return None
        match = _BLOB_PATH.match(self.path.lower())
        if not match:
            self._error(HTTPStatus.NOT_FOUND, "unknown path")
            return None
        return match.group(1)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        proof = _PROOF_PATH.match(self.path.lower())
        if proof:
            if self._rate_limited():
                return
            try:
                data = read_copy_proof(self.server.token_dirs[proof.group(1)], proof.group(2))
            except FileNotFoundError:
                self._error(HTTPStatus.NOT_FOUND, f"no such {_TOKEN_KINDS[proof.group(1)]}")
                return
            self._send(HTTPStatus.OK, data, "application/json")
            return
        requested = self._blob_request()
        if requested is None:
            return
        path = blob_path(self.server.blob_dir, requested)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._error(HTTPStatus.NOT_FOUND, "no such blob")
            return
        self._send(HTTPStatus.OK, data, "application/octet-stream")

    def do_PUT(self) -> None:  # noqa: N802
        expected = self._blob_request()
        if expected is None:
            return
        body = self._read_body(self.server.max_blob_bytes)
        if body is None:
            return
        self.server.record("PUT", self.path, body)
        actual = "0x" + keccak(body).hex()
        if actual != expected:
            self._error(HTTPStatus.BAD_REQUEST, f"hash mismatch: body hashes to {actual}")
            return
        if self.server.admit is not None:
            try:
                self.server.admit(expected, body, self.headers.get(CONTRIBUTOR_HEADER))
            except Refused as exc:
                self._error(exc.status, str(exc))
                return
            except QuarryError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
                return
            except Exception as exc:  # the node is unreachable: the uploader retries later
                log.warning("upload check failed: %s", exc)
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, "cannot check the chain now; try again later")
                return
        target = blob_path(self.server.upload_dir, expected)
        if not target.exists():
            atomic_write_bytes(target, body, mode=0o644)
        self._json(HTTPStatus.CREATED, {"uri": self.server.blob_uri(expected)})

    def do_POST(self) -> None:  # noqa: N802
        if self._rate_limited():
            return
        route = self.server.post_routes.get(self.path)
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, "unknown path")
            return
        body = self._read_body(MAX_RELAY_BODY)
        if body is None:
            return
        self.server.record("POST", self.path, body)
        status, answer = answer_post(route, body)
        if status >= 400:
            self.close_connection = True
        self._json(status, answer)
