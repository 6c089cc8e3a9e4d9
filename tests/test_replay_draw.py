"""An opened round of 13-128 counted updates is valued by GTG-Shapley, whose permutations
Quarry drew with numpy's generator before it drew them from keccak. A bounty posted before
valuation_rules 3 may have had its rounds valued so: the owner's wallet replays it with the
older draw too before it calls the round a Mismatch; a bounty of valuation_rules 3 is held to
the keccak draw alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from trainer.openings import recompute_round
from trainer.scoring import per_example_log_loss
from trainer.shapley import EXACT_MAX_PLAYERS, round_seed
from trainer.spec import BountySpec
from trainer.testing import make_spec_dict
from wallet.verify import RoundCheck, _Checker

BOUNTY, ROUND = 7, 0


@pytest.fixture(scope="module")
def game():
    """13 owners' updates of a logistic model on 4 breast-cancer features, scored on 120 held-out rows."""
    from trainer.models import model_from_spec

    x_all, y_all = load_breast_cancer(return_X_y=True)
    x_all = (x_all[:, :4] - x_all[:, :4].mean(axis=0)) / x_all[:, :4].std(axis=0)
    rng = np.random.default_rng(3)
    rows = rng.permutation(len(y_all))
    x, y = x_all[rows[:120]], y_all[rows[:120]]
    spec = BountySpec.from_json(make_spec_dict(n_features=4, valuation_rules=2))
    model = model_from_spec(spec)
    start = model.get_params()
    updates = {}
    for k in range(EXACT_MAX_PLAYERS + 1):
        own = rows[120 + 30 * k: 150 + 30 * k]
        direction = np.linalg.lstsq(np.c_[x_all[own], np.ones(len(own))], 2.0 * y_all[own] - 1.0, rcond=None)[0]
        updates[f"0x{k + 1:040x}"] = 0.3 * direction / np.linalg.norm(direction) * (0.5 + 0.1 * k)
    reference = np.mean(list(updates.values()), axis=0)
    scorer = model.copy()

    def losses(params):
        scorer.set_params(params)
        return per_example_log_loss(scorer, x, y)

    return spec, model, start, updates, reference, losses, x, y


def _report(recomputed):
    return {"contributors": [
        {"address": who, "value": line.value, "stdErr": line.std_err, "payFactor": line.pay_factor,
         "scale": line.scale, "inModel": line.in_model, "copyOf": None}
        for who, line in recomputed.lines.items()]}


def _replay(game, rules, report, next_params):
    spec, model, start, updates, reference, _losses, x, y = game
    after = model.copy()
    after.set_params(next_params)
    result = RoundCheck(BOUNTY, ROUND, "0x" + "00" * 32, "", "")
    differences: list[str] = []
    checker = _Checker.__new__(_Checker)  # the replay reads nothing from the chain
    checker._replay_opening(report, dataclasses.replace(spec, valuation_rules=rules), result, model, after, x, y,
                            reference, None, updates, differences)
    return result, differences


def test_a_round_valued_with_the_older_draw_verifies_only_for_a_bounty_posted_before_rules_3(game):
    _spec, _model, start, updates, reference, losses, _x, _y = game
    seed = round_seed(BOUNTY, ROUND)
    keccak = recompute_round(start, updates, losses, reference=reference, along_bound=None, seed=seed)
    older = recompute_round(start, updates, losses, reference=reference, along_bound=None, seed=seed,
                            draw="numpy")
    assert keccak.method == older.method == "gtg"
    # the two draws sample other permutations: some value differs beyond the wallet's tolerance
    assert max(abs(keccak.lines[w].value - older.lines[w].value) for w in updates) > 1e-6
    # a report valued with the older draw: verified for a bounty of rules 2, with a note
    result, differences = _replay(game, 2, _report(older), older.next_params)
    assert differences == [] and "drawn as Quarry drew them before keccak" in result.opened
    # the same report for a bounty of rules 3 (posted with keccak draws): a Mismatch
    _result, differences = _replay(game, 3, _report(older), older.next_params)
    assert differences and all("recomputed" in d or "next model" in d for d in differences), differences
    # a report valued with keccak draws verifies under both, without the note
    for rules in (2, 3):
        result, differences = _replay(game, rules, _report(keccak), keccak.next_params)
        assert differences == [] and "before keccak" not in result.opened
    # a misstated value is a Mismatch under either draw: the older draw is no loophole
    doctored = _report(older)
    doctored["contributors"][0]["value"] += 0.01
    _result, differences = _replay(game, 2, doctored, older.next_params)
    assert any(d.startswith(f"{doctored['contributors'][0]['address']}'s value") for d in differences), differences
