"""The practitioner's inbox on aiohttp: the API, limits, admission and rate buckets of
`practitioner.inbox` (docs/PROTOCOL.md, "Inbox HTTP API"), served by an asyncio event loop
instead of the standard library's thread-per-connection `http.server`.

Why aiohttp (docs/ARCHITECTURE.md): it is already installed with web3 (its HTTP provider
uses it), so the practitioner gains no new dependency; one process serves both the HTTP
parsing (its C parser) and the streaming of bodies, and a slow or idle client holds a
coroutine, not an OS thread. The blocking parts (keccak of a large body, the chain checks of
`practitioner.admission`, the relay's transaction, file writes) run in a bounded thread pool
so the loop keeps accepting.

A body is never read past the limit: Content-Length is required and checked first (411,
413), then exactly that many bytes are read (400 when the client sends fewer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web
from eth_hash.auto import keccak

from common.atomic import atomic_write_bytes
from practitioner.inbox import (
    _BLOB_PATH,
    _PROOF_PATH,
    _TOKEN_KINDS,
    CONTRIBUTOR_HEADER,
    DEFAULT_BURST,
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_RATE,
    MAX_RELAY_BODY,
    Admit,
    InboxAddress,
    Redeem,
    Refused,
    Relay,
    SentBlob,
    answer_post,
    blob_path,
    read_copy_proof,
)
from wallet.errors import QuarryError

log = logging.getLogger(__name__)

# threads for the blocking work of requests (hashing, chain checks, writes)
WORKER_THREADS = 8


class AioInboxServer(InboxAddress):
    """Same constructor, attributes and life cycle as `practitioner.inbox.InboxServer`
    (`url`, `blob_uri`, `start`/`stop`, `serve_forever`/`shutdown`/`server_close`); binds its
    socket at construction, so a busy port raises OSError there too."""

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
        self._set_up_inbox(blob_dir, max_blob_bytes=max_blob_bytes, rate=rate, burst=burst,
                           relay=relay, record_path=record_path, upload_dir=upload_dir, admit=admit,
                           redeem=redeem, sent_blob=sent_blob)
        self._socket = socket.create_server((host, port), reuse_port=False, backlog=1024)
        self.server_address = self._socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="inbox")

    # -- life cycle ------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until `shutdown()` (blocks; the CLI's foreground server)."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=self.max_blob_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.SockSite(runner, self._socket)
        await site.start()
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def shutdown(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)

    def server_close(self) -> None:
        self._socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> AioInboxServer:
        """Serve in a daemon thread (tests, benchmarks); `stop()` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="inbox-aio", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the inbox did not start")
        return self

    def stop(self) -> None:
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server_close()

    # -- requests --------------------------------------------------------------------------

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    @staticmethod
    def _json(status: int, obj: dict[str, Any]) -> web.Response:
        return web.Response(status=status, body=json.dumps(obj).encode(), content_type="application/json")

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        response = AioInboxServer._json(status, {"error": message})
        response.force_close()  # as the old server: an error ends the connection
        return response

    async def _read_body(self, request: web.Request, limit: int) -> bytes | web.Response:
        raw_length = request.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            return self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        length = int(raw_length)
        if length > limit:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {limit} bytes")
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            return self._error(HTTPStatus.BAD_REQUEST, "truncated body")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "PUT", "POST"):
            return self._error(HTTPStatus.NOT_IMPLEMENTED, f"unsupported method {request.method}")
        if not self.buckets.allow(request.remote or ""):
            return self._error(HTTPStatus.TOO_MANY_REQUESTS, "too many requests; slow down")
        if request.method == "POST":
            return await self._post(request)
        proof = _PROOF_PATH.match(request.raw_path.lower())
        if proof and request.method == "GET":
            try:
                data = await self._blocking(read_copy_proof, self.token_dirs[proof.group(1)], proof.group(2))
            except FileNotFoundError:
                return self._error(HTTPStatus.NOT_FOUND, f"no such {_TOKEN_KINDS[proof.group(1)]}")
            return web.Response(status=HTTPStatus.OK, body=data, content_type="application/json")
        # the raw path, as the old server matched it (no normalisation of ../)
        match = _BLOB_PATH.match(request.raw_path.lower())
        if not match:
            return self._error(HTTPStatus.NOT_FOUND, "unknown path")
        if request.method == "GET":
            return await self._get(match.group(1))
        return await self._put(request, match.group(1))

    async def _get(self, requested: str) -> web.Response:
        try:
            data = await self._blocking(blob_path(self.blob_dir, requested).read_bytes)
        except FileNotFoundError:
            return self._error(HTTPStatus.NOT_FOUND, "no such blob")
        return web.Response(status=HTTPStatus.OK, body=data, content_type="application/octet-stream")

    async def _put(self, request: web.Request, expected: str) -> web.Response:
        body = await self._read_body(request, self.max_blob_bytes)
        if isinstance(body, web.Response):
            return body
        contributor = request.headers.get(CONTRIBUTOR_HEADER)
        status, payload = await self._blocking(self._store, request.raw_path, expected, body, contributor)
        if status != HTTPStatus.CREATED:
            return self._error(status, payload)
        return self._json(status, {"uri": payload})

    def _store(self, path: str, expected: str, body: bytes, contributor: str | None) -> tuple[int, str]:
        """(201, uri) or (status, error message); runs in the pool (hashing, chain, disk)."""
        self.record("PUT", path, body)
        actual = "0x" + keccak(body).hex()
        if actual != expected:
            return HTTPStatus.BAD_REQUEST, f"hash mismatch: body hashes to {actual}"
        if self.admit is not None:
            try:
                self.admit(expected, body, contributor)
            except Refused as exc:
                return exc.status, str(exc)
            except QuarryError as exc:
                return HTTPStatus.BAD_REQUEST, str(exc)
            except Exception as exc:  # the node is unreachable: the uploader retries later
                log.warning("upload check failed: %s", exc)
                return HTTPStatus.SERVICE_UNAVAILABLE, "cannot check the chain now; try again later"
        target = blob_path(self.upload_dir, expected)
        if not target.exists():
            atomic_write_bytes(target, body, mode=0o644)
        return HTTPStatus.CREATED, self.blob_uri(expected)

    async def _post(self, request: web.Request) -> web.Response:
        route = self.post_routes.get(request.raw_path)
        if route is None:
            return self._error(HTTPStatus.NOT_FOUND, "unknown path")
        body = await self._read_body(request, MAX_RELAY_BODY)
        if isinstance(body, web.Response):
            return body
        await self._blocking(self.record, "POST", request.raw_path, body)
        status, answer = await self._blocking(answer_post, route, body)
        if status >= 400:
            return self._error(status, answer["error"])
        return self._json(status, answer)
