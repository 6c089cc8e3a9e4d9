"""Content-addressed blobs: the keccak vector, local store, file and HTTP fetch, inbox upload."""

from __future__ import annotations

import pytest

from practitioner.inbox import InboxServer
from tests.anvil import free_port
from wallet.blobs import LocalBlobStore, blob_hash, check_hash, fetch_blob, upload_blob
from wallet.errors import InvalidInput, NetworkError, NotFound

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
    assert fetch_blob(uri, blob_hash(data)) == data
    with pytest.raises(NotFound):
        store.get(EMPTY_KECCAK)


def test_hash_mismatch_is_rejected(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    uri = store.put(b"the real spec")
    with pytest.raises(InvalidInput, match="does not match its committed hash"):
        fetch_blob(uri, blob_hash(b"another spec"))
    # a blob changed on disk after it was stored is caught too
    path = store.path_for(blob_hash(b"the real spec"))
    path.write_bytes(b"tampered")
    with pytest.raises(InvalidInput):
        fetch_blob(uri, blob_hash(b"the real spec"))
    with pytest.raises(InvalidInput, match="damaged"):
        store.get(blob_hash(b"the real spec"))


def test_size_limit_and_bad_uris(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"x" * 2000
    with pytest.raises(InvalidInput, match="larger than 1000 bytes"):
        fetch_blob(store.put(data), blob_hash(data), max_bytes=1000)
    with pytest.raises(InvalidInput, match="Unsupported"):
        fetch_blob("ftp://example.org/x", EMPTY_KECCAK)
    with pytest.raises(NotFound):
        fetch_blob((tmp_path / "missing").as_uri(), EMPTY_KECCAK)


def test_upload_to_inbox_and_fetch_over_http(inbox):
    data = b"encrypted update bytes"
    uri = upload_blob(inbox.url, data)
    assert uri == f"{inbox.url}/blobs/{blob_hash(data)}"
    assert fetch_blob(uri, blob_hash(data)) == data
    with pytest.raises(InvalidInput, match="does not match"):
        fetch_blob(uri, blob_hash(b"something else"))
    with pytest.raises(NotFound):
        fetch_blob(f"{inbox.url}/blobs/{EMPTY_KECCAK}", EMPTY_KECCAK)
    with pytest.raises(NetworkError, match="larger than the inbox accepts"):
        upload_blob(inbox.url, b"y" * 5000)


def test_unreachable_inbox_is_a_network_error():
    with pytest.raises(NetworkError, match="Cannot reach the inbox"):
        upload_blob(f"http://127.0.0.1:{free_port()}", b"data", timeout=5)
    with pytest.raises(NetworkError, match="Cannot fetch"):
        fetch_blob(f"http://127.0.0.1:{free_port()}/blobs/{EMPTY_KECCAK}", EMPTY_KECCAK, timeout=5)
