"""Commit first, upload after; uploads private to the practitioner; relay limits; stale rounds.

A real py-evm chain, real Paillier blobs, and the practitioner's inbox on 127.0.0.1 with its
chain-checked policy (practitioner.admission)."""

from __future__ import annotations

import http.client
import json
from dataclasses import replace
from pathlib import Path

import pytest

from practitioner.admission import InboxPolicy
from practitioner.evaluate import awaited_uploads, load_spec
from practitioner.inbox import InboxServer
from practitioner.post import post_bounty
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from wallet import eip712
from wallet.autopilot import Autopilot
from wallet.blob_store import CONTRIBUTOR_HEADER, blob_hash, fetch_blob
from wallet.bounties import BountyClient, StaleRound, post_relay
from wallet.contribute import ContributeOptions, contribute
from wallet.errors import NotFound, TransactionFailed
from wallet.outbox import Outbox, PendingUpload, retry_uploads
from wallet.store import Store

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
OWNER_FILE = DEMO / "wine_owner_a.csv"


def _post(session, rounds: int = 1) -> int:
    return post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                       reward_per_round=TOKEN_UNIT, rounds=rounds, round_seconds=3600).bounty_id


def _put(inbox: InboxServer, digest: str, body: bytes, contributor: str | None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*inbox.server_address[:2], timeout=10)
    try:
        headers = {CONTRIBUTOR_HEADER: contributor} if contributor else {}
        connection.request("PUT", f"/blobs/{digest}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    market, session, _ = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    policy = InboxPolicy(session, per_address=2)
    inbox = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir,
                        admit=policy.admit_upload, relay=policy.relay, burst=200).start()
    session.inbox_url = inbox.url
    bounty_id = _post(session)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)
    yield market, session, policy, inbox, client, bounty_id
    inbox.stop()


def test_commit_first_then_upload_and_the_upload_stays_private(setup, tmp_path):
    market, session, _, inbox, client, bounty_id = setup
    owner = funded_signer(market.chain, eth=0)
    result = contribute(client, owner, bounty_id, [OWNER_FILE], ContributeOptions(gasless=True),
                        file_roots=[session.home.root],
                        outbox_dir=tmp_path / "outbox")
    # the inbox stored it only because its hash was already committed on chain for the owner
    assert client.submission(bounty_id, 0, owner.address)["blob_hash"] == result.blob_hash
    blob = (inbox.upload_dir / result.blob_hash).read_bytes()
    assert blob_hash(blob) == result.blob_hash and result.upload_error is None
    assert list((tmp_path / "outbox").iterdir()) == []  # published: nothing waits
    # the practitioner reads it from its own disk; a stranger cannot GET it
    assert session.blob(result.blob_hash, result.uri) == blob
    with pytest.raises(NotFound):
        fetch_blob(result.uri, result.blob_hash, file_roots=None)
    # a copier cannot park the same bytes under its own name, nor upload without a name
    copier = funded_signer(market.chain, eth=0)
    status, body = _put(inbox, result.blob_hash, blob, copier.address)
    assert status == 403 and "commit first" in body["error"]
    status, body = _put(inbox, result.blob_hash, blob, None)
    assert status == 400 and CONTRIBUTOR_HEADER in body["error"]
    # an update for a bounty of somebody else's is not stored here
    other = bytearray(blob)
    other[6:14] = (999).to_bytes(8, "big")  # the header's bounty id
    status, body = _put(inbox, blob_hash(bytes(other)), bytes(other), owner.address)
    assert status == 403 and "not one of this inbox's bounties" in body["error"]
    assert sorted(p.name for p in inbox.upload_dir.iterdir()) == [result.blob_hash]


def test_an_upload_that_fails_after_the_commit_is_kept_and_retried(setup, tmp_path):
    market, session, policy, _, client, _ = setup
    # an inbox that serves the spec and the model, then rate-limits the owner's upload
    busy = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir,
                       admit=policy.admit_upload, burst=2, rate=0.001).start()
    port = busy.server_address[1]
    session.inbox_url = busy.url
    try:
        bounty_id = _post(session)
        owner = funded_signer(market.chain)
        result = contribute(client, owner, bounty_id, [OWNER_FILE], file_roots=[session.home.root],
                            outbox_dir=tmp_path / "outbox")
    finally:
        session.inbox_url = setup[3].url
        busy.stop()
    assert client.submission(bounty_id, 0, owner.address)["blob_hash"] == result.blob_hash
    assert "rate limiting" in result.upload_error
    assert "retry with 'quarry upload'" in result.upload_warning()
    assert "waits for it up to 5 minutes after the round closes" in result.upload_warning()
    assert not (session.home.upload_dir / result.blob_hash).exists()
    # the practitioner's run loop waits for it (its URI is under this inbox)
    spec = load_spec(session, bounty_id)
    assert awaited_uploads(session, spec, bounty_id, 0) == 1
    outbox = Outbox(tmp_path / "outbox")
    assert [p.blob_hash for p in outbox.pending()] == [result.blob_hash]
    # a kept blob whose commit has not happened (yet): the app's background pass leaves it
    # (it may be a submission between its keep and its commit); `quarry upload` drops it
    uncommitted = PendingUpload("0x" + "11" * 32, bounty_id, 0, owner.address, session.inbox_url, "",
                                session.inbox_url + "/blobs/0x" + "11" * 32)
    outbox.keep(b"never committed", replace(uncommitted, blob_hash=blob_hash(b"never committed")))
    # the inbox is back at its address: the app's next background pass (the autopilot's, which
    # runs while the app is open) uploads it, without the owner retrying by hand
    late = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir, port=port,
                       admit=policy.admit_upload).start()
    notes = []
    store = Store(tmp_path)
    try:
        pilot = Autopilot(store, client, home=tmp_path, signer_for=lambda _a: None, notify=notes.append)
        report = pilot.run_pass()
    finally:
        late.stop()
        store.close()
    assert [(o.action, o.round) for o in report.outcomes] == [("uploaded", 0)]
    assert notes == [f"Uploaded your update to bounty {bounty_id}, round 0."]
    assert [p.blob_hash for p in outbox.pending()] == [blob_hash(b"never committed")]
    assert (session.home.upload_dir / result.blob_hash).is_file()
    assert awaited_uploads(session, spec, bounty_id, 0) == 0
    (dropped,) = retry_uploads(client, outbox)
    assert dropped.outcome == "not committed" and outbox.pending() == []


def test_relay_only_own_bounties_current_round_gas_cap_and_per_address_limit(setup):
    market, session, policy, inbox, client, bounty_id = setup
    # a bounty posted on the same board by someone else: not relayed by this inbox
    foreign, _ = market.create_bounty(market.chain.accounts[3])
    newcomer = funded_signer(market.chain, eth=0)
    payload = client.sign_gasless(newcomer, foreign, blob_hash(b"x"), "http://elsewhere/blobs/x")
    with pytest.raises(TransactionFailed, match="not one of this inbox's bounties"):
        post_relay(inbox.url, payload)
    # a round that is not the bounty's current one
    later = eip712.make_submission(bounty_id, 1, blob_hash(b"y"), inbox.url + "/blobs/y",
                                   newcomer.address, client.now() + 600)
    signature = eip712.sign_submission(newcomer, client.chain_id, client.board_address, later)
    with pytest.raises(TransactionFailed, match="only into a bounty's current open round"):
        post_relay(inbox.url, eip712.relay_payload(later, signature))
    # over the gas cap: refused before anything is sent
    before = session.w3.eth.get_transaction_count(session.signer.address)
    policy.max_gas = 50_000
    try:
        payload = client.sign_gasless(newcomer, bounty_id, blob_hash(b"z"), inbox.url + "/blobs/z")
        with pytest.raises(TransactionFailed, match="this relay pays at most 50000"):
            post_relay(inbox.url, payload)
    finally:
        policy.max_gas = 500_000
    assert session.w3.eth.get_transaction_count(session.signer.address) == before
    # per contributor address: the limit is 2 relays (the gas-capped try counted as one)
    payload = client.sign_gasless(newcomer, bounty_id, blob_hash(b"w"), inbox.url + "/blobs/w")
    tx_hash = post_relay(inbox.url, payload)
    assert tx_hash.startswith("0x")
    again = eip712.make_submission(bounty_id, 0, blob_hash(b"v"), inbox.url + "/blobs/v",
                                   newcomer.address, client.now() + 600)
    flood = eip712.relay_payload(again, eip712.sign_submission(newcomer, client.chain_id,
                                                               client.board_address, again))
    status, body = _post_json(inbox, flood)
    assert status == 429 and "limit of 2" in body["error"]
    # requests naming someone else's address with a signature not theirs are refused and do
    # not use up that address's relays
    victim, forger = funded_signer(market.chain, eth=0), funded_signer(market.chain, eth=0)
    for index in range(3):
        own = eip712.make_submission(bounty_id, 0, blob_hash(bytes([index])), inbox.url + "/blobs/f",
                                     forger.address, client.now() + 600)
        forged = eip712.relay_payload(own, eip712.sign_submission(forger, client.chain_id,
                                                                  client.board_address, own))
        status, body = _post_json(inbox, dict(forged, contributor=victim.address))
        assert status == 400 and "signature does not match" in body["error"]
    payload = client.sign_gasless(victim, bounty_id, blob_hash(b"mine"), inbox.url + "/blobs/mine")
    assert post_relay(inbox.url, payload).startswith("0x")


def _post_json(inbox: InboxServer, payload: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*inbox.server_address[:2], timeout=10)
    try:
        connection.request("POST", "/relay", body=json.dumps(payload).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_an_update_for_a_round_that_moved_on_is_not_sent(tmp_path):
    market, session, _ = practitioner_on_market(tmp_path / "practitioner")
    bounty_id = _post(session, rounds=2)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, file_roots=None)
    owner = funded_signer(market.chain)

    def round_moves_on(step: str, fraction: float, _message: str) -> None:
        # while the owner encrypts, round 0 closes and the practitioner finalises it
        if step == "encrypt" and fraction == 0.0:
            market.chain.travel_to(market.deadline(bounty_id, 0))
            session.client.finalize(bounty_id, 0, [], [], "0x" + "11" * 32, "file:///next",
                                    "0x" + "22" * 32, "file:///report")

    with pytest.raises(StaleRound, match=r"built for round 0 \(1 of 2\).*round 1 \(2 of 2\) is"):
        contribute(client, owner, bounty_id, [OWNER_FILE], file_roots=[session.home.root], blob_dir=tmp_path / "blobs",
                   outbox_dir=tmp_path / "outbox", progress=round_moves_on)
    assert client.bounty(bounty_id).current_round == 1
    assert client.submission(bounty_id, 1, owner.address) is None
    assert not (tmp_path / "blobs").exists() or list((tmp_path / "blobs").iterdir()) == []
    assert not (tmp_path / "outbox").exists() or list((tmp_path / "outbox").iterdir()) == []
