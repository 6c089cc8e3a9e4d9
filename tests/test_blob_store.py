"""Content-addressed blobs: the keccak vector, local store, file and HTTP fetch, inbox upload."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from practitioner.inbox import InboxServer
from tests.anvil import free_port
from wallet.blob_store import LocalBlobStore, blob_hash, check_hash, fetch_blob, upload_blob
from wallet.bounties import post_relay
from wallet.errors import BlobTooLarge, InvalidInput, NetworkError, NotFound

EMPTY_KECCAK = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@pytest.fixture
def inbox(tmp_path):
    server = InboxServer(tmp_path / "inbox", max_blob_bytes=1000, burst=100).start()
    yield server
    server.stop()


def test_blob_hash_is_keccak256():
    assert blob_hash(b"") == EMPTY_KECCAK  # the Ethereum yellow paper's empty keccak
    assert blob_hash(b"abc") == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert check_hash(EMPTY_KECCAK.upper().replace("0X", "0x")) == EMPTY_KECCAK
    with pytest.raises(InvalidInput):
        check_hash("0x1234")


def test_local_store_round_trip_and_file_fetch(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"\x00model bytes\xff" * 100
    uri = store.put(data)
    assert uri.startswith("file:///") and uri.endswith(blob_hash(data))
    assert store.put(data) == uri  # idempotent
    assert blob_hash(data) in store
    assert store.get(blob_hash(data)) == data
    assert fetch_blob(uri, blob_hash(data), file_roots=None) == data
    with pytest.raises(NotFound):
        store.get(EMPTY_KECCAK)


def test_hash_mismatch_is_rejected(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    uri = store.put(b"the real spec")
    with pytest.raises(InvalidInput, match="does not match its committed hash"):
        fetch_blob(uri, blob_hash(b"another spec"), file_roots=None)
    # a blob changed on disk after it was stored is caught too
    path = store.path_for(blob_hash(b"the real spec"))
    path.write_bytes(b"tampered")
    with pytest.raises(InvalidInput):
        fetch_blob(uri, blob_hash(b"the real spec"), file_roots=None)
    with pytest.raises(InvalidInput, match="damaged"):
        store.get(blob_hash(b"the real spec"))


def test_size_limit_and_bad_uris(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"x" * 2000
    with pytest.raises(BlobTooLarge, match="larger than 1000 bytes"):
        fetch_blob(store.put(data), blob_hash(data), max_bytes=1000, file_roots=None)
    with pytest.raises(InvalidInput, match="Unsupported"):
        fetch_blob("ftp://example.org/x", EMPTY_KECCAK, file_roots=None)
    with pytest.raises(NotFound):
        fetch_blob((tmp_path / "missing").as_uri(), EMPTY_KECCAK, file_roots=None)


def test_upload_to_inbox_and_fetch_over_http(inbox):
    data = b"encrypted update bytes"
    uri = upload_blob(inbox.url, data)
    assert uri == f"{inbox.url}/blobs/{blob_hash(data)}"
    assert (inbox.upload_dir / blob_hash(data)).read_bytes() == data
    with pytest.raises(NotFound):  # an owner's upload is for the practitioner only
        fetch_blob(uri, blob_hash(data), file_roots=None)
    published = b"a model the practitioner published"
    LocalBlobStore(inbox.blob_dir).put(published)
    uri = f"{inbox.url}/blobs/{blob_hash(published)}"
    assert fetch_blob(uri, blob_hash(published), file_roots=None) == published
    with pytest.raises(InvalidInput, match="does not match"):
        fetch_blob(uri, blob_hash(b"something else"), file_roots=None)
    with pytest.raises(NotFound):
        fetch_blob(f"{inbox.url}/blobs/{EMPTY_KECCAK}", EMPTY_KECCAK, file_roots=None)
    with pytest.raises(NetworkError, match="larger than the inbox accepts"):
        upload_blob(inbox.url, b"y" * 5000)


def test_unreachable_inbox_is_a_network_error():
    with pytest.raises(NetworkError, match="Cannot reach the inbox"):
        upload_blob(f"http://127.0.0.1:{free_port()}", b"data", timeout=5)
    with pytest.raises(NetworkError, match="Cannot fetch"):
        fetch_blob(f"http://127.0.0.1:{free_port()}/blobs/{EMPTY_KECCAK}", EMPTY_KECCAK, timeout=5, file_roots=None)


# -- hostile sources: size, time, redirects, local files -------------------------------------


class _HostileHandler(BaseHTTPRequestHandler):
    """Answers by path: /endless (no length, streams forever), /liar (claims a huge length),
    /drip (a byte at a time), /to-file and /to-ftp (redirects elsewhere), /to-good, /good."""

    protocol_version = "HTTP/1.1"
    sent: ClassVar[dict[str, int]] = {}
    good = b"good blob"

    def do_GET(self):  # noqa: N802
        if self.path == "/good":
            self._answer(self.good)
        elif self.path.startswith("/to-"):
            target = {"/to-file": "file:///etc/passwd", "/to-ftp": "ftp://127.0.0.1/x",
                      "/to-good": "/good"}[self.path]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/liar":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
        else:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk, pause = (b"x" * 65536, 0) if self.path == "/endless" else (b"x", 0.2)
            sent = 0
            try:
                while sent < 10**9:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    type(self).sent[self.path] = sent
                    time.sleep(pause)
            except OSError:  # the client hung up: what the test expects
                pass

    def do_POST(self):  # noqa: N802 (every POST is sent on to ftp)
        self.send_response(302)
        self.send_header("Location", "ftp://127.0.0.1/x")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_size_limit_is_enforced_while_streaming(hostile):
    started = time.monotonic()
    with pytest.raises(BlobTooLarge, match="larger than 1000 bytes"):
        fetch_blob(f"{hostile}/endless", EMPTY_KECCAK, max_bytes=1000, timeout=10, file_roots=None)
    assert time.monotonic() - started < 5
    time.sleep(0.3)
    # the server was cut off after what the socket buffers hold, not a gigabyte
    assert _HostileHandler.sent["/endless"] < 16 * 1024 * 1024
    with pytest.raises(BlobTooLarge, match="larger than"):  # refused from the header alone
        fetch_blob(f"{hostile}/liar", EMPTY_KECCAK, max_bytes=10_000, file_roots=None)


def test_a_dripping_server_is_abandoned_after_the_timeout(hostile):
    started = time.monotonic()
    with pytest.raises(NetworkError, match="took too long"):
        fetch_blob(f"{hostile}/drip", EMPTY_KECCAK, max_bytes=10_000, timeout=1, file_roots=None)
    assert time.monotonic() - started < 4


def test_redirects_only_to_http(hostile):
    good = _HostileHandler.good
    assert fetch_blob(f"{hostile}/to-good", blob_hash(good), file_roots=None) == good
    with pytest.raises(InvalidInput, match="redirects to a file://"):
        fetch_blob(f"{hostile}/to-file", EMPTY_KECCAK, file_roots=None)
    with pytest.raises(InvalidInput, match="redirects to a ftp://"):
        fetch_blob(f"{hostile}/to-ftp", EMPTY_KECCAK, file_roots=None)


def test_file_uris_are_read_only_inside_the_allowed_directories(tmp_path):
    store = LocalBlobStore(tmp_path / "home" / "blobs")
    data = b"a spec"
    uri = store.put(data)
    roots = [tmp_path / "home"]
    assert fetch_blob(uri, blob_hash(data), file_roots=roots) == data
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private")
    # outside, through .., and through a symlink inside the allowed directory: none is opened
    escape = (tmp_path / "home" / "blobs" / ".." / ".." / "secret.txt").as_posix()
    link = tmp_path / "home" / "blobs" / "link"
    link.symlink_to(secret)
    for candidate in (secret.as_uri(), "file://" + escape, link.as_uri()):
        with pytest.raises(InvalidInput, match="outside the directories") as info:
            fetch_blob(candidate, blob_hash(b"private"), file_roots=roots)
        assert "private" not in str(info.value)
    # the roots are a required argument: a caller says which directories, or None for any
    with pytest.raises(TypeError):
        fetch_blob(secret.as_uri(), blob_hash(b"private"))  # type: ignore[call-arg]
    # with None the file is read, but returned only when the committed hash matches
    with pytest.raises(InvalidInput, match="does not match") as info:
        fetch_blob(secret.as_uri(), EMPTY_KECCAK, file_roots=None)
    assert "private" not in str(info.value)


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block without O_NONBLOCK
    with pytest.raises(InvalidInput, match="not a regular file"):
        fetch_blob(fifo.as_uri(), EMPTY_KECCAK, file_roots=None)
    with pytest.raises(InvalidInput, match="not a regular file"):
        fetch_blob(tmp_path.as_uri(), EMPTY_KECCAK, file_roots=None)


def test_relay_requests_follow_no_redirect_to_other_schemes(hostile):
    with pytest.raises(InvalidInput, match="redirects to a ftp://"):
        post_relay(hostile, {"bountyId": 1})
