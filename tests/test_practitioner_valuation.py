"""value_round on a small numpy logistic game: rejections, merges, order, budget of the report."""

from __future__ import annotations

import numpy as np
import pytest

from practitioner.report import build_report, parse_report, report_bytes, report_hash
from practitioner.valuation import DecodedSubmission, value_round


def _game(seed: int = 0):
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=5)
    x = rng.normal(size=(300, 5))
    y = (x @ true_w > 0).astype(int)

    def accuracy(params):
        return float(np.mean(((x @ params) > 0).astype(int) == y))

    return true_w, accuracy


def _addr(i: int) -> str:
    return "0x" + f"{i:040x}"


def test_value_round_rejects_free_rider_splits_copies_and_never_overspends():
    true_w, accuracy = _game()
    rng = np.random.default_rng(1)
    honest = [true_w + 0.3 * rng.normal(size=5) for _ in range(3)]
    subs = [
        DecodedSubmission(_addr(5), "0x05", honest[0]),
        DecodedSubmission(_addr(1), "0x01", np.zeros(5)),  # free rider
        DecodedSubmission(_addr(3), "0x03", honest[1]),
        DecodedSubmission(_addr(4), "0x04", honest[1] * 1.0001),  # copy of 3's update
        DecodedSubmission(_addr(2), "0x02", None, "blob hash mismatch"),
        DecodedSubmission(_addr(6), "0x06", honest[2]),
    ]
    reward = 10**18
    valuation = value_round(np.zeros(5), subs, accuracy, reward, clip_norm=100.0)
    by_address = {line.address: line for line in valuation.contributors}
    assert set(by_address) == {_addr(3), _addr(4), _addr(5), _addr(6)}
    assert {r.address: r.reason for r in valuation.rejected} == {
        _addr(2): "blob hash mismatch",
        _addr(1): "zero update (free rider)",
    }
    assert valuation.players == 3 and valuation.method == "exact"
    assert by_address[_addr(3)].amount == by_address[_addr(4)].amount > 0
    assert by_address[_addr(3)].merged_with == (_addr(4),)
    assert sum(line.amount for line in valuation.contributors) <= reward
    assert valuation.metric_after > valuation.metric_before

    # order of submission changes nothing
    again = value_round(np.zeros(5), list(reversed(subs)), accuracy, reward, clip_norm=100.0)
    assert valuation.payouts == again.payouts

    report = build_report(
        bounty_id=1, round_index=0, spec_hash="0x" + "0" * 64, model_hash="0x" + "1" * 64,
        next_model_hash="0x" + "2" * 64, metric="accuracy",
        metric_before=valuation.metric_before, metric_after=valuation.metric_after,
        method=valuation.method, seed=valuation.seed, evaluations=valuation.evaluations,
        players=valuation.players, reward=reward, contributors=valuation.contributors,
        rejected=valuation.rejected,
    )
    data = report_bytes(report)
    assert report_hash(data).startswith("0x") and len(report_hash(data)) == 66
    parsed = parse_report(data)
    assert parsed["paid"] == sum(line.amount for line in valuation.contributors)
    assert len(parsed["rejected"]) == 2


def test_value_round_with_nobody_keeps_the_model():
    _, accuracy = _game()
    valuation = value_round(
        np.ones(5), [DecodedSubmission(_addr(1), "0x01", np.zeros(5))], accuracy, 100,
        clip_norm=1.0,
    )
    assert valuation.method == "none" and valuation.payouts == []
    assert np.array_equal(valuation.next_params, np.ones(5))


def test_oversized_update_is_projected_onto_the_clip_ball():
    true_w, accuracy = _game()
    subs = [DecodedSubmission(_addr(1), "0x01", true_w * 1000)]
    valuation = value_round(np.zeros(5), subs, accuracy, 100, clip_norm=2.0)
    assert np.linalg.norm(valuation.next_params) == pytest.approx(2.0)


def test_many_players_use_gtg_within_budget_and_pay_the_better_ones_more():
    true_w, accuracy = _game(seed=4)
    rng = np.random.default_rng(5)
    # 14 owners: half with good updates, half with weak ones (mostly noise)
    updates = [true_w + 0.8 * rng.normal(size=5) for _ in range(7)]
    updates += [0.2 * true_w + rng.normal(size=5) for _ in range(7)]
    subs = [DecodedSubmission(_addr(i + 1), f"0x{i:02x}", u) for i, u in enumerate(updates)]
    valuation = value_round(np.zeros(5), subs, accuracy, 10**18, clip_norm=100.0, seed=9)
    assert valuation.method == "gtg" and valuation.seed == 9
    # max(30, n) * n for the Shapley estimate, plus n leave-one-out models for the report
    assert valuation.evaluations <= 30 * 14 + 14 + 1
    amounts = {line.address: line.amount for line in valuation.contributors}
    good = [amounts.get(_addr(i + 1), 0) for i in range(7)]
    weak = [amounts.get(_addr(i + 8), 0) for i in range(7)]
    assert sum(good) > sum(weak)
    assert sum(good) + sum(weak) <= 10**18


def test_a_deeply_nested_report_is_refused_not_a_crash():
    # Reports come from the chain's reportURI: a stranger's bytes. With web3 loaded the
    # recursion limit is raised, so unguarded json.loads of this would kill the process.
    import web3  # noqa: F401

    from practitioner.report import parse_report
    from wallet.errors import InvalidInput

    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_report(b"[" * 1_000_000 + b"]" * 1_000_000)
