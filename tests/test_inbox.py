"""The inbox HTTP server over a real socket on 127.0.0.1: the standard library's server and
the aiohttp one (practitioner.inbox_aio) answer alike."""

from __future__ import annotations

import http.client
import json

import pytest
from eth_hash.auto import keccak

from practitioner.inbox import InboxServer
from practitioner.inbox_aio import AioInboxServer
from wallet.errors import TransactionFailed


def _request(server: InboxServer, method: str, path: str, body: bytes | None = None, headers=None):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _hash(data: bytes) -> str:
    return "0x" + keccak(data).hex()


@pytest.fixture(params=[InboxServer, AioInboxServer], ids=["stdlib", "aiohttp"])
def inbox(tmp_path, request):
    relayed = []

    def relay(payload):
        if payload["signature"] == "0xbad":
            raise TransactionFailed("BadSignature: the signature does not match the contributor")
        relayed.append(payload)
        return "0x" + "ab" * 32

    server = request.param(
        tmp_path / "blobs", max_blob_bytes=1000, burst=20, rate=0.01, relay=relay,
        record_path=tmp_path / "bodies.bin",
    ).start()
    server.relayed = relayed
    yield server
    server.stop()


def test_put_get_round_trip_and_hash_check(inbox, tmp_path):
    data = b"\x00encrypted update\xff"
    status, body = _request(inbox, "PUT", f"/blobs/{_hash(data)}", data)
    assert status == 201
    assert json.loads(body)["uri"] == f"{inbox.url}/blobs/{_hash(data)}"
    # an uploaded update is kept for the practitioner only: never served back to anyone
    assert _request(inbox, "GET", f"/blobs/{_hash(data)}")[0] == 404
    assert (inbox.upload_dir / _hash(data)).read_bytes() == data
    # what the practitioner published itself is served
    published = b"a model the practitioner published"
    (inbox.blob_dir / _hash(published)).write_bytes(published)
    assert _request(inbox, "GET", f"/blobs/{_hash(published)}") == (200, published)
    # the same blob again is fine (content-addressed, idempotent)
    assert _request(inbox, "PUT", f"/blobs/{_hash(data)}", data)[0] == 201

    status, body = _request(inbox, "PUT", f"/blobs/{_hash(b'other')}", data)
    assert status == 400 and "mismatch" in json.loads(body)["error"]
    assert _request(inbox, "GET", f"/blobs/{_hash(b'other')}")[0] == 404
    assert sorted(p.name for p in inbox.upload_dir.iterdir()) == [_hash(data)]

    big = b"x" * 1001
    assert _request(inbox, "PUT", f"/blobs/{_hash(big)}", big)[0] == 413
    assert _request(inbox, "GET", "/etc/passwd")[0] == 404
    assert _request(inbox, "GET", "/blobs/../../x")[0] == 404
    assert data in (tmp_path / "bodies.bin").read_bytes()


def test_relay_passes_valid_payloads_and_reports_errors(inbox):
    payload = {
        "bountyId": 1, "round": 0, "blobHash": "0x" + "11" * 32, "uri": "http://x/blobs/1",
        "contributor": "0x" + "22" * 20, "deadline": 123, "signature": "0x1234",
    }
    status, body = _request(inbox, "POST", "/relay", json.dumps(payload).encode())
    assert status == 200 and json.loads(body) == {"txHash": "0x" + "ab" * 32}
    assert inbox.relayed == [payload]

    status, body = _request(inbox, "POST", "/relay", json.dumps({**payload, "signature": "0xbad"}).encode())
    assert status == 400 and "BadSignature" in json.loads(body)["error"]
    status, body = _request(inbox, "POST", "/relay", b"{\"bountyId\": 1}")
    assert status == 400 and "exactly" in json.loads(body)["error"]
    assert _request(inbox, "POST", "/relay", b"not json")[0] == 400
    assert len(inbox.relayed) == 1


def test_rate_limit_answers_429_per_client(inbox):
    statuses = [_request(inbox, "GET", f"/blobs/{_hash(b'none')}")[0] for _ in range(25)]
    assert statuses[:20] == [404] * 20
    assert set(statuses[20:]) == {429}
