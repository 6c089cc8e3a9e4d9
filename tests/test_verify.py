"""Every owner can check its own pay (wallet/verify.py) on a real EVM with real Paillier:
owners contribute with the wallet (which keeps its plaintext update), the practitioner
finalises with an honest or a doctored report, and the wallet says Verified, Not yet
revealed, Not verifiable or Mismatch (and what differs)."""

from __future__ import annotations

import numpy as np
import pytest

from practitioner.post import post_bounty, read_spec_file
from tests.chain_fixtures import TOKEN_UNIT, funded_signer
from tests.practitioner_fixtures import practitioner_on_market
from tests.verify_fixtures import DEMO, REWARD, decrypted, end_and_reveal, honest_round, load_spec
from trainer.models import model_from_spec
from wallet.bounties import BountyClient
from wallet.contribute import contribute
from wallet.kept_updates import kept_update_for
from wallet.store import Store
from wallet.track_record import track_record
from wallet.verify import (
    MISMATCH,
    NOT_FINALISED,
    NOT_REVEALED,
    NOT_VERIFIABLE,
    VERIFIED,
    verify_rewards,
)

FILES = ["breast_cancer_owner_a.csv", "breast_cancer_owner_b.csv"]


SCENARIOS = ("honest", "payouts", "model", "private", "commitment", "scores", "evaluated")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One bounty of 2 rounds per scenario (the "private" one posted as not verifiable); two
    owners submitted to round 0 of each through the wallet; round 0 has closed. Each test
    finalises its own bounty, so no test undoes another's chain."""
    market, session, private_key = practitioner_on_market(tmp_path_factory.mktemp("practitioner"))
    market.mint(session.signer.address, 100 * TOKEN_UNIT)
    spec_path = DEMO / "breast_cancer_spec.json"
    validation = [str(DEMO / "breast_cancer_validation.csv")]
    bounties = {}
    for name in SCENARIOS:
        raw = read_spec_file(spec_path)
        if name == "private":
            raw["verifiable"] = False
        bounties[name] = post_bounty(session, spec_path, raw_spec=raw, validation_files=validation,
                                     reward_per_round=REWARD, rounds=2, round_seconds=600).bounty_id
    home = tmp_path_factory.mktemp("owner")
    store = Store(home)
    client = BountyClient(market.w3, market.board.address, market.w3.eth.chain_id, store, "test", file_roots=None)
    owners = [funded_signer(market.chain) for _ in FILES]
    for bounty_id in bounties.values():
        for owner, name in zip(owners, FILES, strict=True):
            contribute(client, owner, bounty_id, [DEMO / name], file_roots=[session.home.root],
                       blob_dir=home / "blobs")
    market.chain.advance(601)
    yield {"market": market, "session": session, "key": private_key, "owners": owners,
           "client": client, **bounties}
    store.close()


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
        assert result.numbers["withEveryone"] == result.numbers["metricAfter"]
        assert result.numbers["withoutYou"] > result.numbers["metricAfter"]  # each owner helped


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
