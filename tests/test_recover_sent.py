"""A wallet restored on another computer gets back what names its copy proofs and openings
(wallet/recover.py, the inbox's POST /sent-blobs): without it a report calling its update a
copy could not be checked there. On a real EVM, real Paillier blobs, the practitioner's own
evaluation and its chain-checked inbox on 127.0.0.1: owner 2 sends owner 0's file again (a real
copy), loses its kept files, gets its blob back by a request signed with its key, and checks
the claim; nobody else gets its blob, and a wrong blob is kept by no one."""

from __future__ import annotations

import base64
import json
import time

import pytest

from practitioner.admission import InboxPolicy
from practitioner.evaluate import evaluate_round
from practitioner.finalize import finalize_round
from practitioner.inbox import InboxServer
from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from tests.verify_fixtures import DEMO, REWARD, contributing_owners, load_spec, submitted_blob
from trainer.copy_proof import (
    OpenedBlob,
    OwnUpdateUnknown,
    check_copy_proof,
    copy_proof_bytes,
    copy_proof_token,
    open_blob,
)
from trainer.encoding import EncodingParams
from wallet import eip712
from wallet.blob_store import InboxRefusal, post_json
from wallet.kept_updates import KEPT_DIR, copy_proof_token_for
from wallet.recover import KEPT, NOT_YET, RECOVERED, UNAVAILABLE, recover_sent
from wallet.verify import NOT_REVEALED, NOT_VERIFIABLE, RECOVER_HINT, verify_rewards

FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv", "breast_cancer_owner_a.csv"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    market.mint(session.signer.address, 100 * TOKEN_UNIT)
    policy = InboxPolicy(session)
    inbox = InboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir, admit=policy.admit_upload,
                        sent_blob=policy.sent_blob, rate=1000.0, burst=1000).start()
    bounties = {}
    for name in ("inbox", "files"):
        session.inbox_url = inbox.url if name == "inbox" else ""
        bounties[name] = post_bounty(
            session, DEMO / "breast_cancer_spec.json", raw_spec=read_spec_file(DEMO / "breast_cancer_spec.json"),
            validation_files=[str(DEMO / "breast_cancer_validation.csv")], reward_per_round=REWARD,
            rounds=2, round_seconds=600).bounty_id
    home = tmp_path_factory.mktemp("owner")
    client, owners = contributing_owners(market, session, home, list(bounties.values()), FILES)
    market.chain.advance(601)
    # asked before the round's report is on chain: no blob leaves the inbox yet
    before = _ask(inbox.url, owners[2], client, bounties["inbox"], 0)
    unreported = recover_sent(client, owners[1])
    for name in ("inbox", "files"):
        session.inbox_url = inbox.url if name == "inbox" else ""
        evaluate_round(session, bounties[name], 0, private_key)
        finalize_round(session, bounties[name], 0)
    session.inbox_url = inbox.url
    yield {"market": market, "session": session, "key": private_key, "owners": owners, "client": client,
           "home": home, "server": inbox, "before": before, "unreported": unreported, **bounties}
    inbox.stop()
    client.store.close()


def _ask(url, signer, client, bounty_id, round_index, *, contributor=None, deadline=None):
    """(HTTP status, answer) of a POST /sent-blobs signed by `signer` for `contributor`'s blob."""
    request = eip712.make_sent_blob_request(bounty_id, round_index, contributor or signer.address,
                                            deadline or int(time.time()) + 600)
    if contributor is None or contributor == signer.address:
        payload = eip712.sent_blob_payload(signer, client.chain_id, client.board_address, request)
    else:  # signed by `signer` for another address's blob
        signed = signer.sign_typed_data(eip712.domain(client.chain_id, client.board_address),
                                        eip712.SENT_BLOB_TYPES, request.message())
        payload = {**request.message(), "signature": "0x" + bytes(signed.signature).hex()}
    try:
        return 200, post_json(url, "/sent-blobs", payload, max_bytes=64 * 1024 * 1024)
    except InboxRefusal as refusal:
        return refusal.status, {"error": refusal.reason}


def lose_kept_files(world, owner):
    """What a wallet restored from its recovery phrase on another computer holds of `owner`'s
    submissions: nothing."""
    address = world["owners"][owner].address.lower()
    lost = [p for p in (world["home"] / KEPT_DIR).rglob(f"{address}-*") if p.is_file()]
    for path in lost:
        path.unlink()
    return lost


def check(world, scenario, owner):
    (result,) = [r for r in verify_rewards(world["client"], world["owners"][owner].address)
                 if r.bounty_id == world[scenario]]
    return result


def test_a_restored_wallet_gets_its_blob_back_and_checks_the_copy_claim(world):
    """Owner 2's update is a real copy of owner 0's. Its restored wallet cannot check the claim
    (it holds no token), asks the inbox with a request its key signed, keeps the token, and
    the practitioner's proof, which opens owner 2's own blob too, proves the claim without
    the update the old computer kept."""
    owners = world["owners"]
    assert lose_kept_files(world, 2)
    lost = check(world, "inbox", 2)
    assert lost.status == NOT_VERIFIABLE and "did not keep what names the claim's copy proof" in lost.detail
    assert RECOVER_HINT in lost.detail
    results = recover_sent(world["client"], owners[2])
    mine = {r.bounty_id: r for r in results if r.round == 0}
    assert mine[world["inbox"]].status == RECOVERED, mine[world["inbox"]].detail
    assert mine[world["files"]].status == RECOVERED, mine[world["files"]].detail  # from the blob file
    data, blob_hash, _blob = submitted_blob(world, world["inbox"], 2)
    assert copy_proof_token_for(world["client"], owners[2].address, world["inbox"], 0, blob_hash) == \
        copy_proof_token(world["inbox"], 0, owners[2].address, data)
    for scenario in ("inbox", "files"):
        result = check(world, scenario, 2)
        assert result.status == NOT_REVEALED, result.differences or result.detail
        assert result.copy_proof == (f"your update is a copy of {owners[0].address}: the copy proof opens the "
                                     "blobs that link it to that submission")
    again = {r.bounty_id: r.status for r in recover_sent(world["client"], owners[2]) if r.round == 0}
    assert again == {world["inbox"]: KEPT, world["files"]: KEPT}


def test_the_inbox_gives_a_blob_back_to_its_owners_key_alone_and_only_after_the_report(world):
    owners, client, url, bounty_id = world["owners"], world["client"], world["server"].url, world["inbox"]
    assert world["before"][0] == 409 and "no report on chain yet" in world["before"][1]["error"]
    status, answer = _ask(url, owners[1], client, bounty_id, 0)
    assert status == 200
    assert base64.b64decode(answer["blob"]) == submitted_blob(world, bounty_id, 1)[0]
    # owner 1 signs a request for owner 2's blob
    status, answer = _ask(url, owners[1], client, bounty_id, 0, contributor=owners[2].address)
    assert status == 403 and f"not signed by {owners[2].address}" in answer["error"]
    status, answer = _ask(url, owners[1], client, bounty_id, 0, deadline=int(time.time()) - 1)
    assert status == 403 and "expired" in answer["error"]
    status, answer = _ask(url, owners[1], client, bounty_id, 0, deadline=int(time.time()) + 2 * 3600)
    assert status == 400 and "ahead" in answer["error"]
    status, answer = _ask(url, owners[1], client, bounty_id, 1)  # round 2: no report yet
    assert status == 409
    status, answer = _ask(url, world["session"].signer, client, bounty_id, 0)  # an address that sent nothing
    assert status == 404 and "submitted nothing" in answer["error"]
    # a file:// bounty's blobs are not this inbox's to give
    status, answer = _ask(url, owners[1], client, world["files"], 0)
    assert status == 404 and "does not hold" in answer["error"]
    # a signature of this request on another board is no signature here
    request = eip712.make_sent_blob_request(bounty_id, 0, owners[1].address, int(time.time()) + 600)
    elsewhere = eip712.sent_blob_payload(owners[1], client.chain_id, "0x" + "11" * 20, request)
    with pytest.raises(InboxRefusal) as refused:
        post_json(url, "/sent-blobs", elsewhere)
    assert refused.value.status == 403


def test_a_blob_that_is_not_the_committed_one_is_kept_by_no_one(world, monkeypatch):
    """An inbox answering owner 0's blob to owner 1: the wallet compares it with owner 1's hash
    on chain and keeps nothing."""
    import wallet.recover

    owners = world["owners"]
    assert lose_kept_files(world, 1)
    other = base64.b64encode(submitted_blob(world, world["inbox"], 0)[0]).decode()
    monkeypatch.setattr(wallet.recover, "post_json", lambda *args, **kwargs: {"blob": other})
    results = {r.bounty_id: r for r in recover_sent(world["client"], owners[1]) if r.round == 0}
    assert results[world["inbox"]].status == UNAVAILABLE
    assert "not the one committed on chain" in results[world["inbox"]].detail
    _data, blob_hash, _blob = submitted_blob(world, world["inbox"], 1)
    assert copy_proof_token_for(world["client"], owners[1].address, world["inbox"], 0, blob_hash) is None
    monkeypatch.undo()
    results = {r.bounty_id: r for r in recover_sent(world["client"], owners[1]) if r.round == 0}
    assert results[world["inbox"]].status == RECOVERED


def test_a_proof_stands_in_for_the_lost_update_only_with_the_owners_own_blob(world):
    """check_copy_proof without a kept update: the proof's own opening must be the copy's own
    blob, opened; an older proof without one leaves the claim unverifiable, and one that opens
    another owner's blob as the copy's is refused."""
    owners, bounty_id = world["owners"], world["inbox"]
    spec = load_spec(world["session"], bounty_id)
    encoding = EncodingParams.from_spec(spec)

    def opened(owner):
        data, blob_hash, blob = submitted_blob(world, bounty_id, owner)
        return OpenedBlob(owners[owner].address, blob_hash, data, *open_blob(world["key"], blob))

    def submitted(address):
        return world["client"].submission(bounty_id, 0, address)["blob_hash"]

    def checked(proof):
        return check_copy_proof(proof, bounty_id=bounty_id, round_index=0, address=owners[2].address,
                                copy_of=owners[0].address, kept=None, public_key=spec.public_key(),
                                encoding=encoding, submitted_hash=submitted, n_params=31)

    original = opened(0)
    honest = copy_proof_bytes(bounty_id, 0, owners[2].address, owners[0].address, [original], opened(2))
    assert checked(honest) == []
    with pytest.raises(OwnUpdateUnknown):
        checked(copy_proof_bytes(bounty_id, 0, owners[2].address, owners[0].address, [original]))
    # owner 0's blob offered as owner 2's own (it is a copy of itself, so only the address tells)
    assert checked(copy_proof_bytes(bounty_id, 0, owners[2].address, owners[0].address, [original], original)) == [
        f"the proof opens {owners[0].address}'s blob as yours"]
    doc = json.loads(honest)
    doc["own"]["blobHash"] = original.blob_hash
    assert checked(json.dumps(doc).encode()) == [
        f"the proof opens a blob {original.blob_hash} that {owners[2].address} did not submit to this round"]
    # owner 1's own plaintexts paired with owner 2's blob
    doc = json.loads(honest)
    doc["own"]["plaintexts"] = [hex(m) for m in opened(1).plaintexts]
    assert checked(json.dumps(doc).encode()) == [
        f"the proof's plaintexts are not the decryption of {owners[2].address}'s blob"]


def test_rounds_without_a_report_are_not_asked_for(world):
    """Before the reports, nothing is asked (there is nothing to check); after, a wallet that
    keeps everything asks nothing either."""
    assert {(r.bounty_id, r.round): r.status for r in world["unreported"]} == {
        (world["inbox"], 0): NOT_YET, (world["files"], 0): NOT_YET}
    results = recover_sent(world["client"], world["owners"][0])
    assert {(r.bounty_id, r.round): r.status for r in results} == {
        (world["inbox"], 0): KEPT, (world["files"], 0): KEPT}


def test_the_request_is_signed_as_eip712_encodes_it():
    """The signature is over EIP-712's digest computed here from the standard's definitions
    (hashStruct of the request under the board's domain), not only over what eth-account makes
    of the types: an inbox written from PROTOCOL.md checks the same bytes."""
    from eth_abi import encode
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address

    signer = Account.from_key("0x" + "42" * 32)
    board, chain_id = to_checksum_address("0x" + "ab" * 20), 31337
    request = eip712.make_sent_blob_request(7, 3, signer.address, 1_900_000_000)
    domain_type = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                              [domain_type, keccak(text="QuarryBountyBoard"), keccak(text="1"), chain_id, board]))
    struct = keccak(encode(["bytes32", "uint256", "uint32", "address", "uint256"],
                           [keccak(text="SentBlobRequest(uint256 bountyId,uint32 round,address contributor,"
                                        "uint256 deadline)"), 7, 3, signer.address, 1_900_000_000]))
    digest = keccak(b"\x19\x01" + separator + struct)
    payload = eip712.sent_blob_payload(signer, chain_id, board, request)
    assert payload["signature"] == "0x" + bytes(Account.unsafe_sign_hash(digest, signer.key).signature).hex()
    assert eip712.sent_blob_request_from_payload(payload, chain_id, board) == request
    with pytest.raises(eip712.InvalidInput, match="not signed by"):
        eip712.sent_blob_request_from_payload(dict(payload, round=4), chain_id, board)
    with pytest.raises(eip712.InvalidInput, match="exactly"):
        eip712.sent_blob_request_from_payload(dict(payload, extra=1), chain_id, board)


def test_the_aiohttp_inbox_gives_blobs_back_by_the_same_rule(world):
    """`serve` runs aiohttp by default: the same route, the same policy."""
    from practitioner.inbox_aio import AioInboxServer

    session, owners, client = world["session"], world["owners"], world["client"]
    policy = InboxPolicy(session)
    server = AioInboxServer(session.home.blob_dir, upload_dir=session.home.upload_dir,
                            sent_blob=policy.sent_blob).start()
    try:
        status, answer = _ask(server.url, owners[0], client, world["inbox"], 0)
        assert status == 200 and base64.b64decode(answer["blob"]) == submitted_blob(world, world["inbox"], 0)[0]
        status, answer = _ask(server.url, owners[0], client, world["inbox"], 0, contributor=owners[1].address)
        assert status == 403
    finally:
        server.stop()
    bare = AioInboxServer(session.home.blob_dir).start()  # an inbox without the chain gives nothing back
    try:
        status, answer = _ask(bare.url, owners[0], client, world["inbox"], 0)
        assert status == 404 and answer["error"] == "this inbox does not give blobs back"
    finally:
        bare.stop()


def test_a_rate_limited_inbox_is_waited_for_not_given_up_on(world, monkeypatch):
    """A wallet with many rounds empties the inbox's per-client bucket (here two requests, then
    one every two seconds: one asks, then the spec is fetched and the blob asked for): the
    wallet waits for it to refill and gets its blob; told not to wait, it says the inbox
    refused and keeps nothing."""
    import wallet.recover
    from practitioner.inbox import _TokenBuckets

    owners, server, client = world["owners"], world["server"], world["client"]
    data, blob_hash, _blob = submitted_blob(world, world["inbox"], 0)
    assert lose_kept_files(world, 0)
    waits, sleep = [], time.sleep
    monkeypatch.setattr(wallet.recover.time, "sleep", lambda seconds: (waits.append(seconds), sleep(seconds)))
    generous = server.buckets
    try:
        server.buckets = _TokenBuckets(0.001, 2)  # no refill to speak of
        monkeypatch.setattr(wallet.recover, "RATE_LIMIT_ATTEMPTS", 1)
        assert _ask(server.url, owners[0], client, world["inbox"], 0)[0] == 200
        refused = {r.bounty_id: r for r in recover_sent(client, owners[0]) if r.round == 0}
        assert refused[world["inbox"]].status == UNAVAILABLE and waits == []
        assert refused[world["inbox"]].detail == "the inbox did not give its blob back: too many requests; slow down"
        assert copy_proof_token_for(client, owners[0].address, world["inbox"], 0, blob_hash) is None
        monkeypatch.setattr(wallet.recover, "RATE_LIMIT_ATTEMPTS", 4)
        server.buckets = _TokenBuckets(0.5, 2)
        assert _ask(server.url, owners[0], client, world["inbox"], 0)[0] == 200
        waited = {r.bounty_id: r for r in recover_sent(client, owners[0]) if r.round == 0}
    finally:
        server.buckets = generous
    assert waited[world["inbox"]].status == RECOVERED, waited[world["inbox"]].detail
    assert waits and waits[0] == wallet.recover.RATE_LIMIT_WAIT_SECONDS  # it was refused, waited, asked again
    assert copy_proof_token_for(client, owners[0].address, world["inbox"], 0, blob_hash) == \
        copy_proof_token(world["inbox"], 0, owners[0].address, data)
