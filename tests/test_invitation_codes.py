"""Invitation codes (practitioner.invitations.make_codes / redeem_code, the inbox's
`POST /invitations`, wallet.invitations.redeem_invitation_code): single-use codes a
practitioner hands out when it does not know its owners' addresses yet. Each runs on a real
EVM and a real inbox on 127.0.0.1, both servers: a code invites exactly one address, however
many ask at once; a sybil holding someone else's used code gets nothing; only the codes'
hashes are kept."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

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
from wallet.errors import InvalidInput, NetworkError
from wallet.invitations import (
    kept_invitation,
    normalize_code,
    redeem_invitation_code,
    sign_invitation,
)
from wallet.store import Store

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "resources" / "demo"


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
    # a bounty whose practitioner runs no inbox (the embedded network's file:// blobs)
    real_inbox, session.inbox_url = session.inbox_url, ""
    try:
        no_inbox = post_bounty(session, DEMO / "wine_spec.json", by_invitation=True,
                               validation_files=[str(DEMO / "wine_validation.csv")], reward_per_round=TOKEN_UNIT,
                               rounds=1, round_seconds=600).bounty_id
    finally:
        session.inbox_url = real_inbox
    with pytest.raises(InvalidInput, match="runs no inbox .* ask it for an invitation file"):
        redeem_invitation_code(client, no_inbox, code, account=owner)
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
    with pytest.raises(Refused, match="not by this practitioner's key") as refused:
        redeem_code(replace(session, signer=Account.create()), world["spec"], world["bounty"], code,
                    Account.create().address)
    assert refused.value.status == 404  # the wallet words it as "runs without the key that signs"


class _HostileInbox(BaseHTTPRequestHandler):
    """Serves the practitioner's blobs (so the spec checks out) and answers every POST with
    `answer`: what a hostile or broken inbox could send back for a code."""

    blob_dir: ClassVar[Path]
    answer: ClassVar[bytes] = b""

    def do_GET(self):  # noqa: N802
        path = self.blob_dir / self.path.rsplit("/", 1)[-1]
        body = path.read_bytes() if path.is_file() else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args):
        pass


def test_a_hostile_inbox_cannot_make_the_wallet_keep_a_false_invitation(world):
    """The answer is checked like a file: another key's signature, another address's
    invitation, something not JSON or too large are refused, and nothing is kept."""
    session, client = world["session"], world["client"]
    _HostileInbox.blob_dir = session.home.blob_dir
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileInbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_inbox = session.inbox_url
    try:
        session.inbox_url = f"http://127.0.0.1:{server.server_address[1]}"
        bounty_id = post_bounty(session, DEMO / "wine_spec.json", by_invitation=True,
                                validation_files=[str(DEMO / "wine_validation.csv")], reward_per_round=TOKEN_UNIT,
                                rounds=1, round_seconds=600).bounty_id
        me, someone = Account.create().address, Account.create().address
        code = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"

        def invitation(signer, contributor) -> bytes:
            signed = sign_invitation(signer, client.chain_id, client.board_address, bounty_id, contributor)
            return json.dumps({"invitation": signed.to_json()}).encode()

        for answer, error, message in (
            (invitation(Account.create(), me), InvalidInput, "not signed by the bounty's practitioner"),
            (invitation(session.signer, someone), InvalidInput, f"for {someone}, not for {me}"),
            (b"<html>", NetworkError, "not a JSON object"),
            (b'{"invitation": "' + b"x" * 100_000 + b'"}', NetworkError, "not a JSON object"),
            (b'{"invitation": 5}', NetworkError, "without an invitation"),
        ):
            _HostileInbox.answer = answer
            with pytest.raises(error, match=message):
                redeem_invitation_code(client, bounty_id, code, account=me)
        assert not (world["home"] / "invitations").exists() or not any(
            (world["home"] / "invitations").rglob(f"{bounty_id}/*.json"))
        # the same inbox answering a true invitation is kept: the checks, not the source, decide
        _HostileInbox.answer = invitation(session.signer, me)
        assert redeem_invitation_code(client, bounty_id, code, account=me).contributor == me
    finally:
        session.inbox_url = real_inbox
        server.shutdown()
        server.server_close()


def test_the_codes_lock_holds_across_processes(tmp_path):
    """`invite --codes` and the inbox's redemptions run in different processes: while one
    holds the bounty's lock, the other waits (a file lock), so neither's write is lost."""
    session = SimpleNamespace(bounty_dir=lambda _bounty: tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time, types, pathlib\n"
            "from practitioner.invitations import _locked\n"
            "folder = pathlib.Path(sys.argv[1])\n"
            "with _locked(types.SimpleNamespace(bounty_dir=lambda _b: folder), 1):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(1.0)\n"
            "    (folder / 'written').write_text('by the other process')\n"
        ), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with invitations._locked(session, 1):
            assert (tmp_path / "written").read_text() == "by the other process"
    finally:
        holder.communicate(timeout=30)
    assert holder.returncode == 0
