"""The round's bound along the practitioner's reference update (docs/PROTOCOL.md, Valuation
step 3; `trainer.alignment.along_bound`): an update reaching further along r_t than the clip
norm x |v_t| / |v_0| (v: an owner's update trained on the validation data) is scaled down to
it, direction kept, in the game and the next model; the report says so and the owner's wallet
recomputes it from the revealed set."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from benchmarks._markets import split_market
from practitioner.decode import ValidationScorer
from practitioner.report import parse_report, report_bytes, report_of_valuation
from practitioner.valuation import DecodedSubmission, value_round
from trainer.alignment import (
    along_bound,
    along_scale,
    reference_update,
    round_along_bound,
    validation_step_norm,
)
from trainer.key_proof import prove_modulus
from trainer.models import model_from_spec
from trainer.update import make_update
from wallet.verify import _Checker

REWARD = 10**18


def test_the_bound_and_the_scale_on_constructed_vectors():
    rt = np.array([0.0, 1.0, 0.0])
    assert along_bound(2.0, (4.0, 3.0), (4.0, 3.0)) == 2.0  # round 1: the clip norm itself
    # the steps shrank to a quarter and a half: the bound to the slower, a half
    assert along_bound(2.0, (1.0, 1.5), (4.0, 3.0)) == 1.0
    assert along_bound(2.0, (0.0, 1.5), (4.0, 3.0)) is None and along_bound(2.0, (1.0, 1.5), (4.0, 0.0)) is None
    assert along_bound(2.0, (float("nan"), 1.5), (4.0, 3.0)) is None
    within = np.array([5.0, 0.5, 0.0])  # long, but only 0.5 along rt: untouched
    assert along_scale(within, rt, 0.5) == 1.0
    beyond = np.array([0.3, 2.0, 0.0])  # 2.0 along rt: scaled by a quarter, direction kept
    scale = along_scale(beyond, rt, 0.5)
    assert scale == 0.25 and math.isclose(float(beyond * scale @ rt), 0.5)
    assert along_scale(-beyond, rt, 0.5) == 1.0  # pointing away: the screen's business, not the bound's
    assert along_scale(beyond, rt, None) == 1.0 and along_scale(beyond, np.zeros(3), 0.5) == 1.0


@pytest.fixture(scope="module")
def later_round():
    """Breast cancer (a real split with the clip norm `post` calibrates), three rounds into a
    bounty: the model trained three times on 200 owners' rows, so the practitioner's own step
    r_t has shrunk; two honest owners' updates and a one-row update scaled up to the clip norm."""
    cut = split_market("breast_cancer", np.random.default_rng(0))
    spec = cut.spec
    params = model_from_spec(spec).get_params()
    for _ in range(3):
        params = params + make_update(spec, params, cut.pool_x[:200], cut.pool_y[:200]).delta
    clip = spec.privacy.clip_norm
    one_row = make_update(spec, params, cut.pool_x[200:201], cut.pool_y[200:201]).delta
    updates = {
        "0x" + "a1" * 20: make_update(spec, params, cut.pool_x[:100], cut.pool_y[:100]).delta,
        "0x" + "b2" * 20: make_update(spec, params, cut.pool_x[100:200], cut.pool_y[100:200]).delta,
        "0x" + "c3" * 20: one_row * (clip / float(np.linalg.norm(one_row))),
    }
    reference = reference_update(spec, params, cut.x_val, cut.y_val)
    bound = round_along_bound(spec, params, cut.x_val, cut.y_val)
    return cut, spec, params, updates, reference, bound


def _value(later_round, *, bounded: bool):
    cut, spec, params, updates, reference, bound = later_round
    subs = [DecodedSubmission(a, "0x" + "00" * 32, u, order=i) for i, (a, u) in enumerate(updates.items())]
    return value_round(params, subs, ValidationScorer(spec, cut.x_val, cut.y_val), REWARD,
                       clip_norm=spec.privacy.clip_norm, reference=reference,
                       along_bound=bound if bounded else None)


def test_a_scaled_up_update_is_held_to_the_bound_in_the_game_and_the_next_model(later_round):
    cut, spec, params, updates, reference, bound = later_round
    assert bound is not None and bound < 0.5 * spec.privacy.clip_norm  # the honest step has shrunk
    initial = model_from_spec(spec).get_params()
    step = validation_step_norm(spec, params, cut.x_val, cut.y_val) / validation_step_norm(
        spec, initial, cut.x_val, cut.y_val)
    first = reference_update(spec, initial, cut.x_val, cut.y_val)
    # here, every update added whole, the model trains fast: the reference (its examples
    # clipped to the median gradient) shrank faster than an owner's step, which sets the bound
    shrunk = float(np.linalg.norm(reference) / np.linalg.norm(first))
    assert shrunk < step
    assert bound == spec.privacy.clip_norm * step
    # a bound from the reference alone would scale honest 100-row updates down
    honest = [u for a, u in updates.items() if a != "0x" + "c3" * 20]
    assert min(along_scale(u, reference, spec.privacy.clip_norm * shrunk) for u in honest) < 0.9
    valuation = _value(later_round, bounded=True)
    lines = {line.address: line for line in valuation.contributors}
    scaled = "0x" + "c3" * 20
    expected = along_scale(updates[scaled], reference, bound)
    assert expected < 1.0 and lines[scaled].scale == expected
    # honest updates are within it (a bound from the reference's length alone scaled them to
    # 0.82-0.87 of theirs here, the fixture asserts)
    assert all(lines[a].scale == 1.0 for a in lines if a != scaled)
    kept = [a for a in lines if lines[a].in_model]
    total = sum(updates[a] * lines[a].scale for a in kept)
    np.testing.assert_allclose(valuation.next_params, params + total / valuation.players)
    # it takes less of the round than without the bound; the honest owners more
    unbounded = {line.address: line.amount for line in _value(later_round, bounded=False).contributors}
    assert lines[scaled].amount < unbounded[scaled]
    assert sum(lines[a].amount for a in lines if a != scaled) > sum(unbounded[a] for a in unbounded if a != scaled)


def test_the_report_carries_the_bound_and_the_wallet_recomputes_it(later_round):
    cut, spec, params, updates, reference, bound = later_round
    valuation = _value(later_round, bounded=True)
    report = parse_report(report_bytes(report_of_valuation(
        valuation, bounty_id=1, round_index=3, spec_hash="0x" + "11" * 32, model_hash="0x" + "22" * 32,
        next_model_hash="0x" + "33" * 32, reward=REWARD)))
    assert report["alongBound"] == bound
    recomputed = round_along_bound(spec, params, cut.x_val, cut.y_val, reference)  # as the wallet does
    for line in report["contributors"]:
        differences: list[str] = []
        mine = _Checker._along_scale(report, line, spec, recomputed, updates[line["address"]], reference,
                                     differences)
        assert differences == [] and mine == line["scale"]
    # a practitioner that claims a tighter bound, or scales an owner it should not, is caught
    honest = next(line for line in report["contributors"] if line["scale"] == 1.0)

    def differences_of(doctored_report: dict, doctored_line: dict, of_spec=spec) -> list[str]:
        found: list[str] = []
        _Checker._along_scale(doctored_report, doctored_line, of_spec, recomputed, updates[honest["address"]],
                              reference, found)
        return found

    assert [d for d in differences_of({**report, "alongBound": bound * 0.9}, honest) if "alongBound" in d]
    assert [d for d in differences_of(report, {**honest, "scale": 0.5}) if d.startswith("your update's scale")]
    # a report without the bound reads as one from before it, unless the spec commits to it
    unbounded = {key: value for key, value in report.items() if key != "alongBound"}
    assert differences_of(unbounded, honest) == []
    committed = dataclasses.replace(spec, valuation_rules=1)
    assert differences_of({**unbounded, "alongBound": None}, honest, committed) == [
        f"scores: the report's alongBound is None, recomputed {bound!r}"]
    assert differences_of(report, honest, committed) == []
    # a copy of the scaled update is not in the game: its line has no scale, and none is recomputed
    scaled = next(line for line in report["contributors"] if line["scale"] < 1.0)
    copy_line = {**scaled, "scale": 1.0, "copyOf": scaled["address"], "address": "0x" + "77" * 20}
    found: list[str] = []
    assert _Checker._along_scale(report, copy_line, spec, recomputed, updates[scaled["address"]], reference,
                                 found) == 1.0 and found == []


def test_post_commits_the_bounty_to_the_valuation_rules_and_older_specs_keep_their_hash():
    """`post` writes `valuation_rules: 4` into the spec (its hash is on chain); a spec without
    it serialises without the key, so specs posted before keep their hash; the field is an
    int this wallet knows."""
    from pathlib import Path

    from practitioner.post import complete_spec, read_spec_file
    from trainer.errors import SpecError
    from trainer.spec import VALUATION_RULES, BountySpec
    from trainer.testing import test_keypair

    demo = Path(__file__).resolve().parent.parent / "resources" / "demo"
    public_key, private_key = test_keypair(512)
    spec, _, _, _ = complete_spec(read_spec_file(demo / "wine_spec.json"), paillier_n=public_key.n,
                                  paillier_proof=prove_modulus(private_key.p, private_key.q),
                                  validation_files=[str(demo / "wine_validation.csv")], inbox_url="")
    assert spec.valuation_rules == VALUATION_RULES == 4 and spec.to_json()["valuation_rules"] == 4
    older = {key: value for key, value in spec.to_json().items() if key != "valuation_rules"}
    parsed = BountySpec.from_json(older)
    assert parsed.valuation_rules == 0 and parsed.to_json() == older
    assert BountySpec.from_json({**older, "valuation_rules": 1}).valuation_rules == 1  # posted before copy proofs
    for bad in (0, True, "1", 5):  # 5: rules this wallet does not know
        with pytest.raises(SpecError, match="valuation_rules"):
            BountySpec.from_json({**older, "valuation_rules": bad})
