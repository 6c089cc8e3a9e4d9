"""Opened rounds (trainer/openings.py; bounties posted with `open_updates`): once the validation
set is revealed, the practitioner opens every counted update of each finalised round to that
round's contributors, and each owner's wallet recomputes every value, standard error, pay
factor and scale of the round and its next model. On a real EVM with real Paillier blobs
uploaded to a real inbox on 127.0.0.1, rounds of three counted updates (where, without the
opening, the values are the practitioner's word): the practitioner's own evaluation verifies;
a practitioner that raises another owner's value and pays by it is caught once revealed, and
so is one that serves no opening, plaintexts that are not the blobs' decryption (m + n too), an
opening that leaves an update out or is padded past its size, or a next model the opened
updates do not give; an opening that cannot be fetched now, or a wallet that lost its token,
leaves the round Not verifiable; a kept copy that is lost or damaged is this computer's loss,
not the practitioner's: the owner's own scores are checked from the proven update (Verified,
with a note; a raised own value is still a Mismatch), while an intact copy the opening
contradicts is a Mismatch; the same misstatement on a bounty that does not open its updates still
verifies, which is the gap the opening closes."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from practitioner.decode import ValidationScorer
from practitioner.inbox import InboxServer
from practitioner.inbox_aio import AioInboxServer
from practitioner.post import post_bounty, read_spec_file
from practitioner.valuation import DecodedSubmission, value_round
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from tests.verify_fixtures import (
    DEMO,
    REWARD,
    contributing_owners,
    end_and_reveal,
    honest_round,
    load_spec,
    submitted_blob,
)
from trainer.alignment import reference_update
from trainer.copy_proof import OpenedBlob, copy_proof_token, open_blob
from trainer.models import model_from_spec
from trainer.openings import opening_bytes, recompute_round
from trainer.scoring import per_example_log_loss
from trainer.spec import BountySpec, SpecError
from wallet.bounties import open_updates_text
from wallet.contribute import ContributeOptions, OpenUpdateWithoutNoise, contribute
from wallet.verify import (
    MISMATCH,
    NOT_REVEALED,
    NOT_VERIFIABLE,
    RECOVER_HINT,
    VERIFIED,
    verify_rewards,
)

FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv", "breast_cancer_owner_c.csv"]
# "served": an honest round whose opening each of its tests serves by hand (`served_round`)
OPEN = ("evaluated", "no_inbox", "restated", "unopened", "misopened", "omitted", "served", "renext", "inbox_down")
SCENARIOS = (*OPEN, "restated_closed")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    market.mint(session.signer.address, 200 * TOKEN_UNIT)
    inbox = InboxServer(session.home.blob_dir, rate=1000.0, burst=1000).start()
    # "inbox_down": a bounty whose spec names a second inbox (the same blob store), whose test
    # has it stop serving openings
    second = InboxServer(session.home.blob_dir, rate=1000.0, burst=1000).start()
    session.inbox_url = inbox.url
    bounties = {}
    for name in SCENARIOS:
        session.inbox_url = "" if name == "no_inbox" else inbox.url  # "no_inbox": file:// blobs, one computer
        raw = read_spec_file(DEMO / "breast_cancer_spec.json")
        if name != "restated_closed":
            raw["open_updates"] = True
        if name == "inbox_down":
            raw["inbox_url"] = second.url
        bounties[name] = post_bounty(
            session, DEMO / "breast_cancer_spec.json", raw_spec=raw,
            validation_files=[str(DEMO / "breast_cancer_validation.csv")], reward_per_round=REWARD,
            rounds=2, round_seconds=600, allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
    session.inbox_url = inbox.url
    home = tmp_path_factory.mktemp("owner")
    client, owners = contributing_owners(market, session, home, [bounties[name] for name in SCENARIOS], FILES)
    yield {"market": market, "session": session, "key": private_key, "owners": owners, "client": client,
           "inbox": inbox, "second_inbox": second, "home": home, **bounties}
    inbox.stop()
    second.stop()
    client.store.close()


def check(world, scenario, owner):
    results = verify_rewards(world["client"], world["owners"][owner].address)
    (result,) = [r for r in results if r.bounty_id == world[scenario] and r.round == 0]
    return result


def submission(world, scenario, owner):
    """(blob bytes, blob hash, parsed blob) of an owner's submission to round 0 (read once)."""
    found = world.setdefault("submissions", {})
    if (scenario, owner) not in found:
        found[scenario, owner] = submitted_blob(world, world[scenario], owner)
    return found[scenario, owner]


def opened_blob(world, scenario, blob_owner, plaintext_owner):
    """The OpenedBlob of `blob_owner`'s submission to round 0 with `plaintext_owner`'s plaintexts."""
    data, blob_hash, blob = submission(world, scenario, blob_owner)
    _, nonces = open_blob(world["key"], blob)
    plaintexts, _ = open_blob(world["key"], submission(world, scenario, plaintext_owner)[2])
    return OpenedBlob(world["owners"][blob_owner].address, blob_hash, data, plaintexts, nonces)


def serve_bytes(world, scenario, doc):
    """Serve `doc` as round 0's opening under every owner's token."""
    owners = world["owners"]
    directory = world["session"].home.opening_dir
    directory.mkdir(parents=True, exist_ok=True)
    for owner in range(len(owners)):
        token = copy_proof_token(world[scenario], 0, owners[owner].address, submission(world, scenario, owner)[0])
        (directory / token).write_bytes(doc)


def serve_opening(world, scenario, steps):
    """Serve, under every owner's token, an opening of `steps`: (owner whose blob it opens,
    owner whose plaintexts) each. Returns the opening's bytes."""
    doc = opening_bytes(world[scenario], 0, [opened_blob(world, scenario, *step) for step in steps])
    serve_bytes(world, scenario, doc)
    return doc


def served_round(world):
    """The "served" scenario's round 0, finalised honestly and revealed once, whichever of its
    tests runs first; each serves the opening it needs."""
    if not world.get("served_done"):
        world["market"].chain.advance(601)
        honest_round(world, world["served"])
        end_and_reveal(world, world["served"])
        world["served_done"] = True


def restate(values):
    """A practitioner raising owner 2's value (its own address, say): paid more, the others less."""
    return {**values, 2: (values[2][0] * 3, values[2][1])}


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def kept_files(world, scenario, owner):
    """(kept .npy, its .sha256) of an owner's submission to round 0, in the owners' wallet home."""
    from wallet.kept_updates import kept_path

    client = world["client"]
    path = kept_path(client.store.home, client.chain_id, client.board_address, world[scenario], 0,
                     world["owners"][owner].address, submission(world, scenario, owner)[1])
    return path, path.with_name(path.name.removesuffix(".npy") + ".sha256")


PROVEN = "your own scores recomputed from your update as the round's opening proves it (this computer keeps no intact copy)"
LOST = ("This computer does not keep the update you sent; your own scores were recomputed from your update as "
        "the round's opening proves it.")


# -- the practitioner's own flow --------------------------------------------------------------


def test_the_practitioners_own_opening_verifies_every_value_once_revealed(world):
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    market, session, owners = world["market"], world["session"], world["owners"]
    market.chain.advance(601)
    evaluation = evaluate_round(session, world["evaluated"], 0, world["key"])
    assert evaluation.record["openedUpdates"] == 3
    finalize_round(session, world["evaluated"], 0)
    # before the reveal nothing is served: the updates stay the practitioner's alone
    token = copy_proof_token(world["evaluated"], 0, owners[0].address, submission(world, "evaluated", 0)[0])
    for server in (world["inbox"], AioInboxServer(session.home.blob_dir).start()):
        assert get(f"{server.url}/openings/{token}")[0] == 404
        if server is not world["inbox"]:
            server.stop()
    assert check(world, "evaluated", 0).status == NOT_REVEALED
    end_and_reveal(world, world["evaluated"])
    status, body = get(f"{world['inbox'].url}/openings/{token}")
    assert status == 200 and b"quarry-round-opening" in body
    for owner in range(3):
        result = check(world, "evaluated", owner)
        assert result.status == VERIFIED, result.detail
        assert result.opened == ("every counted update's value, standard error, pay factor and scale, and the "
                                 "next model, recomputed from the round's 3 opened updates")
        assert result.opened in result.checked  # `quarry rewards --verify` prints it as "Checked: ..."
    aio = AioInboxServer(session.home.blob_dir).start()
    try:  # the second server serves the same, and nothing for a token nobody holds
        assert get(f"{aio.url}/openings/{token}") == (200, body)
        assert get(f"{aio.url}/openings/0x{'11' * 32}")[0] == 404
    finally:
        aio.stop()


def test_publishing_again_never_leaves_a_token_without_its_opening(world, monkeypatch):
    """The run loop publishes again when a reveal failed: each token's name is replaced whole,
    so an owner asking meanwhile never gets a 404 (PROTOCOL: "never missing for a moment")."""
    import os

    from practitioner.reveal import publish_openings

    session, owners = world["session"], world["owners"]
    if check(world, "evaluated", 0).status != VERIFIED:  # run alone: the test above sets it up
        test_the_practitioners_own_opening_verifies_every_value_once_revealed(world)
    directory = session.home.opening_dir
    tokens = [copy_proof_token(world["evaluated"], 0, owners[owner].address, submission(world, "evaluated", owner)[0])
              for owner in range(3)]
    served = {token: get(f"{world['inbox'].url}/openings/{token}") for token in tokens}
    real_replace, replaced = os.replace, []

    def replace(source, target):  # at every step of the rewrite, every token is still served
        assert all(get(f"{world['inbox'].url}/openings/{token}") == served[token] for token in tokens)
        replaced.append(os.path.basename(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    assert publish_openings(session, world["evaluated"]) == 1
    assert set(tokens) <= set(replaced)
    assert {token: get(f"{world['inbox'].url}/openings/{token}") for token in tokens} == served
    assert not list(directory.glob("*.new"))
    # what it shows the round's contributors is what the practitioner decrypted, and nothing more:
    # each committed blob and its decryption (with the nonces that prove it), no rows, no counts
    import base64
    import json

    from trainer.update_blob import DECLARED_SAMPLES, parse_blob

    doc = json.loads(served[tokens[0]][1])
    assert len(doc["updates"]) == 3
    for step in doc["updates"]:
        assert set(step) == {"address", "blobHash", "blob", "plaintexts", "nonces"}
        blob = parse_blob(base64.b64decode(step["blob"]))
        assert [int(m, 16) for m in step["plaintexts"]] == [world["key"].raw_decrypt(c) for c in blob.ciphertexts]
        assert blob.n_samples == DECLARED_SAMPLES  # the header says nothing of the owner's rows


def test_a_bounty_without_an_inbox_keeps_its_openings_beside_its_reports(world):
    """file:// blobs on one computer (the embedded network's demo bounties): the openings are
    published beside the report's blob store, where the wallet reads its report."""
    from practitioner.evaluate import evaluate_round, pending_opening_path
    from practitioner.finalize import finalize_round
    from practitioner.reveal import reveal_validation
    from wallet.errors import InvalidInput

    session = world["session"]
    world["market"].chain.advance(601)
    evaluate_round(session, world["no_inbox"], 0, world["key"])
    finalize_round(session, world["no_inbox"], 0)
    assert check(world, "no_inbox", 1).status == NOT_REVEALED
    # a pending opening that cannot be read is said, naming the file, and nothing is revealed
    pending = pending_opening_path(session, world["no_inbox"], 0)
    kept = pending.read_bytes()
    pending.write_bytes(kept[: len(kept) // 2])
    with pytest.raises(InvalidInput, match=r"opening-0\.json cannot be read .*evaluate round 0 \(1 of 2\) again"):
        end_and_reveal(world, world["no_inbox"])
    assert check(world, "no_inbox", 1).status == NOT_REVEALED
    pending.write_bytes(kept)
    reveal_validation(session, world["no_inbox"])
    token = copy_proof_token(world["no_inbox"], 0, world["owners"][1].address, submission(world, "no_inbox", 1)[0])
    assert (session.home.blob_dir.parent / "openings" / token).is_file()
    result = check(world, "no_inbox", 1)
    assert result.status == VERIFIED, result.detail
    assert result.opened.endswith("recomputed from the round's 3 opened updates")


# -- a practitioner that would rather not pay as it measured ----------------------------------


def restated_round(world):
    """The "restated" scenario's round 0, finalised with owner 2's value raised and revealed with
    the honest opening, once, whichever of its tests runs first. Returns owner 2's report line."""
    if "restated_line" not in world:
        world["market"].chain.advance(601)
        report = honest_round(world, world["restated"], restate=restate)
        end_and_reveal(world, world["restated"])
        serve_opening(world, "restated", [(0, 0), (1, 1), (2, 2)])
        world["restated_line"] = [line for line in report["contributors"]
                                  if line["address"] == world["owners"][2].address][0]
    return world["restated_line"]


def test_a_raised_value_is_a_mismatch_on_a_bounty_that_opens_its_updates(world):
    # the amounts follow from the report's values: before the opening, nothing tells
    raised = restated_round(world)
    for owner in range(3):  # a Mismatch for every owner: the raised one's own wallet too
        result = check(world, "restated", owner)
        assert result.status == MISMATCH, (owner, result.detail)
        assert any(f"{world['owners'][2].address}'s value: the report says {raised['value']!r}" in d
                   for d in result.differences), (owner, result.differences)


def test_a_raised_own_value_is_a_mismatch_without_a_kept_copy(world):
    """The owner whose own line's value is raised, on a wallet that lost its kept update: its
    own scores and the round's replay are checked from the update the opening proves, so the
    misstatement is a Mismatch, not Not verifiable; the detail also says the copy is gone."""
    raised = restated_round(world)
    paths = kept_files(world, "restated", 2)
    kept = [path.read_bytes() for path in paths]
    try:
        for path in paths:
            path.unlink()
        result = check(world, "restated", 2)
    finally:
        for path, data in zip(paths, kept, strict=True):
            path.write_bytes(data)
    assert result.status == MISMATCH, result.detail
    assert any(d.startswith(f"{world['owners'][2].address}'s value: the report says {raised['value']!r}")
               for d in result.differences), result.differences
    assert PROVEN in result.checked
    assert result.detail.endswith(f". {LOST}"), result.detail


def test_the_same_raised_value_verifies_where_updates_stay_closed(world):
    """The gap the opening closes: on a bounty that does not open its updates, a round of three
    counted updates' values are the practitioner's word, and its owners' wallets say Verified."""
    world["market"].chain.advance(601)
    honest_round(world, world["restated_closed"], restate=restate)
    end_and_reveal(world, world["restated_closed"])
    result = check(world, "restated_closed", 0)
    assert result.status == VERIFIED, result.detail
    assert not any("opened updates" in c for c in result.checked)


@pytest.mark.parametrize(("scenario", "steps", "said"), [
    ("unopened", None, "the practitioner serves none"),
    ("misopened", [(0, 0), (1, 2), (2, 2)], "plaintexts are not the decryption of"),
    ("omitted", [(0, 0), (1, 1)], "leaves out 1 counted update"),
])
def test_an_opening_that_does_not_open_the_rounds_updates_is_a_mismatch(world, scenario, steps, said):
    from practitioner.evaluate import evaluate_round

    world["market"].chain.advance(601)
    if scenario == "unopened":  # evaluated, then finalised with another report: reveal opens nothing
        evaluate_round(world["session"], world[scenario], 0, world["key"])
    honest_round(world, world[scenario])
    end_and_reveal(world, world[scenario])
    if scenario == "unopened":
        token = copy_proof_token(world[scenario], 0, world["owners"][0].address, submission(world, scenario, 0)[0])
        assert get(f"{world['inbox'].url}/openings/{token}")[0] == 404
    if steps is not None:
        serve_opening(world, scenario, steps)
    result = check(world, scenario, 0)
    assert result.status == MISMATCH, result.detail
    assert any(said in d for d in result.differences), result.differences


def test_a_round_too_large_to_replay_is_not_verifiable_not_verified(world, monkeypatch):
    """Past 128 counted updates a round is valued by the practitioner's bounded sampler, which
    no wallet reruns: said, not passed as Verified (here with the limit lowered to 2)."""
    import trainer.openings

    served_round(world)
    serve_opening(world, "served", [(0, 0), (1, 1), (2, 2)])
    monkeypatch.setattr(trainer.openings, "RECOMPUTE_MAX_PLAYERS", 2)
    result = check(world, "served", 0)
    assert result.status == NOT_VERIFIABLE, result.detail
    assert "valued by a bounded sampler no wallet reruns" in result.detail


def test_an_opening_larger_than_the_rounds_updates_can_be_is_a_mismatch_not_a_fetch_error(world):
    """The true opening served padded with a huge extra field: the same valid opening to a
    reader that ignores the field, refused while reading for its size, the server's doing,
    said as a Mismatch (the honest opening of this round verifies in the test below)."""
    import json

    from trainer.copy_proof import read_round_doc
    from trainer.openings import OPENING_KIND, OPENING_VERSION, max_opening_bytes

    served_round(world)
    true = opening_bytes(world["served"], 0, [opened_blob(world, "served", i, i) for i in range(3)])
    spec = load_spec(world["session"], world["served"])
    limit = max_opening_bytes(model_from_spec(spec).n_params, spec.encoding_params(), 3)
    padded = json.dumps({**json.loads(true), "padding": "0" * limit}, sort_keys=True).encode()
    assert len(true) < limit < len(padded)
    assert read_round_doc(padded, OPENING_KIND, OPENING_VERSION, "round opening")["updates"] == \
        json.loads(true)["updates"]
    serve_bytes(world, "served", padded)
    result = check(world, "served", 0)
    assert result.status == MISMATCH, result.detail
    assert "the round's opening is larger than 3 opened updates can be" in result.differences
    assert "cannot be fetched" not in result.detail


def test_a_next_model_the_opened_updates_do_not_give_is_a_mismatch(world):
    """A next model a little off the round's model plus the opened updates / 3, with a report
    that follows it (its nextModelHash, metricAfter and every metricWithout): the chain, the
    report's numbers and each owner's own scores agree with it; only the opening's replay
    does not."""
    from practitioner.state import load_validation
    from tests.verify_fixtures import counted_as_valued, decrypted, model_params
    from trainer.alignment import reference_update, round_along_bound
    from trainer.models import model_to_bytes
    from trainer.scoring import log_loss

    session, bounty = world["session"], world["renext"]
    world["market"].chain.advance(601)
    spec, decoded = decrypted(world, bounty)
    info = session.client.round(bounty, 0)
    start = model_params(session, spec, info.model_hash, info.model_uri)
    x, y = load_validation(session.bounty_dir(bounty))
    reference = reference_update(spec, start, x, y)
    bound = round_along_bound(spec, start, x, y, reference)
    updates = {d.address: counted_as_valued(spec, d.update, reference, bound) for d in decoded}
    other = start + sum(updates.values()) / 3  # the honest next model: all three are in it
    other[0] += 0.01
    model = model_from_spec(spec)

    def score(params):
        model.set_params(params)
        return log_loss(model, x, y)

    def follow_the_other_model(report):
        model.set_params(other)
        report["nextModelHash"] = session.publish(model_to_bytes(model))[0]
        report["metricAfter"] = score(other)
        for line in report["contributors"]:
            line["metricWithout"] = score(other - updates[line["address"]] / 3)

    honest_round(world, bounty, next_params=other, doctor=follow_the_other_model)
    end_and_reveal(world, bounty)
    serve_opening(world, "renext", [(0, 0), (1, 1), (2, 2)])
    result = check(world, "renext", 0)
    assert result.status == MISMATCH, result.detail
    assert result.differences == ["the next model is not the round's model plus the opened updates of "
                                  "positive value / the number of counted updates"], result.differences
    assert "next model = the next round's model on chain" in result.checked


def test_an_opening_cannot_open_the_owners_own_update_as_another(world):
    """The opening must open the owner's own blob, the one whose hash it committed on chain, and
    each (m, rho) must open its ciphertext with m below n: m + n satisfies the Paillier equation
    mod n^2 too, and is refused: a forged opening is a Mismatch."""
    import dataclasses

    served_round(world)
    mine = world["owners"][0].address
    n = world["key"].public_key.n
    shifted = opened_blob(world, "served", 0, 0)
    blob = submission(world, "served", 0)[2]
    m, r, c = shifted.plaintexts[0], shifted.nonces[0], blob.ciphertexts[0]
    assert (1 + (m + n) * n) * pow(r, n, n * n) % (n * n) == int(c) % (n * n)  # the equation alone holds
    shifted = dataclasses.replace(shifted, plaintexts=[m + n, *shifted.plaintexts[1:]])
    opening = [shifted, opened_blob(world, "served", 1, 1), opened_blob(world, "served", 2, 2)]
    serve_bytes(world, "served", opening_bytes(world["served"], 0, opening))
    result = check(world, "served", 0)
    assert result.status == MISMATCH, result.detail
    assert f"the round's opening: the opening's plaintexts are not the decryption of {mine}'s blob" \
        in result.differences, result.differences
    # so the update it opens is the blob's decryption
    serve_opening(world, "served", [(0, 0), (1, 1), (2, 2)])
    assert check(world, "served", 0).status == VERIFIED


def test_a_lost_kept_copy_is_verified_from_the_update_the_opening_proves(world):
    """A wallet that lost the update it kept (its .npy and digest gone; the token that names the
    opening kept): the honest opening proves, under the bounty's key and the blob hash on chain,
    what the owner committed, and its own scores are checked from that: Verified, said in the
    checks. A forged opening proves nothing and is a Mismatch, kept copy or not."""
    served_round(world)
    paths = kept_files(world, "served", 0)
    kept = [path.read_bytes() for path in paths]
    results = {}
    try:
        for path in paths:
            path.unlink()
        serve_opening(world, "served", [(0, 0), (1, 1), (2, 2)])
        results["honest"] = check(world, "served", 0)
        serve_opening(world, "served", [(0, 1), (1, 1), (2, 2)])  # owner 0's blob, owner 1's plaintexts
        results["forged"] = check(world, "served", 0)
    finally:
        for path, data in zip(paths, kept, strict=True):
            path.write_bytes(data)
        serve_opening(world, "served", [(0, 0), (1, 1), (2, 2)])
    honest = results["honest"]
    assert honest.status == VERIFIED, honest.detail
    assert PROVEN in honest.checked
    assert honest.opened in honest.checked  # the round's replay too
    assert honest.detail == f"Payouts, the next model and the scores all match what the wallet recomputed. {LOST}"
    assert "withoutYou" in honest.numbers  # its "without you" recomputed from the proven update
    forged = results["forged"]
    assert forged.status == MISMATCH, forged.detail
    assert any("plaintexts are not the decryption of" in d for d in forged.differences), forged.differences


def test_a_damaged_kept_copy_is_checked_from_the_opening_and_an_intact_one_it_contradicts_is_a_mismatch(world):
    """The honest opening proves, under the bounty's key, what the blob the owner committed on
    chain holds. A kept copy whose digest no longer matches is this computer's damage: the
    owner's own scores are checked from the proven update, Verified, and the detail says the
    copy is damaged. A copy that reads intact (altered with its digest, or an older wallet's
    without one) but differs from the opening is a Mismatch: the intact copy does not depend on
    the key, an opening binds only under a well-formed one."""
    from wallet.kept_updates import kept_digest

    served_round(world)
    serve_opening(world, "served", [(0, 0), (1, 1), (2, 2)])
    path, digest = kept_files(world, "served", 0)
    kept, kept_digest_text = path.read_bytes(), digest.read_text() if digest.exists() else None
    vector = np.load(path)
    vector[0] += 0.01
    results = {}
    try:
        np.save(path, vector)
        results["damaged"] = check(world, "served", 0)
        digest.write_text(kept_digest(vector))
        results["replaced"] = check(world, "served", 0)
        digest.unlink()
        results["older"] = check(world, "served", 0)
    finally:
        path.write_bytes(kept)
        if kept_digest_text is not None:
            digest.write_text(kept_digest_text)
    damaged = results["damaged"]
    assert damaged.status == VERIFIED and not damaged.differences, damaged.detail
    assert PROVEN in damaged.checked and damaged.opened in damaged.checked, damaged.checked
    assert damaged.detail == "Payouts, the next model and the scores all match what the wallet recomputed. " + (
        "The update this computer kept for that round is damaged (it no longer matches what was written when "
        "you sent it); your own scores were recomputed from your update as the round's opening proves it.")
    for name in ("replaced", "older"):
        result = results[name]
        assert result.status == MISMATCH, (name, result.detail)
        assert any("opens your update as another than the one you sent" in d for d in result.differences), \
            (name, result.differences)
        assert PROVEN not in result.checked, (name, result.checked)
    assert check(world, "served", 0).status == VERIFIED  # the copy as it was written


def test_an_opening_that_cannot_be_fetched_now_or_a_lost_token_is_not_verifiable(world):
    """The bounty's inbox answers its blobs but not the opening (503), or the wallet did not keep
    the token that names it: Not verifiable, neither Verified nor Mismatch."""
    import http.server

    from practitioner.state import read_local_blob
    from wallet.kept_updates import kept_path

    second = world["second_inbox"]
    world["market"].chain.advance(601)
    honest_round(world, world["inbox_down"])
    end_and_reveal(world, world["inbox_down"])
    # owner 1's wallet lost the token its opening is served under
    client, who = world["client"], world["owners"][1].address
    token = kept_path(client.store.home, client.chain_id, client.board_address, world["inbox_down"], 0, who,
                      submission(world, "inbox_down", 1)[1]).with_suffix(".proof-token")
    kept = token.read_bytes()
    token.unlink()
    try:
        result = check(world, "inbox_down", 1)
    finally:
        token.write_bytes(kept)
    assert result.status == NOT_VERIFIABLE, result.detail
    assert result.detail == ("Payouts and your own scores match, but this computer did not keep what names the "
                             f"round's opening, so the other owners' values cannot be checked ({RECOVER_HINT}).")
    # the inbox goes down: it serves the blobs (spec, model) and not the opening (its handler is
    # swapped in place: the spec names its port, which stays bound, so no other process takes it)
    blob_dir = world["session"].home.blob_dir

    class BlobsOnly(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - stdlib name
            data = read_local_blob(blob_dir, self.path.rpartition("/")[2]) \
                if self.path.startswith("/blobs/") else None
            if data is None:
                self.send_error(503, "unavailable")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    serving = second.RequestHandlerClass
    second.RequestHandlerClass = BlobsOnly  # read per connection (socketserver.finish_request)
    try:
        result = check(world, "inbox_down", 0)
    finally:
        second.RequestHandlerClass = serving
    assert result.status == NOT_VERIFIABLE, result.detail
    assert result.detail.startswith("Payouts and your own scores match, but the round's opening cannot be fetched "
                                    "now: Fetching http://"), result.detail
    assert "HTTP 503" in result.detail and not result.differences and not result.opened


# -- the owner's consent ----------------------------------------------------------------------


def test_an_update_without_noise_is_not_sent_to_a_bounty_that_opens_updates_unless_asked(world, tmp_path):
    client, session = world["client"], world["session"]
    owner = funded_signer(world["market"].chain)
    raw = read_spec_file(DEMO / "breast_cancer_spec.json")
    raw["open_updates"] = True
    bounty_id = post_bounty(session, DEMO / "breast_cancer_spec.json", raw_spec=raw,
                            validation_files=[str(DEMO / "breast_cancer_validation.csv")],
                            reward_per_round=REWARD, rounds=1, round_seconds=600,
                            allow_revealed_validation=True).bounty_id
    assert "opened at the reveal" in (open_updates_text(client.show(bounty_id).spec) or "")
    # said before training, a dry run too; the whole-dataset mode without noise sends none either
    for privacy, dry_run in (("none", True), ("none", False), ("dataset", True)):
        with pytest.raises(OpenUpdateWithoutNoise, match="opens every counted update"):
            contribute(client, owner, bounty_id, [DEMO / FILES[0]],
                       ContributeOptions(privacy=privacy, refuse_open_without_noise=True, dry_run=dry_run),
                       file_roots=[session.home.root], blob_dir=tmp_path / "blobs")
    assert client.submission(bounty_id, client.bounty(bounty_id).current_round, owner.address) is None
    # with each row protected (the wallet's default) it goes
    sent = contribute(client, owner, bounty_id, [DEMO / FILES[0]],
                      ContributeOptions(privacy="row", refuse_open_without_noise=True),
                      file_roots=[session.home.root], blob_dir=tmp_path / "blobs")
    assert client.submission(bounty_id, sent.round, owner.address)["blob_hash"] == sent.blob_hash


def test_the_spec_field_needs_a_verifiable_bounty_and_older_specs_keep_their_hash(world):
    raw = load_spec(world["session"], world["restated_closed"]).to_json()
    plain = BountySpec.from_json(raw)
    assert "open_updates" not in plain.to_json() and not plain.open_updates
    assert BountySpec.from_json({**raw, "open_updates": True}).to_json()["open_updates"] is True
    with pytest.raises(SpecError, match="needs a verifiable bounty"):
        BountySpec.from_json({**raw, "open_updates": True, "verifiable": False})
    with pytest.raises(SpecError, match="needs valuation_rules 2 or more"):
        BountySpec.from_json({**raw, "open_updates": True, "valuation_rules": 1})
    with pytest.raises(SpecError, match="true or false"):
        BountySpec.from_json({**raw, "open_updates": "yes"})


# -- the recomputation is the practitioner's valuation -------------------------------------


@pytest.mark.parametrize("players", [3, 14])  # exact Shapley, and the round's seeded GTG-Shapley
def test_recompute_round_gives_value_rounds_numbers(world, players):
    from practitioner.state import load_validation

    spec = load_spec(world["session"], world["restated_closed"])
    x, y = load_validation(world["session"].bounty_dir(world["restated_closed"]))
    model = model_from_spec(spec)
    start = model.get_params()
    reference = reference_update(spec, start, x, y)
    rng = np.random.default_rng(7)
    norm = float(np.linalg.norm(reference))
    updates = [reference * rng.uniform(0.2, 1.0) + rng.normal(0, norm / 8, reference.size) for _ in range(players)]
    addresses = [f"0x{i + 1:040x}" for i in range(players)]
    bound = 0.8 * norm
    valued = value_round(start, [DecodedSubmission(a, f"0x{i:064x}", u, order=i)
                                 for i, (a, u) in enumerate(zip(addresses, updates, strict=True))],
                         ValidationScorer(spec, x, y), 10**18, clip_norm=1e9, reference=reference,
                         along_bound=bound, seed=1234)

    def losses(params):
        model.set_params(params)
        return per_example_log_loss(model, x, y)

    recomputed = recompute_round(start, dict(zip(addresses, updates, strict=True)), losses,
                                 reference=reference, along_bound=bound, seed=1234)
    assert recomputed.method == valued.method == ("exact" if players <= 12 else "gtg")
    assert any(line.scale < 1.0 for line in valued.contributors)  # the bound is exercised
    for line in valued.contributors:
        mine = recomputed.lines[line.address.lower()]
        assert mine.value == pytest.approx(line.value, rel=1e-9, abs=1e-12)
        assert mine.std_err == pytest.approx(line.std_err, rel=1e-9, abs=1e-12)
        assert mine.pay_factor == pytest.approx(line.pay_factor, abs=1e-12)
        assert mine.scale == pytest.approx(line.scale, rel=1e-12)
        assert mine.in_model == line.in_model
    assert np.allclose(recomputed.next_params, valued.next_params, rtol=1e-12, atol=1e-12)
