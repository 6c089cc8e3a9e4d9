"""Copy proofs (trainer/copy_proof.py, Valuation step 2): a report that counts an owner's update
as a copy must come with a proof, served by the practitioner's inbox to that owner only, that
opens the blobs linking it to the credited original. On a real EVM with real Paillier blobs
uploaded to a real inbox on 127.0.0.1: the practitioner's own evaluation proves a real copy;
a practitioner crediting an honest owner's update to another address is caught by that owner
before any reveal, whether it serves no proof, a proof of updates that are no copies, or
plaintexts that are not its blobs' decryption."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from contextlib import nullcontext
from unittest.mock import patch

import numpy as np
import pytest
from eth_utils import keccak
from phe import paillier

from practitioner.inbox import InboxServer
from practitioner.inbox_aio import AioInboxServer
from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT
from tests.practitioner_fixtures import practitioner_on_market
from tests.verify_fixtures import (
    DEMO,
    REWARD,
    contributing_owners,
    honest_round,
    load_spec,
    submitted_blob,
)
from trainer.copy_proof import (
    COPY_EXACT_COSINE,
    CopyProofError,
    OpenedBlob,
    check_copy_proof,
    copy_proof_bytes,
    copy_proof_token,
    decryption_nonce,
    is_copy_link,
    max_proof_bytes,
    open_blob,
    opens,
)
from trainer.encoding import EncodingParams
from trainer.shapley import copy_groups, copy_path
from wallet.kept_updates import kept_update_for
from wallet.verify import MISMATCH, NOT_REVEALED, NOT_VERIFIABLE, verify_rewards

# owner 2 sends owner 0's file from its own wallet, without noise: the same update, another blob
FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv", "breast_cancer_owner_a.csv"]
SCENARIOS = ("evaluated", "unproved", "unlinked", "misopened", "no_inbox", "unreachable", "version1", "rules1")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    market.mint(session.signer.address, 100 * TOKEN_UNIT)
    inbox = InboxServer(session.home.blob_dir, rate=1000.0, burst=1000).start()  # every check reads every round
    bounties = {}
    for name in SCENARIOS:
        session.inbox_url = "" if name == "no_inbox" else inbox.url
        # "rules1": a bounty posted before copy proofs (valuation_rules 1)
        rules = patch("practitioner.post.VALUATION_RULES", 1) if name == "rules1" else nullcontext()
        with rules:
            bounties[name] = post_bounty(
                session, DEMO / "breast_cancer_spec.json", raw_spec=read_spec_file(DEMO / "breast_cancer_spec.json"),
                validation_files=[str(DEMO / "breast_cancer_validation.csv")], reward_per_round=REWARD,
                rounds=2, round_seconds=600).bounty_id
    session.inbox_url = inbox.url
    home = tmp_path_factory.mktemp("owner")
    client, owners = contributing_owners(market, session, home, list(bounties.values()), FILES)
    market.chain.advance(601)
    yield {"market": market, "session": session, "key": private_key, "owners": owners, "client": client,
           "inbox": inbox, **bounties}
    inbox.stop()
    client.store.close()


def check(world, scenario, owner):
    results = verify_rewards(world["client"], world["owners"][owner].address)
    (result,) = [r for r in results if r.bounty_id == world[scenario]]
    return result


def submission(world, scenario, owner):
    """(blob bytes, blob hash, parsed blob) of an owner's submission to round 0."""
    return submitted_blob(world, world[scenario], owner)


def kept(world, scenario, owner):
    found = world["client"].submission(world[scenario], 0, world["owners"][owner].address)
    return kept_update_for(world["client"], world["owners"][owner].address, world[scenario], 0, found["blob_hash"])


def forge(world, scenario, copier, steps):
    """Finalise round 0 of `scenario` with owners 1 and 2 counted as copies of owner 0, and serve
    a proof for `copier` that opens `steps`: (owner whose blob it opens, owner whose plaintexts,
    owner whose nonces) each."""
    owners = world["owners"]
    honest_round(world, world[scenario], copies={1: 0, 2: 0})
    path = []
    for blob_owner, plaintext_owner, nonce_owner in steps:
        data, blob_hash, _blob = submission(world, scenario, blob_owner)
        plaintexts, _ = open_blob(world["key"], submission(world, scenario, plaintext_owner)[2])
        _, nonces = open_blob(world["key"], submission(world, scenario, nonce_owner)[2])
        path.append(OpenedBlob(owners[blob_owner].address, blob_hash, data, plaintexts, nonces))
    write_proof(world, scenario, copier, copy_proof_bytes(world[scenario], 0, owners[copier].address,
                                                          owners[0].address, path))


def write_proof(world, scenario, copier, data):
    """Serve `data` as the copy proof of `copier`'s update (the token its wallet will ask for)."""
    token = copy_proof_token(world[scenario], 0, world["owners"][copier].address, submission(world, scenario, copier)[0])
    directory = world["session"].home.copy_proof_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / token).write_bytes(data)
    return token


# -- Paillier openings against phe's own encryption -------------------------------------------


def test_a_nonce_opens_phes_ciphertext_and_nothing_else():
    public_key, private_key = paillier.generate_paillier_keypair(n_length=512)
    for plaintext in (0, 1, 12345, public_key.n - 1):
        ciphertext = public_key.raw_encrypt(plaintext)  # phe's own (1 + m n) r^n mod n^2
        nonce = decryption_nonce(private_key, ciphertext)
        assert opens(public_key.n, ciphertext, plaintext, nonce)
        assert not opens(public_key.n, ciphertext, (plaintext + 1) % public_key.n, nonce)
        assert not opens(public_key.n, ciphertext, plaintext, nonce + 1)
    # an opening of another ciphertext of the same plaintext does not open this one
    one, other = public_key.raw_encrypt(7), public_key.raw_encrypt(7)
    assert not opens(public_key.n, one, 7, decryption_nonce(private_key, other))


def test_the_token_needs_the_owners_blob_and_address():
    blob = bytes(range(200))
    token = copy_proof_token(3, 1, "0x" + "11" * 20, blob)
    assert token == copy_proof_token(3, 1, "0x" + "11" * 20, bytes(blob))
    assert token != copy_proof_token(3, 1, "0x" + "22" * 20, blob)
    assert token != copy_proof_token(3, 0, "0x" + "11" * 20, blob)
    assert token != copy_proof_token(3, 1, "0x" + "11" * 20, blob[:-1] + b"\x00")
    assert token != "0x" + keccak(blob).hex()  # not the blob's hash on chain


def test_copy_links_follow_the_protocols_cosines():
    rng = np.random.default_rng(0)
    small = rng.normal(size=30)
    assert is_copy_link(small, 3.0 * small)  # a scaled copy
    assert not is_copy_link(small, -small)
    near = small + 1e-2 * np.linalg.norm(small) / np.sqrt(30) * rng.normal(size=30)  # ~1 % noise
    assert not is_copy_link(small, near)  # under 100 parameters only the exact rule links
    big = rng.normal(size=200)
    noisy = big + 0.05 * np.linalg.norm(big) / np.sqrt(200) * rng.normal(size=200)
    assert is_copy_link(big, noisy)  # from 100 parameters, cosine > 0.995 may be a copy
    assert not is_copy_link(big, rng.normal(size=200))


def test_a_copy_joined_through_another_gets_the_whole_path():
    """Single linkage can join a and c only through b: the proof must open b too."""
    a = np.zeros(20)
    a[0] = 1.0
    turn = np.arccos(COPY_EXACT_COSINE) * 0.8  # each step a copy, two steps not
    b = np.cos(turn) * a + np.sin(turn) * np.eye(20)[1]
    c = np.cos(2 * turn) * a + np.sin(2 * turn) * np.eye(20)[1]
    assert is_copy_link(a, b) and is_copy_link(b, c) and not is_copy_link(a, c)
    links: list[tuple[int, int]] = []
    groups = copy_groups([a, b, c], [(0, "a"), (1, "b"), (2, "c")], links=links)
    assert groups == [[0, 1, 2]]
    assert copy_path(2, 0, links) == [2, 1, 0] and copy_path(1, 0, links) == [1, 0]


# -- the inbox serves a proof by its token, and nothing else by it ---------------------------


@pytest.mark.parametrize("server_class", [InboxServer, AioInboxServer])
def test_the_inbox_serves_a_copy_proof_only_under_its_token(tmp_path, server_class):
    server = server_class(tmp_path / "blobs").start()
    try:
        token = "0x" + "ab" * 32
        (tmp_path / "copy-proofs").mkdir()
        (tmp_path / "copy-proofs" / token).write_bytes(b'{"kind":"quarry-copy-proof"}')
        with urllib.request.urlopen(f"{server.url}/copy-proofs/{token}") as answer:
            assert answer.status == 200 and answer.read() == b'{"kind":"quarry-copy-proof"}'
        for path in (f"/copy-proofs/0x{'cd' * 32}", f"/blobs/{token}", "/copy-proofs/../blobs"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{server.url}{path}")
            assert refused.value.code == 404
    finally:
        server.stop()


# -- on chain --------------------------------------------------------------------------------


def test_the_practitioners_own_evaluation_proves_a_real_copy(world):
    """Owner 2 sent owner 0's rows again from another wallet: the evaluation counts it as a copy
    of owner 0 (who submitted first) and writes its proof; owner 2's wallet checks it before
    any reveal, and the other owners have nothing to check."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    owners = world["owners"]
    evaluation = evaluate_round(world["session"], world["evaluated"], 0, world["key"])
    finalize_round(world["session"], world["evaluated"], 0)
    (line,) = [c for c in evaluation.report["contributors"] if c["copyOf"] is not None]
    assert line["address"] == owners[2].address and line["copyOf"] == owners[0].address
    assert evaluation.record["copyProofs"] == [owners[2].address]
    copier = check(world, "evaluated", 2)
    assert copier.status == NOT_REVEALED, copier.differences or copier.detail
    assert copier.copy_proof == (f"your update is a copy of {owners[0].address}: the copy proof opens the "
                                 "blobs that link it to that submission") and copier.copy_proof in copier.checked
    for owner in (0, 1):
        result = check(world, "evaluated", owner)
        assert result.status == NOT_REVEALED and not result.copy_proof


def test_a_copy_claim_without_a_proof_is_a_mismatch(world):
    """The practitioner credits honest owner 1's update to owner 0 (say its own address, which
    submitted first) and serves no proof: owner 1 sees it at once."""
    owners = world["owners"]
    honest_round(world, world["unproved"], copies={1: 0, 2: 0})
    result = check(world, "unproved", 1)
    assert result.status == MISMATCH
    assert result.differences == [
        f"your submission: the report counts it as a copy of {owners[0].address}, and the practitioner "
        "serves no copy proof of that (the spec commits every copy claim to one)"]


def test_a_proof_of_updates_that_are_no_copies_is_a_mismatch(world):
    """The practitioner opens owner 0's blob honestly as the proof that owner 1 copied it: the
    decryption holds, but owner 1's own update is not a copy of it."""
    owners = world["owners"]
    forge(world, "unlinked", 1, [(0, 0, 0)])
    result = check(world, "unlinked", 1)
    assert result.status == MISMATCH
    (difference,) = result.differences
    assert difference.startswith(f"your submission: the report counts it as a copy of {owners[0].address}, "
                                 f"and the copy proof does not hold: your update and {owners[0].address}'s "
                                 "are no copies: cosine 0.")


def test_plaintexts_that_are_not_the_blobs_decryption_are_a_mismatch(world):
    """To make the claim look true the practitioner pairs owner 0's blob with owner 1's own
    plaintexts (and owner 0's nonces): the opening fails, whatever the cosine."""
    owners = world["owners"]
    forge(world, "misopened", 1, [(0, 1, 0)])
    result = check(world, "misopened", 1)
    assert result.status == MISMATCH
    assert result.differences[0].endswith(
        f"the copy proof does not hold: the proof's plaintexts are not the decryption of {owners[0].address}'s blob")


def test_forged_paths_are_refused_step_by_step(world):
    """check_copy_proof on the real copy (owner 2 of owner 0) and on proofs edited as a dishonest
    practitioner would: another original, another submission's hash, a path that does not end at
    the original or runs through an address the report does not count, a blob of another
    round, a padded or deeply nested answer."""
    owners = world["owners"]
    spec = load_spec(world["session"], world["misopened"])
    encoding = EncodingParams.from_spec(spec)
    data, blob_hash, blob = submission(world, "misopened", 0)
    honest = copy_proof_bytes(world["misopened"], 0, owners[2].address, owners[0].address,
                              [OpenedBlob(owners[0].address, blob_hash, data, *open_blob(world["key"], blob))])

    def submitted(address):
        return world["client"].submission(world["misopened"], 0, address)["blob_hash"]

    def checked(proof, copy_of=owners[0].address, listed=None):
        return check_copy_proof(
            proof, bounty_id=world["misopened"], round_index=0, address=owners[2].address, copy_of=copy_of,
            kept=kept(world, "misopened", 2), public_key=spec.public_key(), encoding=encoding,
            submitted_hash=submitted, listed=listed)

    def edited(edit):
        doc = json.loads(honest)
        edit(doc)
        return json.dumps(doc).encode()

    assert checked(honest) == [] and checked(honest, listed=[o.address for o in owners]) == []
    assert checked(honest, copy_of=owners[1].address) == [
        f"the proof is for {owners[2].address} as a copy of {owners[0].address}"]
    assert checked(honest, listed=[owners[1].address, owners[2].address]) == [
        f"the proof opens {owners[0].address}'s blob, which the report does not count"]
    other_hash = submitted(owners[1].address)
    assert checked(edited(lambda d: d["path"][0].update(blobHash=other_hash))) == [
        f"the proof opens a blob {other_hash} that {owners[0].address} did not submit to this round"]
    assert checked(edited(lambda d: d["path"].append(dict(d["path"][0], address=owners[1].address)))) == [
        f"the proof's path ends at {owners[1].address}, not at {owners[0].address}"]
    assert checked(edited(lambda d: d["path"].insert(0, dict(d["path"][0])))) == [
        f"the proof's path visits {owners[0].address} twice"]
    # owner 0's own blob of this bounty's round 0, offered for another round: its header says round 1
    other_round = copy_proof_bytes(world["misopened"], 1, owners[2].address, owners[0].address,
                                   [OpenedBlob(owners[0].address, blob_hash, data, *open_blob(world["key"], blob))])
    assert check_copy_proof(
        other_round, bounty_id=world["misopened"], round_index=1, address=owners[2].address,
        copy_of=owners[0].address, kept=kept(world, "misopened", 2), public_key=spec.public_key(),
        encoding=encoding, submitted_hash=lambda _a: blob_hash) == [
        f"{owners[0].address}'s blob is for bounty {world['misopened']} round 1 with 31 parameters, not this "
        "round's model"]
    (padded,) = checked(honest + b" " * max_proof_bytes(31, encoding))
    assert padded.startswith("the proof is ") and "more than a proof of 8 links can be" in padded
    with pytest.raises(CopyProofError, match="not JSON"):
        checked(b"[" * 5_000)  # under the size limit, nested far deeper than JSON reading allows


def test_a_missing_kept_update_or_an_unreachable_inbox_leaves_a_claim_unverifiable(world, monkeypatch):
    """Owner 2's claim (a real copy, proved by the practitioner's evaluation) is still checked on
    a computer without its kept update (the proof opens owner 2's own blob), but not by a proof
    written before proofs did, nor without the proof's token, nor while the inbox is down: Not
    verifiable, never a Mismatch."""
    import wallet.verify
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    evaluate_round(world["session"], world["unreachable"], 0, world["key"])
    finalize_round(world["session"], world["unreachable"], 0)
    assert check(world, "unreachable", 2).status == NOT_REVEALED
    monkeypatch.setattr(wallet.verify, "kept_update_for", lambda *args: None)
    result = check(world, "unreachable", 2)
    assert result.status == NOT_REVEALED and result.copy_proof in result.checked, result.detail
    proof = world["session"].home.copy_proof_dir / copy_proof_token(
        world["unreachable"], 0, world["owners"][2].address, submission(world, "unreachable", 2)[0])
    written = proof.read_bytes()
    assert json.loads(written)["own"]["address"] == world["owners"][2].address
    proof.write_bytes(json.dumps({k: v for k, v in json.loads(written).items() if k != "own"}).encode())
    try:
        result = check(world, "unreachable", 2)
    finally:
        proof.write_bytes(written)
    assert result.status == NOT_VERIFIABLE and "does not keep the update it sent, and the copy proof does not " \
        "open it" in result.detail
    monkeypatch.undo()
    monkeypatch.setattr(wallet.verify, "copy_proof_token_for", lambda *args: None)
    result = check(world, "unreachable", 2)
    assert result.status == NOT_VERIFIABLE and "did not keep what names the claim's copy proof" in result.detail
    monkeypatch.undo()
    monkeypatch.setattr(wallet.verify, "copy_proof_uri", lambda *args: "http://127.0.0.1:9/copy-proofs/0x" + "00" * 32)
    result = check(world, "unreachable", 2)
    assert result.status == NOT_VERIFIABLE and "its copy proof cannot be fetched now" in result.detail


def test_a_bounty_without_an_inbox_serves_its_proofs_beside_its_reports(world):
    """A file:// market (one computer: the embedded network's demo bounties): the report is a
    file in the practitioner's blob store and the proof a file beside it, which the owner's
    wallet reads as it reads the report."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    session = world["session"]
    session.inbox_url = ""
    try:
        evaluation = evaluate_round(session, world["no_inbox"], 0, world["key"])
        finalize_round(session, world["no_inbox"], 0)
    finally:
        session.inbox_url = world["inbox"].url
    client = world["client"]
    assert client.rounds(client.bounty(world["no_inbox"]))[0]["report_uri"].startswith("file://")
    assert [c["address"] for c in evaluation.report["contributors"] if c["copyOf"]] == [world["owners"][2].address]
    copier = check(world, "no_inbox", 2)
    assert copier.status == NOT_REVEALED, copier.differences or copier.detail
    assert any("copy proof opens the blobs" in c for c in copier.checked)


def test_a_version_1_report_of_a_bounty_with_rules_is_a_mismatch(world):
    """Version 1 carries no values, errors or copy proofs to check: a practitioner whose spec
    commits it to the rules cannot step back to it (before, it read as Not verifiable)."""
    honest_round(world, world["version1"], copies={1: 0, 2: 0}, doctor=lambda report: report.update(version=1))
    for owner in (0, 1):
        result = check(world, "version1", owner)
        assert result.status == MISMATCH
        assert "rules: the bounty's spec commits its reports to version 2, and this one is version 1 " \
               "(none of its numbers could be checked)" in result.differences


def test_a_bounty_posted_before_copy_proofs_gets_none_and_is_not_held_to_them(world):
    """valuation_rules 1: evaluate writes no proof (the record says null), the evaluate CLI adds
    nothing to the copy's line, and the copier's wallet checks the claim's order only."""
    from practitioner.cli import contributor_lines
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    assert load_spec(world["session"], world["rules1"]).valuation_rules == 1
    evaluation = evaluate_round(world["session"], world["rules1"], 0, world["key"])
    finalize_round(world["session"], world["rules1"], 0)
    assert evaluation.record["copyProofs"] is None
    (line,) = [text for text in contributor_lines(evaluation.report, str, evaluation.record["copyProofs"])
               if "copy of" in text]
    assert line.endswith("gets nothing")
    copier = check(world, "rules1", 2)
    assert copier.status == NOT_REVEALED and not copier.copy_proof and not copier.differences
