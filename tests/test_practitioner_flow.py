"""The practitioner's whole round trip on a real EVM (py-evm via eth-tester): post with escrow,
owners submit encrypted updates, evaluate, finalize, the next round from the new model, run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eth_hash.auto import keccak

from practitioner.chain import ROUND_FINALIZED
from practitioner.evaluate import evaluate_round, load_spec, model_params
from practitioner.finalize import finalize_round
from practitioner.post import post_bounty
from practitioner.report import parse_report
from practitioner.runner import process_due_rounds, seconds_to_next_deadline, upload_window
from tests.chain_fixtures import GRACE_PERIOD, TOKEN_UNIT, send
from tests.practitioner_fixtures import practitioner_on_market
from trainer.data import load_data
from trainer.update import LocalUpdate, encrypt_to_blob, make_update
from wallet.errors import InvalidInput

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
REWARD = 10 * TOKEN_UNIT


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    posted = post_bounty(
        session, DEMO / "breast_cancer_spec.json",
        validation_files=[str(DEMO / "breast_cancer_validation.csv")],
        reward_per_round=REWARD, rounds=2, round_seconds=600,
        allow_revealed_validation=True,  # the demo's public rows, in many bounties of one home
    )
    return market, session, private_key, posted


def _submit(market, session, bounty_id, round_index, owner, blob):
    digest, uri = session.publish(blob)  # what the inbox would have stored
    send(market.board.functions.submit(bounty_id, round_index, bytes.fromhex(digest[2:]), uri), owner)
    return digest


def _owner_blobs(session, bounty_id, round_index, files):
    spec = load_spec(session, bounty_id)
    info = session.client.round(bounty_id, round_index)
    global_params = model_params(session, spec, info.model_hash, info.model_uri)
    blobs = []
    for name in files:
        x, y = load_data([DEMO / name], spec)
        blobs.append(encrypt_to_blob(spec, bounty_id, round_index, make_update(spec, global_params, x, y)))
    zero = LocalUpdate(np.zeros(global_params.size), n_samples=100)
    return blobs, encrypt_to_blob(spec, bounty_id, round_index, zero), global_params


def test_post_fills_the_spec_and_escrows(setup):
    market, session, _, posted = setup
    bounty = session.client.bounty(posted.bounty_id)
    assert bounty.escrow == 2 * REWARD and bounty.spec_hash == posted.spec_hash
    assert bounty.owner == session.signer.address
    spec = load_spec(session, posted.bounty_id)
    # rounds open to the board's cap, not the encoding's (junk must not fill a round)
    assert spec.encoding.max_contributors < bounty.max_contributors
    assert bounty.max_contributors == session.client.board.functions.MAX_CONTRIBUTORS().call()
    assert spec.paillier.bits == 512 and spec.inbox_url == ""
    assert spec.initial_model.hash == posted.model_hash
    assert abs(np.mean(spec.standardize.mean[:1]) - 14) < 2  # mean radius of the validation part
    # the validation set stays home
    assert (session.bounty_dir(posted.bounty_id) / "validation.npz").is_file()
    assert not any("validation" in p.name for p in session.home.blob_dir.iterdir())
    # the run loop sleeps until the round closes instead of polling
    assert 500 < seconds_to_next_deadline(session, cap=3600) <= 600


def test_two_rounds_pay_honest_owners_and_not_the_free_rider(setup):
    market, session, private_key, posted = setup
    bounty_id = posted.bounty_id
    owners = market.chain.accounts[1:5]
    files = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv", "breast_cancer_owner_c.csv"]
    blobs, zero_blob, start_params = _owner_blobs(session, bounty_id, 0, files)
    for owner, blob in zip(owners, [*blobs, zero_blob], strict=True):
        _submit(market, session, bounty_id, 0, owner, blob)

    with pytest.raises(InvalidInput, match="still open"):
        evaluate_round(session, bounty_id, 0, private_key)
    market.chain.advance(601)
    evaluation = evaluate_round(session, bounty_id, 0, private_key)
    tx_hash = finalize_round(session, bounty_id, 0)
    assert tx_hash.startswith("0x")

    info = session.client.round(bounty_id, 0)
    assert info.state == ROUND_FINALIZED
    report_blob = session.blob(info.report_hash, info.report_uri)
    assert "0x" + keccak(report_blob).hex() == info.report_hash
    report = parse_report(report_blob)
    assert report["method"] == "exact" and report["accuracyAfter"] > report["accuracyBefore"] + 0.3
    assert report["version"] == 2 and report["metricAfter"] < report["metricBefore"]  # log-loss
    claim = market.board.functions.claimable
    token = market.token.address
    paid = [claim(token, owner).call() for owner in owners]
    assert all(p > 0 for p in paid[:3]) and paid[3] == 0
    assert sum(paid) <= REWARD
    assert [r["reason"] for r in report["rejected"]] == ["zero update (free rider)"]
    assert evaluation.record["nextModelHash"] == session.client.round(bounty_id, 1).model_hash

    # round 1 trains from the new model; one owner replays last round's global change
    blobs, _, params_1 = _owner_blobs(session, bounty_id, 1, files[:2])
    assert not np.allclose(params_1, start_params)
    spec = load_spec(session, bounty_id)
    replay = encrypt_to_blob(spec, bounty_id, 1, LocalUpdate(params_1 - start_params, n_samples=100))
    for owner, blob in zip(owners, [*blobs, replay], strict=False):
        _submit(market, session, bounty_id, 1, owner, blob)
    market.chain.advance(601)
    done = process_due_rounds(session, private_key)
    # the last round closed: the same pass reveals the validation set
    assert [(d.bounty_id, d.round_index, d.outcome) for d in done] == [
        (bounty_id, 1, "finalized"), (bounty_id, 1, "revealed")]
    assert session.client.reveal(bounty_id) is not None
    report = parse_report(session.blob(session.client.round(bounty_id, 1).report_hash))
    assert any("replay" in r["reason"] for r in report["rejected"])
    assert session.client.bounty(bounty_id).status == "completed"
    assert process_due_rounds(session, private_key) == []
    # the closing round recorded the leftover's credits, pooled over both rounds' reports: the
    # free rider of round 0 has none; the replayer's rejected round 1 halves its pay factor
    from wallet.round_report import leftover_credits

    first = parse_report(session.blob(session.client.round(bounty_id, 0).report_hash))
    credits = {address.lower(): credit for address, credit in leftover_credits([first, report], 2 * REWARD)}
    assert {a.lower(): int(c) for a, c in report["credits"].items()} == credits
    assert sorted(credits) == sorted(o.lower() for o in owners[:3])
    on_chain = [market.board.functions.getCredit(bounty_id, o).call() for o in owners]
    assert [c for c, _total in on_chain] == [credits.get(o.lower(), 0) for o in owners]
    assert on_chain[0][1] == sum(credits.values())
    halved = leftover_credits([first, {**report, "rejected": []}], 2 * REWARD)  # as if it had skipped round 1
    assert dict(halved)[owners[2]] > credits[owners[2].lower()]


def test_bounty_credits_pool_each_accounts_values_over_the_bounty():
    """The leftover's credits: per account, its values pooled over the bounty, bound B =
    max(0, sum - 2 sqrt(sum of stdErr^2)) and estimate E = max(0, sum), each x its mean pay
    factor over the rounds it submitted to; the share is (B + (1 - d) E) / sum E with d = sum B
    / sum E: the demonstrated part of the leftover by the bounds, the rest by the estimates.
    One lucky round followed by a loss nets nothing; copies and negative values count nothing."""
    from practitioner.valuation import bounty_credits

    def line(address, value, std_err, factor=1.0, copy_of=None):
        return {"address": address, "value": value, "stdErr": std_err, "payFactor": factor, "copyOf": copy_of}

    def report(*lines, version=2, rejected=()):
        return {"version": version, "contributors": list(lines),
                "rejected": [{"address": a, "blobHash": "0x", "reason": "zero update"} for a in rejected]}

    rounds = [
        # a: 0.05 +- 0.03 twice: B = 0.10 - 2 x 0.0424 = 0.0151, E = 0.10
        # b: 0.2 +- 0.01, in round 0 only (a round not submitted to costs nothing): B 0.18, E 0.2
        # lucky: +0.06 then -0.06: E = 0; bad: -0.1 then +0.01: E = 0
        # d = 0.195 / 0.30 = 0.65; a: (0.0151 + 0.35 x 0.10) / 0.30 = 0.167, b: 0.833
        report(line("0xA", 0.05, 0.03), line("0xB", 0.2, 0.01), line("0xLucky", 0.06, 0.02),
               line("0xCopy", 0.0, 0.0, copy_of="0xB"), line("0xBad", -0.1, 0.01)),
        report(line("0xA", 0.05, 0.03), line("0xLucky", -0.06, 0.02), line("0xBad", 0.01, 0.01)),
    ]
    assert bounty_credits(rounds, 1000) == [("0xA", 166), ("0xB", 833)]
    # a factor scales an account's credit: b's halves, so a's share grows
    halved = [report(*[dict(x, payFactor=0.5) if x["address"] == "0xB" else x for x in rounds[0]["contributors"]]),
              rounds[1]]
    assert bounty_credits(halved, 1000) == [("0xA", 312), ("0xB", 687)]
    # b's update rejected in round 1 (a zero update, say): that round counts with factor 0
    assert bounty_credits([rounds[0], {**rounds[1], "rejected": report(rejected=["0xB"])["rejected"]}],
                          1000) == [("0xA", 312), ("0xB", 687)]
    # nobody's bound positive: d = 0, all by the estimates (b: 0.375 x 0.5 against a's 0.0625)
    thin = [report(line("0xA", 0.0625, 0.25), line("0xB", 0.375, 0.25, factor=0.5), line("0xC", -0.25, 0.25))]
    assert bounty_credits(thin, 1000) == [("0xA", 250), ("0xB", 750)]
    # continuous where a bound crosses zero: a's bound just above 0 (+0.0002) or just below;
    # by the bounds alone a would have taken everything in the first case, half in the second
    just_above = bounty_credits([report(line("0xA", 0.1, 0.0499), line("0xB", 0.1, 0.06))], 1000)
    just_below = bounty_credits([report(line("0xA", 0.1, 0.0501), line("0xB", 0.1, 0.06))], 1000)
    assert just_below == [("0xA", 500), ("0xB", 500)] and just_above == [("0xA", 500), ("0xB", 499)]
    assert bounty_credits([report(line("0xA", -0.01, 0.05))], 900) == []
    assert bounty_credits([report(line("0xA", 0.2, 0.01), version=1)], 900) == []  # accuracy reports: none
    assert bounty_credits(rounds, 0) == []


def test_the_closing_round_sends_the_leftovers_credits_and_the_leftover_follows_them(tmp_path):
    """Evaluating the closing round records the leftover's credits (pooled over the bounty's
    reports; also in the report, for anyone to check); finalize sends them (`assignCredits`,
    batches already on chain skipped) before closing the round, and the leftover then goes by
    them: the zero update's address gets nothing."""
    market, session, private_key = practitioner_on_market(tmp_path)
    bounty_id = post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                            reward_per_round=REWARD, rounds=1, round_seconds=600,
                         allow_revealed_validation=True).bounty_id
    owners = market.chain.accounts[1:4]
    blobs, zero_blob, _ = _owner_blobs(session, bounty_id, 0, ["wine_owner_a.csv", "wine_owner_b.csv"])
    for owner, blob in zip(owners, [*blobs, zero_blob], strict=True):
        _submit(market, session, bounty_id, 0, owner, blob)
    market.chain.advance(601)
    evaluation = evaluate_round(session, bounty_id, 0, private_key)
    credits = evaluation.record["credits"]
    assert sorted(credits["contributors"]) == sorted(owners[:2])  # the zero update: none
    assert evaluation.report["credits"] == dict(zip(credits["contributors"], credits["amounts"], strict=True))
    amounts = [int(a) for a in credits["amounts"]]
    assert 0 < sum(amounts) <= REWARD
    # a run cut short after sending the credits: the repeat skips them and finalizes
    assert session.client.assign_credits(bounty_id, 0, credits["contributors"], amounts) == 1
    finalize_round(session, bounty_id, 0)
    credit, share = market.board.functions.getCredit, market.board.functions.leftoverShare
    assert [credit(bounty_id, o).call()[0] for o in credits["contributors"]] == amounts
    leftover = market.board.functions.getPot(bounty_id).call()[3]
    assert leftover == REWARD - sum(int(a) for a in evaluation.record["amounts"]) > 0
    assert [share(bounty_id, o).call() for o in credits["contributors"]] == [
        leftover * a // sum(amounts) for a in amounts]
    assert share(bounty_id, owners[2]).call() == 0


def test_post_refuses_bad_input_and_changes_nothing(setup, tmp_path):
    market, session, _, _ = setup
    count = session.client.bounty_count()
    bad = tmp_path / "spec.json"
    bad.write_text('{"version": 1, "title": ""}')
    from trainer.errors import SpecError

    with pytest.raises(SpecError):
        post_bounty(session, bad, validation_files=[str(DEMO / "wine_validation.csv")],
                    reward_per_round=1, rounds=1, round_seconds=600)
    with pytest.raises(InvalidInput, match="at least 60"):
        post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                    reward_per_round=1, rounds=1, round_seconds=5)
    with pytest.raises(InvalidInput, match="escrow needs"):
        post_bounty(session, DEMO / "wine_spec.json", validation_files=[str(DEMO / "wine_validation.csv")],
                    reward_per_round=10**30, rounds=1, round_seconds=600)
    assert session.client.bounty_count() == count


def test_a_round_past_its_grace_period_is_expired_by_the_run_loop(setup):
    market, session, private_key, _ = setup
    posted = post_bounty(session, DEMO / "wine_spec.json",
                         validation_files=[str(DEMO / "wine_validation.csv")],
                         reward_per_round=REWARD, rounds=1, round_seconds=600,
                         allow_revealed_validation=True)
    owner = market.chain.accounts[6]
    blobs, _, _ = _owner_blobs(session, posted.bounty_id, 0, ["wine_owner_b.csv"])
    _submit(market, session, posted.bounty_id, 0, owner, blobs[0])
    market.chain.advance(600 + GRACE_PERIOD + 1)
    done = process_due_rounds(session, private_key)
    # (with pytest-xdist the module's other bounty may still be open here and expire too)
    assert (posted.bounty_id, 0) in [(d.bounty_id, d.round_index) for d in done]
    assert session.client.round(posted.bounty_id, 0).state_text == "expired"
    # the owner's share waits on the board until collected (the wallet's claim does it)
    assert market.board.functions.expiredShare(posted.bounty_id, 0, owner).call() == REWARD
    send(market.board.functions.collectExpired(posted.bounty_id, 0, owner), owner)
    assert market.board.functions.claimable(market.token.address, owner).call() == REWARD


def test_the_run_loop_waits_for_an_upload_committed_before_the_deadline(setup, tmp_path):
    """Commit first, upload after: a blob committed in the round's last moment, or whose
    upload failed and is retried, is counted if it arrives within the upload window; one
    that never arrives is rejected once the window is over, and the round goes on."""
    market, session, private_key, _ = setup
    posted = post_bounty(session, DEMO / "breast_cancer_spec.json",
                         validation_files=[str(DEMO / "breast_cancer_validation.csv")],
                         reward_per_round=REWARD, rounds=2, round_seconds=600,
                         allow_revealed_validation=True)
    bounty_id = posted.bounty_id
    on_time, late = market.chain.accounts[7], market.chain.accounts[8]
    window = upload_window(session.client.grace_period())
    assert 0 < window <= GRACE_PERIOD // 4
    from practitioner.runner import UPLOAD_WINDOW_S
    from wallet.outbox import PRACTITIONER_UPLOAD_WINDOW_S

    assert PRACTITIONER_UPLOAD_WINDOW_S == UPLOAD_WINDOW_S  # what the wallet tells its owner

    def ours(done):
        return [(d.round_index, d.outcome) for d in done if d.bounty_id == bounty_id]

    def commit_without_upload(round_index, owner, blob):
        path = tmp_path / f"pending-{round_index}"  # where the owner will upload it
        digest = "0x" + keccak(blob).hex()
        send(market.board.functions.submit(bounty_id, round_index, bytes.fromhex(digest[2:]),
                                           path.as_uri()), owner)
        return path

    files = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv"]
    blobs, _, _ = _owner_blobs(session, bounty_id, 0, files)
    _submit(market, session, bounty_id, 0, on_time, blobs[0])
    pending = commit_without_upload(0, late, blobs[1])
    market.chain.advance(601)
    assert ours(process_due_rounds(session, private_key)) == []  # waits for the upload
    assert session.client.round(bounty_id, 0).state_text == "open"
    pending.write_bytes(blobs[1])  # the upload arrives (within the window)
    assert ours(process_due_rounds(session, private_key)) == [(0, "finalized")]
    claim = market.board.functions.claimable
    assert claim(market.token.address, late).call() > 0
    assert parse_report(session.blob(session.client.round(bounty_id, 0).report_hash))["rejected"] == []

    # round 2: the second owner's upload never comes; the round waits the window, no longer
    blobs, _, _ = _owner_blobs(session, bounty_id, 1, files)
    _submit(market, session, bounty_id, 1, on_time, blobs[0])
    commit_without_upload(1, late, blobs[1])
    market.chain.advance(601)
    assert ours(process_due_rounds(session, private_key)) == []
    market.chain.advance(window)
    assert ours(process_due_rounds(session, private_key))[0] == (1, "finalized")
    report = parse_report(session.blob(session.client.round(bounty_id, 1).report_hash))
    assert [(r["address"], r["reason"].split(":")[0]) for r in report["rejected"]] == [
        (late, "blob unavailable")]
    from wallet.verify import says_blob_unavailable  # the owner's wallet reads these words

    assert says_blob_unavailable(report["rejected"][0]["reason"])
