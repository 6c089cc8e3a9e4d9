"""Every owner can check its own pay (wallet/verify.py) on a real EVM with real Paillier:
owners contribute with the wallet (which keeps its plaintext update), the practitioner
finalises with an honest or a doctored report, and the wallet says Verified, Not yet
revealed, Not verifiable or Mismatch (and what differs)."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from unittest.mock import patch

import numpy as np
import pytest

from practitioner.invitations import invite
from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from tests.verify_fixtures import DEMO, REWARD, decrypted, end_and_reveal, honest_round, load_spec
from trainer.models import model_from_spec
from wallet.bounties import BountyClient
from wallet.contribute import contribute
from wallet.invitations import add_invitation
from wallet.kept_updates import kept_update_for
from wallet.round_report import unpaid_reasons
from wallet.store import Store
from wallet.track_record import track_record
from wallet.verify import (
    MISMATCH,
    NOT_FINALISED,
    NOT_REVEALED,
    NOT_VERIFIABLE,
    VERIFIED,
    refute_rejection,
    verify_rewards,
)

FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv"]


SCENARIOS = ("honest", "payouts", "model", "private", "commitment", "scores", "evaluated", "unpaid",
             "race", "withheld", "screened", "invited", "uninvited", "credits", "credits_doctored",
             "credits_later", "credits_withheld", "cancelled_later", "declared_rows", "declared_classes", "rules", "factor", "unbounded", "reward", "copy_first", "copy_after", "replayed", "reworded", "padded", "late", "value", "undecryptable")
ONE_ROUND = ("credits", "credits_doctored", "credits_withheld")  # round 0 is the closing round: it records the leftover's credits
# the report's own claims (a) and scores (c), on a market of their own: every check reads every
# bounty the owner submitted to, so these do not slow the checks above
REPORT_SCENARIOS = ("names_bounty", "names_round", "names_spec", "names_model", "unlisted", "other_blob",
                    "metrics", "value_alone", "copy_of_copy", "copy_of_rejected")
THREE_OWNERS = ("copy_of_copy", "copy_of_rejected")  # a third owner submitted to these too, after the two


def _lied_class_rows(first: int, second: int, raw, y, n_classes) -> list[int]:
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).tolist()
    return [counts[0] + first, counts[1] + second, *counts[2:]]


def _world(tmp_path_factory, scenarios, three_owners=()):
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    market.mint(session.signer.address, 850 * TOKEN_UNIT)  # 20 QDT of escrow per scenario
    spec_path = DEMO / "breast_cancer_spec.json"
    validation = [str(DEMO / "breast_cancer_validation.csv")]
    bounties = {}
    for name in scenarios:
        raw = read_spec_file(spec_path)
        if name == "private":
            raw["verifiable"] = False
        # "declared_rows": a practitioner whose spec claims 5 validation rows more than it holds
        # (5 more of its first class); "declared_classes": 3 rows of the first class declared as
        # the second's, the size right
        lying_rows = patch("practitioner.post.declared_validation_rows", lambda raw, rows: rows + 5) \
            if name == "declared_rows" else nullcontext()
        moved = {"declared_rows": (5, 0), "declared_classes": (-3, 3)}.get(name)
        lying_classes = patch("practitioner.post.declared_class_rows", partial(_lied_class_rows, *moved)) \
            if moved else nullcontext()
        with lying_rows, lying_classes:
            bounties[name] = post_bounty(session, spec_path, raw_spec=raw, validation_files=validation,
                                         reward_per_round=REWARD, rounds=1 if name in ONE_ROUND else 2,
                                         round_seconds=600,
                                         by_invitation=name == "invited",
                                         allow_revealed_validation=True).bounty_id  # the demo's public rows, in many bounties of one home
    home = tmp_path_factory.mktemp("owner")
    store = Store(home)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    owners = [funded_signer(market.chain) for _ in FILES]
    if "invited" in bounties:
        invitations = invite(session, load_spec(session, bounties["invited"]), bounties["invited"],
                             [o.address for o in owners], tmp_path_factory.mktemp("invitations"))
        for owner, path in zip(owners, invitations, strict=True):
            add_invitation(client, path.read_bytes(), account=owner.address)
    for bounty_id in bounties.values():
        for owner, name in zip(owners, FILES, strict=True):
            contribute(client, owner, bounty_id, [DEMO / name], file_roots=[session.home.root],
                       blob_dir=home / "blobs")
    third = funded_signer(market.chain)
    for name in three_owners:
        contribute(client, third, bounties[name], [DEMO / "breast_cancer_owner_c.csv"],
                   file_roots=[session.home.root], blob_dir=home / "blobs")
    market.chain.advance(601)
    yield {"market": market, "session": session, "key": private_key, "owners": owners, "third": third,
           "client": client, **bounties}
    store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One bounty of 2 rounds per scenario (the "private" one posted as not verifiable); two
    owners submitted to round 0 of each through the wallet; round 0 has closed. Each test
    finalises its own bounty, so no test undoes another's chain."""
    yield from _world(tmp_path_factory, SCENARIOS)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The same for REPORT_SCENARIOS, on another market; a third owner ("third") submitted to
    the THREE_OWNERS bounties after the two."""
    yield from _world(tmp_path_factory, REPORT_SCENARIOS, THREE_OWNERS)


def check(world, scenario, owner=0):
    """The verification result of `owner` for round 0 of the scenario's bounty."""
    results = verify_rewards(world["client"], world["owners"][owner].address)
    (result,) = [r for r in results if r.bounty_id == world[scenario]]
    return result


def test_the_kept_update_is_what_the_practitioner_decrypts(world):
    _spec, decoded = decrypted(world, world["honest"])
    for owner, submission in zip(world["owners"], decoded, strict=True):
        kept = kept_update_for(world["client"], owner.address, world["honest"], 0, submission.blob_hash)
        assert kept is not None and np.array_equal(kept, submission.update)


def test_honest_round_not_finalised_then_not_yet_revealed(world):
    result = check(world, "honest")
    assert result.status == NOT_FINALISED and "not been finalised" in result.detail
    honest_round(world, world["honest"])
    result = check(world, "honest")
    assert result.status == NOT_REVEALED, result.detail
    assert any("payouts" in c for c in result.checked) and any("next model" in c for c in result.checked)
    # the bounty ends; the practitioner reveals the set it committed to: every score recomputes
    end_and_reveal(world, world["honest"])
    for owner in (0, 1):
        result = check(world, "honest", owner)
        assert result.status == VERIFIED, result.detail
        assert ("revealed validation set = the spec's commitment and its declared size and rows per class"
                in result.checked)
        assert result.numbers["withEveryone"] == result.numbers["metricAfter"]
        assert result.numbers["withoutYou"] > result.numbers["metricAfter"]  # each owner helped
        # a round of two counted updates: each owner recomputes its own value and standard error
        assert "your value and standard error recomputed (a round of 2 counted updates)" in result.checked


def test_a_counted_update_paid_nothing_is_told_why(world):
    """The report pays owner 1 nothing: its value is within twice its standard error of 0. The
    check says so (the Rewards page and `quarry rewards --verify` print it); the paid owner
    gets no such line. The payouts still match the chain."""
    honest_round(world, world["unpaid"], values=((0.1, 0.01), (0.004, 0.003)))
    unpaid, paid = check(world, "unpaid", 1), check(world, "unpaid", 0)
    assert unpaid.status == NOT_REVEALED, unpaid.detail
    assert "Paid nothing" in unpaid.unpaid and "could not be told apart from chance" in unpaid.unpaid
    assert "+0.0040" in unpaid.unpaid and unpaid.as_dict()["unpaid"] == unpaid.unpaid
    assert paid.unpaid == ""
    # `quarry rewards` (without --verify) prints the same reason under its table
    client, key = world["client"], (world["unpaid"], 0)
    owners = [o.address for o in world["owners"]]
    assert unpaid_reasons(client, client.rewards(owners[1]), owners[1])[key] == unpaid.unpaid
    assert key not in unpaid_reasons(client, client.rewards(owners[0]), owners[0])


def test_a_round_finalised_while_the_check_runs_is_not_a_mismatch(world, monkeypatch):
    """The practitioner finalises just after the wallet read the board's log: the round is
    checked as the log saw it (not finalised yet), not as finalised with nothing paid on chain,
    which would accuse an honest practitioner; the next check verifies it."""
    import wallet.verify

    real_sync = wallet.verify.sync_board_log

    def sync_then_finalise(*args, **kwargs):
        synced_to = real_sync(*args, **kwargs)
        monkeypatch.setattr(wallet.verify, "sync_board_log", real_sync)  # once
        honest_round(world, world["race"])
        return synced_to

    monkeypatch.setattr(wallet.verify, "sync_board_log", sync_then_finalise)
    assert check(world, "race").status == NOT_FINALISED
    result = check(world, "race")
    assert result.status == NOT_REVEALED and "payouts" in " ".join(result.checked), result.detail


def test_a_report_calling_a_published_blob_unavailable_is_a_mismatch(world):
    """A practitioner who would rather not pay rejects an honest owner's update as "blob
    unavailable". The owner's wallet published it before the round closed (and noted when):
    the check says the report contradicts that. Not provable on chain (the inbox signs no
    receipt), but the owner is told, and the round counts as a Mismatch in the track record."""
    honest_round(world, world["withheld"], rejected={1: "blob unavailable: no such file"})
    result = check(world, "withheld", 1)
    assert result.status == MISMATCH
    assert "the report says its blob was unavailable, but this wallet published it" in result.detail
    assert check(world, "withheld", 0).status == NOT_REVEALED  # the paid owner's line is fine


def test_a_report_calling_an_owners_own_blob_undecryptable_is_a_mismatch(world):
    """The same practitioner, more careful: "undecryptable blob", which no chain record
    contradicts. But the owner's wallet built that blob under the bounty's key for this round's
    model and published exactly its committed bytes, so it says so before any reveal."""
    honest_round(world, world["undecryptable"], rejected={1: "undecryptable blob (slot out of range)"})
    result = check(world, "undecryptable", 1)
    assert result.status == MISMATCH
    assert result.differences == [
        "your submission: the report rejects it as 'undecryptable blob (slot out of range)', but this wallet "
        "built that blob for this round's bounty, key and model and published exactly the bytes whose hash "
        "it committed"]


def test_a_report_rejecting_an_invited_owner_as_not_invited_is_a_mismatch(world):
    """On a bounty by invitation the practitioner rejects an owner it invited as "not invited"
    (to keep its pay, or having lost its records). The owner's wallet keeps the invitation the
    spec's signer signed: a Mismatch, before any reveal."""
    uninvite = {1: "not invited: bounty 12 is by invitation and its practitioner did not invite this address"}
    honest_round(world, world["invited"], rejected=uninvite)
    result = check(world, "invited", 1)
    assert result.status == MISMATCH
    assert "the report says you were not invited, but this wallet keeps your invitation" in result.detail
    assert check(world, "invited", 0).status == NOT_REVEALED


def test_a_not_invited_rejection_on_a_bounty_open_to_everyone_is_a_mismatch(world):
    honest_round(world, world["uninvited"], rejected={0: "not invited: bounty 13 is by invitation"})
    result = check(world, "uninvited", 0)
    assert result.status == MISMATCH
    assert "the report says you were not invited, but the bounty is open to everyone" in result.detail


def test_a_false_alignment_rejection_is_a_mismatch_once_the_set_is_revealed(world):
    """The practitioner rejects an honest update as "not aligned with the validation data" to
    keep its pay. Before the reveal the owner cannot tell; once the set is revealed its wallet
    recomputes the reference update and its own cosine, which the screen keeps whatever the
    round's other updates: a Mismatch."""
    screen_out = {1: "update not aligned with the validation data (cosine -0.10, 0.7 of random "
                     "directions reach it; 2 updates tested): privacy noise drowning little data, "
                     "random noise or unrelated data"}
    honest_round(world, world["screened"], rejected=screen_out)
    before = check(world, "screened", 1)
    assert before.status == NOT_REVEALED  # nothing to recompute it with yet
    # but `quarry rewards --verify` and the Rewards page already say why it was not counted
    assert before.unpaid.startswith("Not counted: update not aligned with the validation data")
    end_and_reveal(world, world["screened"])
    result = check(world, "screened", 1)
    assert result.status == MISMATCH
    assert "the report says your update was not aligned" in result.detail
    assert "which the screen keeps in a round of 2 updates" in result.detail
    alone = check(world, "screened", 0)
    assert alone.status == VERIFIED
    assert "your value and standard error recomputed (a round of 1 counted update)" in alone.checked


def test_the_wallets_records_refute_only_what_they_contradict(world):
    """Each rejection reason the reference practitioner gives, against what the owner's wallet
    kept: the blob's publication (before the deadline), the blob itself (this wallet built it
    for the round's bounty, key and model: never unreadable, undecryptable, for another round
    or of another size) and the update itself (not zero, finite). Reasons it cannot check (the
    alignment screen before the reveal, a replay, which the check reads from the chain) are
    left here."""
    client, owner = world["client"], world["owners"][1].address
    bounty_id = world["withheld"]
    (row,) = [r for r in client.rewards(owner).rows if r.bounty_id == bounty_id]
    deadline = client.rounds(client.bounty(bounty_id))[0]["deadline"]

    def refuted(reason, *, deadline=deadline, blob=row.blob_hash):
        return refute_rejection(client, owner, reason, bounty_id, 0, blob, deadline)

    assert "published it to" in refuted("blob unavailable: no such file")
    assert "published it to" in refuted("blob could not be fetched")
    assert refuted("blob unavailable: timed out", deadline=0) == ""  # published after the deadline
    assert "exactly the bytes" in refuted("blob does not match the hash committed on chain")
    assert "not zero" in refuted("zero update (free rider)")
    assert "finite" in refuted("update has non-finite values")
    from wallet.round_report import is_protocol_rejection
    from wallet.verify import BLOB_REJECTIONS

    assert all(is_protocol_rejection(reason) for reason in BLOB_REJECTIONS)  # the two lists agree
    for blob_reason in ("undecryptable blob (bad ciphertext)", "unreadable blob: The blob is truncated.",
                        "blob is for bounty 7 round 0", "blob has 5 parameters; the model has 31",
                        "wrong number of parameters"):
        assert "this wallet built that blob" in refuted(blob_reason), blob_reason
    for unchecked in ("update points away from the practitioner's update on its validation data",
                      "replay of the previous round's global change"):
        assert refuted(unchecked) == ""
    other = "0x" + "00" * 32  # a blob this wallet did not send: nothing to say
    assert refuted("zero update (free rider)", blob=other) == refuted("blob unavailable", blob=other) == ""
    assert refuted("undecryptable blob (bad ciphertext)", blob=other) == ""


def test_a_revealed_set_that_is_not_the_committed_one_is_a_mismatch(world):
    honest_round(world, world["commitment"])
    end_and_reveal(world, world["commitment"], tamper=True)
    result = check(world, "commitment")
    assert result.status == MISMATCH
    assert result.differences == ["validation set: The revealed validation set does not match the "
                                  "commitment in the spec."]


def test_a_score_that_differs_from_the_recomputed_one_is_a_mismatch(world):
    def flatter(report):  # owner 0 is told the model without it is worse than it is
        report["contributors"][0]["metricWithout"] += 1e-6

    honest_round(world, world["scores"], doctor=flatter)
    end_and_reveal(world, world["scores"])
    mine, theirs = check(world, "scores", 0), check(world, "scores", 1)
    assert mine.status == MISMATCH and [d for d in mine.differences if d.startswith("your score")]
    assert theirs.status == VERIFIED, theirs.detail  # the other owner's line is right


def test_payouts_that_differ_from_the_chain_are_a_mismatch(world):
    from wallet.verify import recorded_results

    def inflate(report):  # the report claims owner 1 got more than the chain paid
        report["contributors"][1]["amount"] = str(int(report["contributors"][1]["amount"]) + 1)
        report["paid"] = str(int(report["paid"]) + 1)

    honest_round(world, world["payouts"], doctor=inflate)
    for owner in (0, 1):  # every owner sees it, not only the one misreported
        result = check(world, "payouts", owner)
        assert result.status == MISMATCH
        assert any(d.startswith("payouts") for d in result.differences), result.differences
    client = world["client"]
    rows = recorded_results(client.store, "test", client.board_address, [world["payouts"]])
    assert [row["status"] for row in rows] == [MISMATCH, MISMATCH]  # for the track record


def test_a_next_model_that_differs_from_the_chain_is_a_mismatch(world):
    other = model_from_spec(load_spec(world["session"], world["model"]), seed=7).get_params()
    honest_round(world, world["model"], next_params=other)
    result = check(world, "model", owner=1)
    assert result.status == MISMATCH
    assert [d for d in result.differences if d.startswith("model")], result.differences


def test_a_not_verifiable_bounty_says_so(world):
    honest_round(world, world["private"])
    result = check(world, "private")
    assert result.status == NOT_VERIFIABLE and "not verifiable" in result.detail
    assert any("payouts" in c for c in result.checked)
    # and it counts in the practitioner's track record
    record = track_record(world["client"], world["session"].signer.address)
    assert record.not_verifiable == 1 and record.bounties_posted == len(SCENARIOS)


def test_the_practitioners_own_evaluation_verifies(world):
    """The practitioner's real evaluate + finalize (valuation, report version 2), then the
    reveal: the wallet recomputes the same numbers."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    evaluation = evaluate_round(world["session"], world["evaluated"], 0, world["key"])
    finalize_round(world["session"], world["evaluated"], 0)
    assert evaluation.report["version"] == 2
    assert check(world, "evaluated").status == NOT_REVEALED
    end_and_reveal(world, world["evaluated"])
    for owner in (0, 1):
        result = check(world, "evaluated", owner)
        assert result.status == VERIFIED, result.detail


def test_a_damaged_kept_update_is_not_verifiable_not_a_mismatch(world):
    """The update this computer kept, damaged since it was sent: changed numbers (its digest no
    longer matches), a truncated or empty file, or (an older wallet's copy, without a digest)
    a vector of another length. Each would make the owner's own scores look misstated; it is
    this computer's damage, not the practitioner's: Not verifiable, saying so."""
    from wallet.kept_updates import kept_path

    if check(world, "evaluated").status != VERIFIED:  # run alone: the test above sets it up
        test_the_practitioners_own_evaluation_verifies(world)
    client, owner = world["client"], world["owners"][0].address
    (row,) = [r for r in client.rewards(owner).rows if r.bounty_id == world["evaluated"]]
    path = kept_path(client.store.home, client.chain_id, client.board_address, world["evaluated"], 0, owner,
                     row.blob_hash)
    digest = path.with_name(path.name.removesuffix(".npy") + ".sha256")
    kept, kept_digest = path.read_bytes(), digest.read_bytes() if digest.exists() else None
    vector = np.load(path)
    changed = vector.copy()
    changed[0] += 0.01
    damage = {}
    try:
        np.save(path, changed)
        damage["it no longer matches what was written when you sent it"] = check(world, "evaluated")
        path.write_bytes(kept[:len(kept) // 2])
        damage["its file cannot be read"] = check(world, "evaluated")
        path.write_bytes(b"")
        damage["its file cannot be read (empty)"] = check(world, "evaluated")
        digest.unlink(missing_ok=True)
        np.save(path, vector[:-1])
        damage[f"it has {vector.size - 1} values, the round's model {vector.size}"] = check(world, "evaluated")
    finally:
        path.write_bytes(kept)
        if kept_digest is not None:
            digest.write_bytes(kept_digest)
    for why, result in damage.items():
        assert result.status == NOT_VERIFIABLE, (why, result.detail)
        assert result.detail == ("Payouts, the next model and the round's scores match, but the update this "
                                 f"computer kept for that round is damaged ({why.removesuffix(' (empty)')}), so "
                                 "your own score cannot be checked."), (why, result.detail)
    assert check(world, "evaluated").status == VERIFIED  # the copy as it was written


def test_the_leftovers_credits_are_checked_against_the_chain_and_the_rule(world):
    """The closing round's report carries the leftover's credits (the practitioner's real
    evaluate + finalize): each owner's wallet finds them equal to the chain's `getCredit` and
    to what the bounty's reports give by the published rule (`leftover_credits`)."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    evaluation = evaluate_round(world["session"], world["credits"], 0, world["key"])
    assert evaluation.report["credits"]  # both owners helped: both have a credit
    finalize_round(world["session"], world["credits"], 0)
    for owner in (0, 1):
        result = check(world, "credits", owner)
        assert result.status == NOT_REVEALED, result.differences
        assert "leftover credits = the bounty's reports pooled, and the chain's" in result.checked


def test_credits_that_favour_one_owner_against_the_rule_are_a_mismatch(world):
    """A practitioner that records the whole leftover for one owner (in its report and on
    chain alike): the other owner's wallet recomputes the credits from the bounty's reports
    and says the report is wrong."""
    from practitioner.evaluate import evaluate_round, round_record_path
    from practitioner.finalize import finalize_round
    from practitioner.report import report_bytes
    from practitioner.state import read_json, write_json

    session, bounty_id = world["session"], world["credits_doctored"]
    favoured = world["owners"][0].address
    evaluation = evaluate_round(session, bounty_id, 0, world["key"])
    report = {**evaluation.report, "credits": {favoured: str(REWARD)}}
    report_hash, report_uri = session.publish(report_bytes(report), load_spec(session, bounty_id).inbox_url)
    path = round_record_path(session, bounty_id, 0)
    write_json(path, {**read_json(path), "reportHash": report_hash, "reportURI": report_uri,
                      "credits": {"contributors": [favoured], "amounts": [str(REWARD)]}})
    finalize_round(session, bounty_id, 0)
    cheated = check(world, "credits_doctored", 1)
    assert cheated.status == MISMATCH
    (said,) = [d for d in cheated.differences if d.startswith("credits")]
    assert said.startswith("credits: the bounty's reports give you ") and "the report says 0 of" in said
    assert check(world, "credits_doctored", 0).status == MISMATCH  # the favoured owner is told too


def test_an_owner_who_skipped_the_closing_round_checks_its_credits_too(world):
    """Both owners submitted to round 0 only; the closing round 1 had no submission but still
    records the leftover's credits (from round 0's report). Each owner's check of its last
    round covers them: the leftover is shared by them whichever rounds it took part in."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    session, bounty_id = world["session"], world["credits_later"]
    evaluate_round(session, bounty_id, 0, world["key"])
    finalize_round(session, bounty_id, 0)
    world["market"].chain.advance(601)
    closing = evaluate_round(session, bounty_id, 1, world["key"])
    assert closing.report["contributors"] == [] and len(closing.report["credits"]) == 2
    finalize_round(session, bounty_id, 1)
    for owner in (0, 1):
        result = check(world, "credits_later", owner)
        assert result.round == 0 and result.status == NOT_REVEALED, result.differences
        assert "leftover credits = the bounty's reports pooled, and the chain's" in result.checked


def test_a_closing_report_without_credits_is_a_mismatch(world):
    """A practitioner that leaves the leftover's credits out of its closing report (and off the
    chain) makes the board share the leftover by pay, a rule it does not get to choose: both
    owners' wallets say so."""
    from practitioner.evaluate import evaluate_round, round_record_path
    from practitioner.finalize import finalize_round
    from practitioner.report import report_bytes
    from practitioner.state import read_json, write_json

    session, bounty_id = world["session"], world["credits_withheld"]
    evaluation = evaluate_round(session, bounty_id, 0, world["key"])
    report = {key: value for key, value in evaluation.report.items() if key != "credits"}
    report_hash, report_uri = session.publish(report_bytes(report), load_spec(session, bounty_id).inbox_url)
    path = round_record_path(session, bounty_id, 0)
    write_json(path, {**read_json(path), "reportHash": report_hash, "reportURI": report_uri,
                      "credits": {"contributors": [], "amounts": []}})
    finalize_round(session, bounty_id, 0)
    assert world["market"].board.functions.getCredit(bounty_id, world["owners"][0].address).call()[1] == 0
    for owner in (0, 1):
        result = check(world, "credits_withheld", owner)
        assert result.status == MISMATCH
        (said,) = [d for d in result.differences if d.startswith("credits")]
        assert "records no leftover credits" in said and "by pay" in said


def test_rounds_finalised_before_a_cancellation_need_no_credits(world):
    """Round 0 closed while the bounty was open (no credits: it was not the closing round);
    the practitioner then cancels in round 1, which becomes the closing round. Round 0's
    report without credits is not held against it."""
    from practitioner.evaluate import evaluate_round
    from practitioner.finalize import finalize_round

    session, bounty_id = world["session"], world["cancelled_later"]
    evaluation = evaluate_round(session, bounty_id, 0, world["key"])
    assert "credits" not in evaluation.report
    finalize_round(session, bounty_id, 0)
    session.client._send(world["market"].board.functions.cancel(bounty_id), f"Cancel bounty {bounty_id}")
    for owner in (0, 1):
        result = check(world, "cancelled_later", owner)
        assert result.status == NOT_REVEALED, result.differences
        assert not [d for d in result.differences if d.startswith("credits")]


def test_a_validation_set_smaller_than_its_spec_declared_is_a_mismatch(world):
    """Owners choose a bounty by its declared validation size (a small set lets one example
    move much of a round); a practitioner whose spec claims more rows than it reveals is a
    Mismatch once the set is revealed, while an honest one's declared size is checked."""
    spec = load_spec(world["session"], world["declared_rows"])
    honest_round(world, world["declared_rows"])
    end_and_reveal(world, world["declared_rows"])
    result = check(world, "declared_rows")
    assert result.status == MISMATCH
    assert result.differences == [f"validation set: the spec declared {spec.validation_rows} rows, "
                                  f"the revealed set has {spec.validation_rows - 5}"]


def test_validation_rows_per_class_other_than_declared_are_a_mismatch(world):
    """What owners' rows of a class earn depends on that class's validation rows, so the spec
    declares them; a practitioner that moved 3 rows from one class to another in its spec (the
    size right) is a Mismatch once the set is revealed."""
    spec = load_spec(world["session"], world["declared_classes"])
    honest_round(world, world["declared_classes"])
    end_and_reveal(world, world["declared_classes"])
    result = check(world, "declared_classes")
    assert result.status == MISMATCH
    declared = list(spec.validation_class_rows)
    revealed = [declared[0] + 3, declared[1] - 3, *declared[2:]]
    assert result.differences == [f"validation set: the spec declared {declared} rows per class, "
                                  f"the revealed set has {revealed}"]
    assert sum(declared) == spec.validation_rows


def test_amounts_that_do_not_follow_the_reports_own_values_are_a_mismatch(world):
    """A practitioner pays each owner what the other's value earns (chain and report agree):
    before any reveal every owner's wallet recomputes the pay rule from the report's lines and
    says the amounts do not follow from them."""
    from wallet.round_report import round_amounts
    from wallet.token import format_amount

    values = ((0.1, 0.01), (0.05, 0.01))
    rule = round_amounts([v for v, _ in values], [e for _, e in values], [1.0, 1.0], REWARD)
    honest_round(world, world["rules"], values=values, factors={0: 1.0, 1: 1.0}, amounts=rule[::-1])
    for owner in (0, 1):
        result = check(world, "rules", owner)
        assert result.status == MISMATCH
        assert [d for d in result.differences if d.startswith("rules:")] == [
            f"rules: {world['owners'][k].address} was paid {format_amount(rule[1 - k], 18)} QDT, its value, "
            f"standard error and pay factor give {format_amount(rule[k], 18)} QDT" for k in (0, 1)]
        assert not [d for d in result.differences if d.startswith("payouts")]  # the chain paid as reported
    # a bounty posted before the rules (its spec has no valuation_rules) is not held to them:
    # its reports were made by other rules (amounts in float64, older pay factors)
    import dataclasses

    from wallet.verify import _Checker

    client, account = world["client"], world["owners"][0].address
    older = _Checker(client, account)
    spec = older.spec(world["rules"])
    older.spec = lambda bounty_id: dataclasses.replace(spec, valuation_rules=0)
    (row,) = [r for r in client.rewards(account).rows if r.bounty_id == world["rules"]]
    assert older.check(world["rules"], 0, row.blob_hash, client.store, "test").status == NOT_REVEALED


def test_a_pay_factor_lower_than_the_owners_direction_gives_is_a_mismatch_once_revealed(world):
    """A practitioner holds back part of owner 1's pay by writing a pay factor of 0.2 and pays
    by it, consistently with its own report: nothing to see before the reveal; then owner 1's
    wallet recomputes its factor from its kept update against the reference update on the
    revealed set."""
    report = honest_round(world, world["factor"], factors={1: 0.2})
    true_factor = report["contributors"][0]["payFactor"]
    assert true_factor > 0.2  # the honest owner's real factor, recomputed by honest_round
    assert check(world, "factor", 1).status == NOT_REVEALED
    end_and_reveal(world, world["factor"])
    cheated, honest = check(world, "factor", 1), check(world, "factor", 0)
    assert cheated.status == MISMATCH
    (said,) = [d for d in cheated.differences if d.startswith("your pay factor")]
    assert said.startswith("your pay factor: the report says 0.2, recomputed ")
    assert float(said.split("recomputed ")[1].split(" ")[0]) > 0.2
    assert honest.status == VERIFIED, honest.detail
    assert any(c.startswith("your pay factor (") for c in honest.checked)


def test_a_report_that_leaves_out_the_bound_its_spec_commits_to_is_a_mismatch(world):
    """`post` commits every bounty to the bound along the reference (the spec's
    `valuation_rules`, hashed on chain). A practitioner whose report leaves `alongBound` out, so that an update
    reaching further along the validation data's direction (its own, say) is valued at its
    whole length, is caught by every owner before any reveal."""
    from practitioner.evaluate import evaluate_round, round_record_path
    from practitioner.finalize import finalize_round
    from practitioner.report import report_bytes
    from practitioner.state import read_json, write_json

    session, bounty_id = world["session"], world["unbounded"]
    assert load_spec(session, bounty_id).valuation_rules >= 1
    evaluation = evaluate_round(session, bounty_id, 0, world["key"])
    assert evaluation.report["alongBound"] > 0  # the practitioner's own evaluate writes it
    report = {key: value for key, value in evaluation.report.items() if key != "alongBound"}
    report_hash, report_uri = session.publish(report_bytes(report), load_spec(session, bounty_id).inbox_url)
    path = round_record_path(session, bounty_id, 0)
    write_json(path, {**read_json(path), "reportHash": report_hash, "reportURI": report_uri})
    finalize_round(session, bounty_id, 0)
    for owner in (0, 1):
        result = check(world, "unbounded", owner)
        assert result.status == MISMATCH
        assert result.differences[0].startswith(
            "rules: the bounty's spec commits every round report to its bound along the reference update, "
            "and this report leaves it out")


def test_a_report_that_shares_less_than_the_rounds_reward_is_a_mismatch(world):
    """A practitioner that values honestly but shares half the round's reward by the rule
    (the rest would go to the carry and reach owners only at the bounty's end, by credits):
    every owner's wallet compares the report's reward with the bounty's on chain."""
    honest_round(world, world["reward"], reward=REWARD // 2)
    for owner in (0, 1):
        result = check(world, "reward", owner)
        assert result.status == MISMATCH
        assert result.differences == ["rules: the report shares a reward of 5 QDT, the bounty's reward per "
                                      "round on chain is 10 QDT"]


def test_crediting_an_owners_update_to_a_later_submission_is_a_mismatch(world):
    """Copies are credited to the earliest on-chain submission. A practitioner that calls
    owner 0's update a copy of owner 1's (say its own address), which submitted after it, is
    caught from the chain's submission order, before any reveal, by both owners."""
    owners = world["owners"]
    honest_round(world, world["copy_first"], copies={0: 1})
    order = (f"copies: {owners[0].address} is counted as a copy of {owners[1].address}, "
             "which submitted after it on chain (copies are credited to the earliest)")
    for owner in (0, 1):
        result = check(world, "copy_first", owner)
        assert result.status == MISMATCH
        # owner 0 also finds no copy proof served for the claim against its own update
        assert result.differences == [order] + [
            f"your submission: the report counts it as a copy of {owners[1].address}, and the practitioner "
            "serves no copy proof of that (the spec commits every copy claim to one)"] * (owner == 0)
    # the other way round (owner 1 a copy of owner 0, who submitted first) keeps the order; but
    # the two owners' rows differ, so no copy proof can be served: that is what owner 1 sees
    # (copy proofs: tests/test_copy_proofs.py)
    honest_round(world, world["copy_after"], copies={1: 0})
    copier = check(world, "copy_after", 1)
    assert check(world, "copy_after", 0).status == NOT_REVEALED
    assert copier.status == MISMATCH and copier.differences == [
        f"your submission: the report counts it as a copy of {owners[0].address}, and the practitioner "
        "serves no copy proof of that (the spec commits every copy claim to one)"]
    assert copier.unpaid.startswith(f"Paid nothing: your update is a copy of {owners[0].address}'s")


def test_a_false_replay_rejection_is_a_mismatch_before_any_reveal(world):
    """A practitioner rejects owner 1's update as a replay of the previous round's global
    change in a bounty's first round, where there was none: the models are public on chain, so
    the wallet says so at once. The distance rule itself, on constructed vectors, agrees with
    the practitioner's screen (one rule, trainer.alignment's)."""
    from trainer.alignment import REPLAY_REASON as REPLAY
    from trainer.alignment import REPLAY_TOLERANCE, replay_distance
    from trainer.shapley import screen_updates

    honest_round(world, world["replayed"], rejected={1: REPLAY})
    cheated = check(world, "replayed", 1)
    assert cheated.status == MISMATCH
    assert cheated.differences == ["your submission: the report calls your update a replay of the previous "
                                   "round's global change, but the model did not change before this round"]
    assert check(world, "replayed", 0).status == NOT_REVEALED
    change = np.array([3.0, 4.0])  # length 5
    assert replay_distance(change + [0.3, 0.4], change) == pytest.approx(0.1)
    assert replay_distance(change, np.zeros(2)) is None and replay_distance(change, np.ones(3)) is None
    near, far = change + [0.0, 0.45], change + [0.0, 0.55]  # 9 % and 11 % of its length away
    screened = screen_updates([near, far], change)
    assert screened.rejected == {0: REPLAY} and replay_distance(far, change) > REPLAY_TOLERANCE


def test_a_rejection_for_a_reason_the_protocol_does_not_give_is_a_mismatch(world):
    """A practitioner that words a rejection its own way (here a "Replay" that no refutation
    matches) to keep an owner's pay: on a bounty posted with the valuation rules, a reason
    outside the protocol's is a Mismatch for the owner it rejects. Every reason the reference
    practitioner's screen and decoder give is one of the protocol's."""
    from practitioner.decode import _check
    from practitioner.invitations import not_invited_reason
    from trainer.shapley import screen_updates
    from wallet.round_report import is_protocol_rejection

    honest_round(world, world["reworded"], rejected={1: "Replay of an earlier update"})
    result = check(world, "reworded", 1)
    assert result.status == MISMATCH
    assert result.differences == ["your submission: the report rejects it for a reason the protocol does "
                                  "not give ('Replay of an earlier update')"]
    assert check(world, "reworded", 0).status == NOT_REVEALED
    change = np.array([3.0, 4.0])
    screened = screen_updates([np.zeros(2), np.array([np.nan, 1.0]), change, -change], change,
                              reference=change)
    reasons = [*screened.rejected.values(), not_invited_reason(3)]
    assert len(reasons) == 5 and all(is_protocol_rejection(r) for r in reasons), reasons
    assert is_protocol_rejection(_check(type("Fetched", (), {"data": None, "error": None})()))
    # a blob that decrypts to nothing readable (wrong key, out-of-range blocks) is rejected with
    # one of the protocol's reasons; a cancelled decryption stops the round instead
    from practitioner import decode
    from trainer.errors import BlobError, TrainingCancelled

    def failing(error):
        def decrypt(*_args, **_kwargs):
            raise error
        return decrypt

    with patch.object(decode, "decrypt_update", failing(BlobError("The aggregated updates do not decode"))):
        _update, reason = decode.decrypt_one(None, None)
    assert reason == "undecryptable blob: The aggregated updates do not decode" and is_protocol_rejection(reason)
    with patch.object(decode, "decrypt_update", failing(TrainingCancelled("Decryption cancelled"))), \
            pytest.raises(TrainingCancelled):
        decode.decrypt_one(None, None)


def test_a_report_whose_lines_are_not_the_rounds_submitters_is_a_mismatch(world):
    """A report padded with an unpaid line for an address that did not submit (it would grow
    the pay rule's denominator or the next model's): every owner's wallet compares the lines
    with the round's submitters on chain."""
    stranger = "0x" + "5a" * 20

    def pad(report):
        report["contributors"].append({
            "address": stranger, "blobHash": "0x" + "00" * 32, "value": 0.0, "stdErr": 0.0, "share": 0.0,
            "amount": "0", "inModel": False, "metricWithout": report["metricAfter"], "copyOf": None,
            "payFactor": 1.0})
        report["players"] += 1
        report["denominator"] += 1

    honest_round(world, world["padded"], doctor=pad)
    for owner in (0, 1):
        result = check(world, "padded", owner)
        assert result.status == MISMATCH
        assert result.differences == ["rules: the report's lines are not the round's submitters on chain, "
                                      f"each once; not submitters: {stranger}"]


def test_finalize_refuses_a_round_that_got_a_submission_after_its_evaluation(world):
    """On a real chain a submission can be mined into a block timestamped before the deadline
    after `evaluate` read the round's submitters. Its report would then not list every
    submitter (a Mismatch for every owner), so `finalize` compares the list again and asks
    for a new evaluation; the new one finalises and verifies."""
    from practitioner.evaluate import evaluate_round, round_record_path
    from practitioner.finalize import finalize_round
    from practitioner.state import read_json, write_json
    from wallet.errors import InvalidInput

    session, bounty_id = world["session"], world["late"]
    evaluate_round(session, bounty_id, 0, world["key"])
    path = round_record_path(session, bounty_id, 0)
    record = read_json(path)
    assert [a.lower() for a in record["submitters"]] == [o.address.lower() for o in world["owners"]]
    write_json(path, {**record, "submitters": record["submitters"][:1]})  # as if read before owner 1's
    with pytest.raises(InvalidInput, match=r"1 submission\(s\) reached .* after it was evaluated .*run evaluate again"):
        finalize_round(session, bounty_id, 0)
    evaluate_round(session, bounty_id, 0, world["key"])
    finalize_round(session, bounty_id, 0)
    assert check(world, "late", 1).status == NOT_REVEALED


def test_a_misstated_value_in_a_round_of_two_is_a_mismatch_once_revealed(world):
    """In a round of two counted updates, both in the next model, an owner's wallet knows the
    other's update (n x the model's change - its own) and so recomputes its exact Shapley
    value and standard error: a practitioner that doubles owner 1's standard error, and pays
    by it consistently, is caught after the reveal; owner 0's line is right. (A round of one,
    owner 0 alone, is recomputed too: `test_a_false_alignment_rejection_...` verifies it.)"""
    measured = {}

    def doubled(values):
        measured.update(values)
        return {**values, 1: (values[1][0], 2 * values[1][1])}

    honest_round(world, world["value"], restate=doubled)
    assert check(world, "value", 1).status == NOT_REVEALED  # nothing to recompute it with yet
    end_and_reveal(world, world["value"])
    cheated, honest = check(world, "value", 1), check(world, "value", 0)
    assert cheated.status == MISMATCH
    (said,) = [d for d in cheated.differences if d.startswith("your standard error")]
    assert said.startswith(f"your standard error: the report says {2 * measured[1][1]!r}, recomputed ")
    assert cheated.numbers["stdErr"] == pytest.approx(measured[1][1], rel=1e-9)
    assert honest.status == VERIFIED, honest.detail
    assert honest.numbers["value"] == pytest.approx(measured[0][0], rel=1e-9)


# -- (a): the report names this round and lists this owner's own submission -------------------

SCREENED_OUT = ("update not aligned with the validation data (cosine -0.10, 0.7 of random directions reach "
               "it; 2 updates tested): privacy noise drowning little data, random noise or unrelated data")


@pytest.mark.parametrize("field", ["bountyId", "round", "specHash", "modelHash"])
def test_a_report_that_names_another_round_spec_or_model_is_a_mismatch(reports, field):
    """A report that is honest in every number but names another bounty (one of this
    practitioner's own), another round, another spec (another bounty's) or another round
    model (its own next model) than the chain's: the owner's wallet says which, before any
    reveal, and nothing else differs."""
    scenario = {"bountyId": "names_bounty", "round": "names_round", "specHash": "names_spec",
                "modelHash": "names_model"}[field]
    bounty_id, other = reports[scenario], reports["metrics"]

    def rename(report):
        report[field] = {"bountyId": other, "round": 1,
                         "specHash": reports["session"].client.bounty(other).spec_hash,
                         "modelHash": report["nextModelHash"]}[field]

    honest_round(reports, bounty_id, doctor=rename)
    said = {"bountyId": f"round: the report is for bounty {other} round 0",
            "round": f"round: the report is for bounty {bounty_id} round 1",
            "specHash": "spec: the report names another spec than the bounty's",
            "modelHash": "model: the report's round model is not the one the round trained from on chain"}[field]
    result = check(reports, scenario)  # owner 0's; every owner's wallet reads the same fields
    assert result.status == MISMATCH
    assert result.differences == [said]


def test_a_report_that_leaves_out_an_owners_submission_is_a_mismatch(reports):
    """A practitioner rejects owner 1's update (before the reveal, a reason no owner can
    check) and then leaves the rejected line out of its report, as if owner 1 had not
    submitted: owner 1's wallet finds its own submission missing, and every owner's finds the
    lines are not the round's submitters."""
    owners = reports["owners"]

    def drop(report):
        report["rejected"] = [line for line in report["rejected"] if line["address"] != owners[1].address]

    honest_round(reports, reports["unlisted"], rejected={1: SCREENED_OUT}, doctor=drop)
    missing = ("rules: the report's lines are not the round's submitters on chain, each once; "
               f"not listed: {owners[1].address.lower()}")
    dropped = check(reports, "unlisted", 1)
    assert dropped.status == MISMATCH
    assert dropped.differences == ["your submission: the report does not list it", missing]
    assert check(reports, "unlisted", 0).differences == [missing]


def test_a_report_that_swaps_the_owners_blobs_is_a_mismatch(reports):
    """A practitioner credits owner 1's blob to owner 0 and rejects owner 0's blob under owner
    1's name: each owner's wallet knows the blob hash it committed, and says the report lists
    another blob as its own (PROTOCOL: the owner's submission is listed, contributors or
    rejected, with its blob hash)."""
    def swap(report):
        (line,), (rejected,) = report["contributors"], report["rejected"]
        line["blobHash"], rejected["blobHash"] = rejected["blobHash"], line["blobHash"]

    honest_round(reports, reports["other_blob"], rejected={1: SCREENED_OUT}, doctor=swap)
    credited, rejected = check(reports, "other_blob", 0), check(reports, "other_blob", 1)
    assert credited.status == MISMATCH
    assert credited.differences == ["your submission: the report credits another blob to you"]
    assert rejected.status == MISMATCH
    assert rejected.differences == ["your submission: the report rejects another blob than yours under your "
                                    "address"]


# -- (c): the round's scores and a lone owner's value, once the set is revealed ---------------


def test_round_scores_the_revealed_set_does_not_give_are_a_mismatch(reports):
    """A report that flatters the round (the model before it worse, the model after it
    better than they score): nothing to see before the reveal; then every owner's wallet
    scores both models on the revealed set and says which number differs."""
    true = {}

    def flatter(report):
        true.update(metricBefore=report["metricBefore"], metricAfter=report["metricAfter"])
        report["metricBefore"] += 1e-3
        report["metricAfter"] -= 1e-3

    report = honest_round(reports, reports["metrics"], doctor=flatter)
    assert check(reports, "metrics").status == NOT_REVEALED
    end_and_reveal(reports, reports["metrics"])
    result = check(reports, "metrics")
    assert result.status == MISMATCH
    assert [d.split(", recomputed ")[0] for d in result.differences] == [
        f"scores: the report's {name} is {report[name]!r}" for name in ("metricBefore", "metricAfter")]
    for name in ("metricBefore", "metricAfter"):
        assert result.numbers[name] == pytest.approx(true[name], rel=1e-9)
        assert float(result.differences[name == "metricAfter"].split(", recomputed ")[1]) == result.numbers[name]


def test_a_misstated_value_in_a_round_of_one_is_a_mismatch_once_revealed(reports):
    """Owner 1 is rejected (screened out), so owner 0's is the round's one counted update and
    its value is its update's alone: a practitioner that writes half of it (and pays by it
    consistently) is caught by owner 0's wallet once the set is revealed."""
    measured = {}

    def halved(values):
        measured.update(values)
        return {**values, 0: (values[0][0] / 2, values[0][1])}

    honest_round(reports, reports["value_alone"], rejected={1: SCREENED_OUT}, restate=halved)
    assert check(reports, "value_alone").status == NOT_REVEALED
    end_and_reveal(reports, reports["value_alone"])
    result = check(reports, "value_alone")
    assert result.status == MISMATCH
    (said,) = [d for d in result.differences if d.startswith("your value")]
    assert said.startswith(f"your value: the report says {measured[0][0] / 2!r}, recomputed ")
    assert said.endswith("(a round of 1 counted update, so your wallet can)")
    assert result.numbers["value"] == pytest.approx(measured[0][0], rel=1e-9)
    assert not [d for d in result.differences if d.startswith("your standard error")]  # that one is right


# -- copies: the chain of copy links ends at an original the report credits -------------------


@pytest.mark.parametrize("scenario", ["copy_of_copy", "copy_of_rejected"])
def test_a_copy_of_an_update_the_report_does_not_credit_is_a_mismatch(reports, scenario):
    """Three owners, in submission order 0, 1, 2. Owner 2's line is a copy of owner 1's, who
    submitted before it, but owner 1's line is itself a copy (of owner 0's) or rejected: the
    link does not end at an original the report credits, and every owner's wallet says so
    before any reveal (owner 0's sees nothing else wrong)."""
    owners = [*reports["owners"], reports["third"]]
    three = {**reports, "owners": owners}
    first = {"copy_of_copy": {"copies": {1: 0}}, "copy_of_rejected": {"rejected": {1: SCREENED_OUT}}}[scenario]
    copies = {**first.get("copies", {}), 2: 1}
    honest_round(three, reports[scenario], copies=copies, rejected=first.get("rejected"))
    result = check(three, scenario, 0)
    assert result.status == MISMATCH
    assert result.differences == [f"copies: {owners[2].address} is counted as a copy of {owners[1].address}, "
                                  "which the report does not credit as an original"]
