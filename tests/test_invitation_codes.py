"""Invitation codes (practitioner.invitations.make_codes / redeem_code, the inbox's
`POST /invitations`, wallet.invitations.redeem_invitation_code): single-use codes a
practitioner hands out when it does not know its owners' addresses yet. Each runs on a real
EVM and a real inbox on 127.0.0.1, both servers: a code invites exactly one address, however
many ask at once; a sybil holding someone else's used code gets nothing; only the codes'
hashes are kept."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account

from practitioner import invitations
from practitioner.admission import InboxPolicy
from practitioner.evaluate import load_spec
from practitioner.inbox import InboxServer, Refused
from practitioner.inbox_aio import AioInboxServer
from practitioner.invitations import CODES_FILE, INVITED_FILE, code_counts, make_codes, redeem_code
from practitioner.post import post_bounty
from tests.chain_fixtures import TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from wallet.bounties import BountyClient
from wallet.errors import InvalidInput
from wallet.invitations import kept_invitation, normalize_code, redeem_invitation_code
from wallet.store import Store

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"


@pytest.fixture(scope="module", params=[InboxServer, AioInboxServer], ids=["stdlib", "aiohttp"])
def world(request, tmp_path_factory):
    market, session, _key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    policy = InboxPolicy(session)
    inbox = request.param(session.home.blob_dir, upload_dir=session.home.upload_dir, admit=policy.admit_upload,
                          relay=policy.relay, redeem=policy.redeem_invitation, burst=500).start()
    session.inbox_url = inbox.url
    post = {"validation_files": [str(DEMO / "wine_validation.csv")], "reward_per_round": TOKEN_UNIT,
            "rounds": 1, "round_seconds": 600}
    bounty_id = post_bounty(session, DEMO / "wine_spec.json", by_invitation=True, **post).bounty_id
    open_bounty = post_bounty(session, DEMO / "wine_spec.json", **post).bounty_id
    home = tmp_path_factory.mktemp("owner")
    store = Store(home)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    yield {"session": session, "policy": policy, "inbox": inbox, "client": client, "home": home,
           "bounty": bounty_id, "open": open_bounty, "spec": load_spec(session, bounty_id)}
    inbox.stop()
    store.close()


def _post(inbox, body: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*inbox.server_address[:2], timeout=30)
    try:
        connection.request("POST", "/invitations", body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_a_code_is_25_base32_letters_and_only_its_hash_is_kept(world):
    session, bounty_id = world["session"], world["bounty"]
    codes = make_codes(session, world["spec"], bounty_id, 3)
    assert len(set(codes)) == 3
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [5] * 5 and normalize_code(code.lower().replace("-", " ")) == code.replace("-", "")
    kept = (session.bounty_dir(bounty_id) / CODES_FILE).read_text()
    assert not any(code.replace("-", "") in kept or code in kept for code in codes)
    assert oct((session.bounty_dir(bounty_id) / CODES_FILE).stat().st_mode & 0o777) == "0o600"
    for typo in ("", "ABCDE-FGHIJ", codes[0] + "A", codes[0].replace(codes[0][0], "0")):
        with pytest.raises(InvalidInput, match="not an invitation code"):
            normalize_code(typo)
    with pytest.raises(InvalidInput, match="open to everyone"):
        make_codes(session, load_spec(session, world["open"]), world["open"], 1)
    with pytest.raises(InvalidInput, match="between 1 and"):
        make_codes(session, world["spec"], bounty_id, 0)


def test_an_owner_redeems_a_code_once_and_a_second_address_gets_nothing(world):
    session, client, bounty_id, spec = world["session"], world["client"], world["bounty"], world["spec"]
    (code,) = make_codes(session, spec, bounty_id, 1)
    owner, sybil = Account.create().address, Account.create().address
    before = code_counts(session, bounty_id)
    # the policy refuses an owner the bounty did not invite yet
    with pytest.raises(Refused, match="is not invited"):
        world["policy"].check_invited(bounty_id, owner)

    invitation = redeem_invitation_code(client, bounty_id, code.lower(), account=owner)
    assert (invitation.bounty_id, invitation.contributor) == (bounty_id, owner)
    assert invitation.signer() == spec.invitation_signer == session.signer.address
    assert kept_invitation(world["home"], client.chain_id, client.board_address, bounty_id, owner,
                           spec.invitation_signer) == invitation
    world["policy"].check_invited(bounty_id, owner)  # admitted now: its uploads will be taken
    assert owner.lower() in json.loads((session.bounty_dir(bounty_id) / INVITED_FILE).read_text())["invited"]
    assert code_counts(session, bounty_id) == (before[0], before[1] + 1)
    # redeeming again for the same address answers the same invitation (a lost answer is retried)
    assert redeem_invitation_code(client, bounty_id, code, account=owner) == invitation

    # the sybil holds the used code: refused, and not invited
    with pytest.raises(InvalidInput, match="already used for another address"):
        redeem_invitation_code(client, bounty_id, code, account=sybil)
    with pytest.raises(Refused, match="is not invited"):
        world["policy"].check_invited(bounty_id, sybil)
    # a code of this bounty's format that it never made
    with pytest.raises(InvalidInput, match="does not know this code"):
        redeem_invitation_code(client, bounty_id, "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", account=sybil)
    # an open bounty needs no code: refused before anything is sent
    with pytest.raises(InvalidInput, match="open to everyone"):
        redeem_invitation_code(client, world["open"], code, account=sybil)
    assert sybil.lower() not in json.loads((session.bounty_dir(bounty_id) / INVITED_FILE).read_text())["invited"]


def test_many_addresses_racing_for_one_code_invite_exactly_one(world, monkeypatch):
    session, bounty_id, inbox = world["session"], world["bounty"], world["inbox"]
    (code,) = make_codes(session, world["spec"], bounty_id, 1)
    # a slow disk: marking the code takes a while, so unserialised requests would all see it unused
    write_codes = invitations._write_codes

    def slow_write(*args):
        time.sleep(0.05)
        write_codes(*args)

    monkeypatch.setattr(invitations, "_write_codes", slow_write)
    racers = [Account.create().address for _ in range(12)]
    answers: dict[str, tuple[int, dict]] = {}
    start = threading.Barrier(len(racers))

    def race(address: str) -> None:
        start.wait()
        answers[address] = _post(inbox, {"bountyId": bounty_id, "code": code, "contributor": address})

    threads = [threading.Thread(target=race, args=(a,)) for a in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in answers.values())
    assert statuses == [200] + [409] * (len(racers) - 1), answers
    (winner,) = [a for a, (status, _) in answers.items() if status == 200]
    assert answers[winner][1]["invitation"]["contributor"] == winner
    invited = set(json.loads((session.bounty_dir(bounty_id) / INVITED_FILE).read_text())["invited"])
    assert winner.lower() in invited and not invited & {a.lower() for a in racers if a != winner}


def test_the_inbox_answers_malformed_and_foreign_requests_with_their_reason(world):
    inbox, bounty_id = world["inbox"], world["bounty"]
    owner = Account.create().address
    (code,) = make_codes(world["session"], world["spec"], bounty_id, 1)
    for body, status, reason in (
        ({"bountyId": bounty_id, "code": code}, 400, "body must have exactly"),
        ({"bountyId": "1", "code": code, "contributor": owner}, 400, "bountyId must be"),
        ({"bountyId": bounty_id, "code": "nope", "contributor": owner}, 400, "not an invitation code"),
        ({"bountyId": bounty_id, "code": code, "contributor": owner.lower()}, 400, "checksum"),
        ({"bountyId": 999, "code": code, "contributor": owner}, 403, "not one of this inbox's bounties"),
        ({"bountyId": world["open"], "code": code, "contributor": owner}, 403, "open to everyone"),
    ):
        answer = _post(inbox, body)
        assert answer[0] == status and reason in answer[1]["error"], (body, answer)
    # none of those used the code
    assert _post(inbox, {"bountyId": bounty_id, "code": code, "contributor": owner})[0] == 200


def test_an_inbox_without_the_practitioners_key_does_not_redeem(world, tmp_path):
    session = world["session"]
    bare = InboxServer(tmp_path / "blobs").start()  # as `serve` runs without --account
    try:
        status, answer = _post(bare, {"bountyId": 1, "code": "A" * 25, "contributor": Account.create().address})
        assert status == 404 and answer["error"] == "this inbox does not redeem invitation codes"
    finally:
        bare.stop()
    # and redeem_code itself refuses a session whose key is not the spec's signer
    from dataclasses import replace

    (code,) = make_codes(session, world["spec"], world["bounty"], 1)
    with pytest.raises(Refused, match="not by this practitioner's key"):
        redeem_code(replace(session, signer=Account.create()), world["spec"], world["bounty"], code,
                    Account.create().address)
