"""Bounties by invitation (wallet.invitations, practitioner.invitations): an identity-level
limit on sybils and strangers. The EIP-712 digest is checked against the spec's definition
computed by hand; the flow runs on a real EVM with real Paillier blobs: a sybil's second
address (the same rows as an invited owner) and a stranger are paid nothing and leave the
invited owners' pay as it would be without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys

from practitioner.admission import InboxPolicy
from practitioner.evaluate import awaited_uploads, evaluate_round, load_spec
from practitioner.finalize import finalize_round
from practitioner.inbox import Refused
from practitioner.invitations import INVITED_FILE, invite
from practitioner.post import post_bounty, read_spec_file
from practitioner.report import parse_report
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from trainer.data import load_data
from trainer.errors import SpecError
from trainer.models import model_from_bytes
from trainer.spec import BountySpec
from trainer.update import encrypt_to_blob, make_update
from wallet.bounties import BountyClient
from wallet.contribute import contribute
from wallet.errors import InvalidInput
from wallet.invitations import (
    add_invitation,
    check_invitation,
    kept_invitation,
    parse_invitation,
    sign_invitation,
)
from wallet.store import Store
from wallet.tx import transact

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
BOARD = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REWARD = 10 * TOKEN_UNIT


def _word(value: int | bytes) -> bytes:
    return value.rjust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")


def test_the_signature_is_eip712_over_the_boards_domain():
    """The digest by EIP-712's own definition: keccak(0x1901 || domainSeparator || hashStruct)."""
    practitioner = Account.from_key(b"\x01" * 32)
    owner = Account.from_key(b"\x02" * 32).address
    invitation = sign_invitation(practitioner, 31337, BOARD, 7, owner)
    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(domain_type + keccak(b"QuarryBountyBoard") + keccak(b"1") + _word(31337)
                       + _word(bytes.fromhex(BOARD[2:])))
    struct = keccak(keccak(b"Invitation(uint256 bountyId,address contributor)") + _word(7)
                    + _word(bytes.fromhex(owner[2:])))
    digest = keccak(b"\x19\x01" + separator + struct)
    signature = bytes.fromhex(invitation.signature[2:])
    recovered = keys.Signature(signature[:64] + bytes([signature[64] - 27])).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == practitioner.address == invitation.signer()


def test_an_invitation_is_checked_for_its_bounty_owner_network_and_signer():
    practitioner, other = Account.create(), Account.create()
    owner = Account.create().address
    invitation = parse_invitation(json.dumps(sign_invitation(practitioner, 1, BOARD, 3, owner).to_json()).encode())
    ok = {"chain_id": 1, "board": BOARD, "bounty_id": 3, "contributor": owner, "signer": practitioner.address}
    check_invitation(invitation, **ok)
    for change, message in (
        ({"bounty_id": 4}, "for bounty 3, not bounty 4"),
        ({"contributor": other.address}, f"for {owner}, not for {other.address}"),
        ({"chain_id": 2}, "another network"),
        ({"signer": other.address}, "not signed by the bounty's practitioner"),
    ):
        with pytest.raises(InvalidInput, match=message):
            check_invitation(invitation, **{**ok, **change})
    # an invitation signed by someone else for this very bounty and owner is refused too
    forged = sign_invitation(other, 1, BOARD, 3, owner)
    with pytest.raises(InvalidInput, match="not signed by"):
        check_invitation(forged, **ok)


@pytest.mark.parametrize("data, message", [
    (b"\xff\xfe", "not JSON"),
    (b"[1]", "not a Quarry invitation"),
    (b'{"quarryInvitation": 1, "chainId": 1}', "lacks board, bountyId, contributor, signature"),
    (json.dumps({"quarryInvitation": 1, "chainId": -1, "board": BOARD, "bountyId": 1,
                 "contributor": BOARD, "signature": "0x" + "00" * 65}).encode(), "chainId must be"),
    (json.dumps({"quarryInvitation": 1, "chainId": 1, "board": BOARD, "bountyId": 1,
                 "contributor": BOARD, "signature": "0x12"}).encode(), "0x \\+ 65 bytes"),
    (b" " * 5000, "larger than"),
])
def test_a_malformed_invitation_file_is_refused_with_its_reason(data, message):
    with pytest.raises(InvalidInput, match=message):
        parse_invitation(data)


def test_the_spec_field_is_optional_checked_and_leaves_older_specs_hash_alone(market):
    open_spec = load_spec(market["session"], market["open"])
    assert open_spec.invitation_signer is None and "invitation_signer" not in open_spec.to_json()
    base = open_spec.to_json()
    signer = Account.create().address
    for bad in (signer.lower(), "0x1234", 5):
        with pytest.raises(SpecError, match="invitation_signer"):
            BountySpec.from_json({**base, "invitation_signer": bad})
    invited = BountySpec.from_json({**base, "invitation_signer": signer})
    assert invited.invitation_signer == signer
    assert BountySpec.from_json_bytes(invited.to_json_bytes()) == invited
    assert BountySpec.from_json(base).to_json_bytes() == open_spec.to_json_bytes()


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A bounty by invitation and an open one; two invited owners, a sybil (owner A's rows from
    a second address) and a stranger."""
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    spec_file = DEMO / "breast_cancer_spec.json"
    post = {"validation_files": [str(DEMO / "breast_cancer_validation.csv")], "reward_per_round": REWARD,
            "rounds": 1, "round_seconds": 600}
    by_invitation = post_bounty(session, spec_file, by_invitation=True, **post).bounty_id
    open_bounty = post_bounty(session, spec_file, raw_spec=read_spec_file(spec_file), **post).bounty_id
    home = tmp_path_factory.mktemp("owners")
    store = Store(home)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    people = {name: funded_signer(market.chain) for name in ("a", "b", "sybil", "stranger")}
    yield {"market": market, "session": session, "key": private_key, "client": client, "home": home,
           "bounty": by_invitation, "open": open_bounty, "people": people,
           "files": tmp_path_factory.mktemp("invitations")}
    store.close()


def _contribute(world, who: str, data: str):
    return contribute(world["client"], world["people"][who], world["bounty"], [DEMO / data],
                      file_roots=[world["session"].home.root], blob_dir=world["home"] / "blobs")


def test_only_invited_owners_are_paid_and_a_sybil_takes_nothing(market):
    world = market
    session, client, people, bounty_id = world["session"], world["client"], world["people"], world["bounty"]
    spec = load_spec(session, bounty_id)
    assert spec.invitation_signer == session.signer.address

    # the practitioner invites a and b; the files go to their owners out of band
    written = invite(session, spec, bounty_id, [people["a"].address, people["b"].address], world["files"])
    assert [p.name for p in written] == [f"invitation-{bounty_id}-{people[w].address}.json" for w in "ab"]
    # the wallet refuses to train without one, before any work is done
    with pytest.raises(InvalidInput, match=f"Bounty {bounty_id} is by invitation"):
        _contribute(world, "a", "breast_cancer_owner_a.csv")
    # an invitation for someone else, or for another bounty, is not kept
    with pytest.raises(InvalidInput, match=f"for {people['a'].address}, not for {people['sybil'].address}"):
        add_invitation(client, written[0].read_bytes(), account=people["sybil"].address)
    elsewhere = sign_invitation(session.signer, client.chain_id + 1, client.board_address, bounty_id,
                                people["a"].address)
    with pytest.raises(InvalidInput, match=f"is for chain {client.chain_id + 1}, board"):
        add_invitation(client, json.dumps(elsewhere.to_json()).encode(), account=people["a"].address)
    other = sign_invitation(session.signer, client.chain_id, client.board_address, world["open"], people["a"].address)
    with pytest.raises(InvalidInput, match="open to everyone"):
        add_invitation(client, json.dumps(other.to_json()).encode(), account=people["a"].address)
    for who, path in zip("ab", written, strict=True):
        add_invitation(client, path.read_bytes(), account=people[who].address)
        assert kept_invitation(world["home"], client.chain_id, client.board_address, bounty_id,
                               people[who].address, spec.invitation_signer) is not None

    _contribute(world, "a", "breast_cancer_owner_a.csv")
    _contribute(world, "b", "breast_cancer_owner_b.csv")
    # a hostile client ignores the wallet's refusal: the sybil sends owner a's rows from a
    # second address (a real blob, stored where the inbox would keep it); the stranger commits
    # a blob that does not exist
    round_info = session.client.round(bounty_id, 0)
    start = model_from_bytes(session.blob(round_info.model_hash, round_info.model_uri), spec).get_params()
    x, y = load_data([DEMO / "breast_cancer_owner_a.csv"], spec)
    sybil_blob = encrypt_to_blob(spec, bounty_id, 0, make_update(spec, start, x, y))
    digest, uri = session.publish(sybil_blob)
    sybil, stranger = people["sybil"], people["stranger"]
    for signer, blob_hash, blob_uri in ((sybil, digest, uri), (stranger, "0x" + "44" * 32, "file:///nowhere/blob")):
        transact(client.w3, signer, client.board.functions.submit(bounty_id, 0, bytes.fromhex(blob_hash[2:]), blob_uri),
                 expected_chain_id=client.chain_id)
    # nothing to wait for: the two missing blobs are from addresses that were not invited
    assert awaited_uploads(session, spec, bounty_id, 0) == 0

    world["market"].chain.advance(601)
    evaluate_round(session, bounty_id, 0, world["key"])
    finalize_round(session, bounty_id, 0)
    report = parse_report(session.blob(session.client.round(bounty_id, 0).report_hash))
    rejected = {r["address"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == {sybil.address, stranger.address}
    # rejected unread: not "blob unavailable"
    assert all(reason.startswith("not invited: bounty") for reason in rejected.values())
    paid = {line["address"]: int(line["amount"]) for line in report["contributors"]}
    assert set(paid) == {people["a"].address, people["b"].address} and min(paid.values()) > 0
    assert json.loads((session.bounty_dir(bounty_id) / INVITED_FILE).read_text())["invited"] == sorted(
        p.address.lower() for p in (people["a"], people["b"]))
    # inviting again adds, never withdraws (PROTOCOL.md: the record only grows)
    invite(session, spec, bounty_id, [people["b"].address], world["files"] / "again")
    assert json.loads((session.bounty_dir(bounty_id) / INVITED_FILE).read_text())["invited"] == sorted(
        p.address.lower() for p in (people["a"], people["b"]))


def test_invite_refuses_an_open_bounty_another_key_and_unchecked_addresses(market, tmp_path):
    world = market
    session, people = world["session"], world["people"]
    open_spec = load_spec(session, world["open"])
    with pytest.raises(InvalidInput, match="open to everyone"):
        invite(session, open_spec, world["open"], [people["a"].address], tmp_path)
    spec = load_spec(session, world["bounty"])
    with pytest.raises(InvalidInput, match="EIP-55|checksum"):
        invite(session, spec, world["bounty"], [people["a"].address.lower()], tmp_path)
    from dataclasses import replace

    with pytest.raises(InvalidInput, match="not by this practitioner's key"):
        invite(replace(session, signer=Account.create()), spec, world["bounty"], [people["a"].address], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_inbox_refuses_uploads_and_relays_of_addresses_not_invited(market, tmp_path):
    """Before any valuation: the inbox stores no blob of, and relays (pays gas) for no
    submission of, an address the bounty did not invite."""
    world = market
    session, client, people = world["session"], world["client"], world["people"]
    bounty_id = post_bounty(session, DEMO / "breast_cancer_spec.json", by_invitation=True,
                            validation_files=[str(DEMO / "breast_cancer_validation.csv")],
                            reward_per_round=REWARD, rounds=1, round_seconds=600).bounty_id
    spec = load_spec(session, bounty_id)
    invite(session, spec, bounty_id, [people["a"].address], tmp_path)
    policy = InboxPolicy(session)
    stranger = people["stranger"]
    round_info = session.client.round(bounty_id, 0)
    start = model_from_bytes(session.blob(round_info.model_hash, round_info.model_uri), spec).get_params()
    x, y = load_data([DEMO / "breast_cancer_owner_b.csv"], spec)
    blob = encrypt_to_blob(spec, bounty_id, 0, make_update(spec, start, x, y))
    digest = "0x" + keccak(blob).hex()
    transact(client.w3, stranger, client.board.functions.submit(bounty_id, 0, keccak(blob), "http://inbox/b"),
             expected_chain_id=client.chain_id)
    with pytest.raises(Refused, match="is by invitation") as refused:
        policy.admit_upload(digest, blob, stranger.address)
    assert refused.value.status == 403

    payload = client.sign_gasless(people["sybil"], bounty_id, "0x" + "55" * 32, "http://inbox/s")
    with pytest.raises(Refused, match=f"{people['sybil'].address} is not invited") as refused:
        policy.relay(payload)
    assert refused.value.status == 403
    invited = client.sign_gasless(people["a"], bounty_id, "0x" + "66" * 32, "http://inbox/a")
    assert policy.relay(invited).startswith("0x")  # the invited owner's is relayed
