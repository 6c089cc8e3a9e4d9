"""value_round on a small numpy logistic game: rejections, copies, order, uncertainty, the
report (version 2) and reading version 1."""

from __future__ import annotations

import numpy as np
import pytest

from practitioner.report import parse_report, report_bytes, report_hash, report_of_valuation
from practitioner.valuation import DecodedSubmission, encoding_slack, value_round
from tests.valuation_fixtures import LogisticScorer


def _game(seed: int = 0, m: int = 300):
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=5)
    x = rng.normal(size=(m, 5))
    y = (x @ true_w + 0.5 * rng.normal(size=m) > 0).astype(int)
    return true_w, LogisticScorer(x, y)


def _addr(i: int) -> str:
    return "0x" + f"{i:040x}"


def test_value_round_rejects_free_rider_credits_copies_once_and_never_overspends():
    true_w, scorer = _game()
    rng = np.random.default_rng(1)
    honest = [0.5 * true_w + 0.3 * rng.normal(size=5) for _ in range(3)]
    subs = [
        DecodedSubmission(_addr(5), "0x05", honest[0], order=0),
        DecodedSubmission(_addr(1), "0x01", np.zeros(5), order=1),  # free rider
        DecodedSubmission(_addr(4), "0x04", honest[1] * 1.5, order=3),  # scaled copy of 3's update
        DecodedSubmission(_addr(3), "0x03", honest[1], order=2),
        DecodedSubmission(_addr(2), "0x02", None, "blob hash mismatch", order=4),
        DecodedSubmission(_addr(6), "0x06", honest[2], order=5),
    ]
    reward = 10**18
    valuation = value_round(np.zeros(5), subs, scorer, reward, clip_norm=100.0)
    by_address = {line.address: line for line in valuation.contributors}
    assert set(by_address) == {_addr(3), _addr(4), _addr(5), _addr(6)}
    assert {r.address: r.reason for r in valuation.rejected} == {
        _addr(2): "blob hash mismatch",
        _addr(1): "zero update (free rider)",
    }
    assert valuation.players == 3 and valuation.method == "exact"
    # the copy came later on chain: 0, with the original named; the original is paid as if
    # the copy had never been sent
    assert by_address[_addr(4)].amount == 0 and by_address[_addr(4)].copy_of == _addr(3)
    assert not by_address[_addr(4)].in_model
    alone = value_round(np.zeros(5), [s for s in subs if s.address != _addr(4)], scorer, reward,
                        clip_norm=100.0)
    assert valuation.payouts == alone.payouts
    assert by_address[_addr(3)].amount > 0 and by_address[_addr(3)].copy_of is None
    assert sum(line.amount for line in valuation.contributors) <= reward
    assert valuation.metric_after < valuation.metric_before  # log-loss: lower is better
    assert valuation.accuracy_after > valuation.accuracy_before
    for line in valuation.contributors:
        if line.copy_of is None:
            assert line.std_err > 0 and line.in_model == (line.value > 0)
            assert line.metric_without > valuation.metric_after  # leaving it out costs

    # order of submission changes nothing but which copy is credited
    again = value_round(np.zeros(5), list(reversed(subs)), scorer, reward, clip_norm=100.0)
    assert valuation.payouts == again.payouts
    swapped = [DecodedSubmission(s.address, s.blob_hash, s.update, s.error,
                                 {2: 3, 3: 2}.get(s.order, s.order)) for s in subs]
    swapped_lines = {line.address: line for line in
                     value_round(np.zeros(5), swapped, scorer, reward, clip_norm=100.0).contributors}
    assert swapped_lines[_addr(3)].copy_of == _addr(4) and swapped_lines[_addr(3)].amount == 0
    assert swapped_lines[_addr(4)].amount > 0

    report = report_of_valuation(
        valuation, bounty_id=1, round_index=0, spec_hash="0x" + "0" * 64, model_hash="0x" + "1" * 64,
        next_model_hash="0x" + "2" * 64, reward=reward,
    )
    data = report_bytes(report)
    assert report_hash(data).startswith("0x") and len(report_hash(data)) == 66
    parsed = parse_report(data)
    assert parsed["version"] == 2 and parsed["metric"] == "log_loss"
    assert parsed["denominator"] == valuation.players
    assert parsed["paid"] == sum(line.amount for line in valuation.contributors)
    assert len(parsed["rejected"]) == 2
    line = next(c for c in parsed["contributors"] if c["address"] == _addr(4))
    assert line["copyOf"] == _addr(3) and line["inModel"] is False and line["amount"] == 0
    # no bound along the reference here: no line is written with a scale, and the reader gives 1
    written = next(c for c in report["contributors"] if c["address"] == _addr(4))
    assert {"address", "blobHash", "value", "stdErr", "share", "amount", "inModel",
            "metricWithout", "copyOf", "payFactor"} == set(written)
    assert "alongBound" not in report and line["scale"] == 1.0
    assert {"address", "blobHash", "value", "stdErr", "share", "amount", "inModel",
            "metricWithout", "copyOf", "payFactor", "scale"} == set(line)
    assert {"accuracyBefore", "accuracyAfter", "metricBefore", "metricAfter"} <= set(parsed)


def test_parse_report_still_reads_version_1():
    report = {
        "kind": "quarry-round-report", "version": 1, "bountyId": 1, "round": 0,
        "specHash": "0x" + "0" * 64, "modelHash": "0x" + "1" * 64, "nextModelHash": "0x" + "2" * 64,
        "metric": "accuracy", "metricBefore": 0.5, "metricAfter": 0.9, "players": 1,
        "denominator": 1, "method": "exact", "seed": None, "evaluations": 2, "reward": "100",
        "paid": "100", "rejected": [],
        "contributors": [{"address": _addr(1), "blobHash": "0x01", "value": 0.4, "share": 1.0,
                          "amount": "100", "metricWith": 0.9, "metricWithout": 0.5,
                          "mergedWith": []}],
    }
    parsed = parse_report(report_bytes(report))
    assert parsed["version"] == 1 and parsed["contributors"][0]["amount"] == 100


def test_next_model_and_metric_without_follow_the_fixed_denominator():
    true_w, scorer = _game(seed=2)
    rng = np.random.default_rng(3)
    good = [0.5 * true_w + 0.2 * rng.normal(size=5) for _ in range(2)]
    harmful = -0.5 * true_w
    subs = [DecodedSubmission(_addr(i + 1), "0x", u) for i, u in enumerate([*good, harmful])]
    valuation = value_round(np.zeros(5), subs, scorer, 1000, clip_norm=100.0)
    lines = {line.address: line for line in valuation.contributors}
    assert lines[_addr(3)].value < 0 and not lines[_addr(3)].in_model and lines[_addr(3)].amount == 0
    assert np.allclose(valuation.next_params, (good[0] + good[1]) / 3)  # denominator 3
    # metricWithout of an owner in the model: the next model minus its update / 3
    without_first = scorer.losses(good[1] / 3).mean()
    assert lines[_addr(1)].metric_without == pytest.approx(without_first)
    assert lines[_addr(3)].metric_without == pytest.approx(valuation.metric_after)


def test_value_round_with_nobody_keeps_the_model():
    _, scorer = _game()
    valuation = value_round(
        np.ones(5), [DecodedSubmission(_addr(1), "0x01", np.zeros(5))], scorer, 100,
        clip_norm=1.0,
    )
    assert valuation.method == "none" and valuation.payouts == []
    assert np.array_equal(valuation.next_params, np.ones(5))


def test_oversized_update_is_projected_onto_the_clip_ball():
    true_w, scorer = _game()
    subs = [DecodedSubmission(_addr(1), "0x01", true_w * 1000)]
    valuation = value_round(np.zeros(5), subs, scorer, 100, clip_norm=2.0)
    assert np.linalg.norm(valuation.next_params) == pytest.approx(2.0)


def test_many_players_use_gtg_within_budget_and_pay_the_better_ones_more():
    true_w, scorer = _game(seed=4)
    rng = np.random.default_rng(5)
    # 14 owners: half with good updates, half with weak ones (mostly noise)
    updates = [true_w + 0.8 * rng.normal(size=5) for _ in range(7)]
    updates += [0.2 * true_w + rng.normal(size=5) for _ in range(7)]
    subs = [DecodedSubmission(_addr(i + 1), f"0x{i:02x}", u) for i, u in enumerate(updates)]
    valuation = value_round(np.zeros(5), subs, scorer, 10**18, clip_norm=100.0, seed=9)
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


def test_a_clipped_update_is_used_exactly_as_decrypted():
    """An honest update clipped to the norm comes back from the fixed-point round trip up to
    half a step per parameter longer; within that slack it is not rescaled, so the report's
    metricWithout is what its owner's wallet recomputes from the plaintext it kept."""
    from trainer.encoding import EncodingParams, decode_sum, encode
    from trainer.testing import make_spec

    true_w, scorer = _game(seed=6)
    spec = make_spec(4, **{"privacy.clip_norm": 1.0, "encoding.clip": 2.0})
    encoding = EncodingParams.from_spec(spec)
    rng = np.random.default_rng(7)
    kept = []
    for _ in range(3):
        raw = 0.8 * true_w + 1.0 * rng.normal(size=5)
        clipped = raw / np.linalg.norm(raw)  # norm exactly the clip norm 1.0
        kept.append(decode_sum(encode(clipped, encoding), 1, encoding))
    assert max(np.linalg.norm(k) for k in kept) > 1.0  # the round trip lengthened one
    slack = encoding_slack(5, encoding.precision_bits)
    subs = [DecodedSubmission(_addr(i + 1), "0x", k) for i, k in enumerate(kept)]
    valuation = value_round(np.zeros(5), subs, scorer, 1000, clip_norm=1.0, clip_slack=slack)
    n = valuation.players
    for i, line in enumerate(valuation.contributors):
        assert line.in_model
        mine = float(scorer.losses(valuation.next_params - kept[i] / n).mean())
        assert abs(mine - line.metric_without) <= 1e-12 * mine
    assert np.allclose(valuation.next_params, sum(kept) / n, rtol=0, atol=1e-15)
    # beyond the slack an update is projected onto the ball
    long = DecodedSubmission(_addr(9), "0x", 3.0 * kept[0] / np.linalg.norm(kept[0]))
    again = value_round(np.zeros(5), [long], scorer, 1000, clip_norm=1.0, clip_slack=slack)
    assert np.linalg.norm(again.next_params) == pytest.approx(1.0)


def test_a_noised_update_longer_than_the_clip_is_counted_as_the_wallet_recomputes_it():
    """Whole-update privacy noise, added after clipping, makes an update longer than the clip
    norm; the valuation counts it projected onto the clip ball (Valuation step 1) and the
    owner's wallet checks its "without you" score with `trainer.encoding.counted_update` of
    the vector it kept, the same projection: the two agree exactly, while the longer vector
    the owner sent would not."""
    from trainer.encoding import counted_update

    true_w, scorer = _game()
    clip, bits = 1.0, 20
    honest = 0.3 * true_w / np.linalg.norm(true_w)  # within the clip
    noised = clip * true_w / np.linalg.norm(true_w) + np.random.default_rng(3).normal(scale=0.4, size=5)
    assert np.linalg.norm(noised) > clip + encoding_slack(5, bits)
    subs = [DecodedSubmission(_addr(1), "0x01", honest, order=0), DecodedSubmission(_addr(2), "0x02", noised, order=1)]
    valuation = value_round(np.zeros(5), subs, scorer, 10**18, clip_norm=clip,
                            clip_slack=encoding_slack(5, bits))
    line = next(line for line in valuation.contributors if line.address == _addr(2))
    assert line.in_model
    counted = counted_update(noised, clip, bits)
    assert np.linalg.norm(counted) == pytest.approx(clip) and np.allclose(counted / clip, noised / np.linalg.norm(noised))
    without = valuation.next_params - counted / valuation.players
    # the wallet's tolerance (wallet.verify.RELATIVE_TOLERANCE)
    assert float(np.mean(scorer.losses(without))) == pytest.approx(line.metric_without, rel=1e-9)
    unprojected = float(np.mean(scorer.losses(valuation.next_params - noised / valuation.players)))
    assert unprojected != pytest.approx(line.metric_without, rel=1e-6)
    assert np.array_equal(counted_update(honest, clip, bits), honest)  # within the clip: as decrypted
