"""The alternatives to the protocol's game measured in docs/PROTOCOL.md ("Tried: the
coalition game and the semivalue"): Banzhaf values, exact and sampled, and the coalition
games `value_round(game=...)` takes. The protocol is the fixed-denominator game with Shapley
values; these are here so that the measurement can be re-run and is checked."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.valuation_fixtures import LogisticScorer
from trainer.shapley import exact_banzhaf, exact_shapley, sampled_banzhaf, shapley_values


def coverage_game(holdings: list[set[str]]):
    """v(S) = sqrt(number of distinct rows S holds): submodular, and a player holding
    another's rows is its replica."""

    def utility(coalition: frozenset[int]) -> float:
        rows: set[str] = set()
        for i in coalition:
            rows |= holdings[i]
        return math.sqrt(len(rows))

    return utility


def test_exact_banzhaf_weighs_every_coalition_of_the_others_the_same():
    # v = 1 once anyone is in: a player matters only when alone, 1 of the 2^(n-1) coalitions
    result = exact_banzhaf(3, lambda s: float(len(s) >= 1))
    assert result.values == pytest.approx((0.25, 0.25, 0.25))
    # a null player is exactly 0, on every example; the estimate is linear in the utilities
    rng = np.random.default_rng(3)
    table = {frozenset(c): rng.normal(size=4) for k in range(3) for c in itertools.combinations(range(2), k)}

    def with_null(coalition: frozenset[int]) -> np.ndarray:
        return table[coalition - {2}]

    result = exact_banzhaf(3, with_null)
    assert np.all(result.per_example[2] == 0.0)
    matrix = np.stack([with_null(c) for c in result.coalitions])
    assert np.allclose(result.coefficients @ matrix, result.per_example)
    # on an additive game every semivalue is the player's own weight
    weights = [1.0, 2.0, 5.0]
    assert exact_banzhaf(3, lambda s: sum(weights[i] for i in s)).values == pytest.approx(weights)


def test_a_replica_gains_under_shapley_and_not_under_banzhaf():
    """Why Banzhaf was tried (Han et al. 2022): in a submodular game a player that also
    enters as an exact replica of itself earns more in total under Shapley; under Banzhaf
    the pair earns exactly what the original alone did, half each."""
    holdings = [{f"a{k}" for k in range(8)}, {f"b{k}" for k in range(4)}, {f"c{k}" for k in range(2)}]
    with_replica = [*holdings, set(holdings[0])]
    alone = exact_shapley(3, coverage_game(holdings)).values[0]
    pair = sum(exact_shapley(4, coverage_game(with_replica)).values[i] for i in (0, 3))
    assert pair > 1.05 * alone
    alone_b = exact_banzhaf(3, coverage_game(holdings)).values[0]
    pair_b = sum(exact_banzhaf(4, coverage_game(with_replica)).values[i] for i in (0, 3))
    assert pair_b == pytest.approx(alone_b)
    assert exact_banzhaf(4, coverage_game(with_replica)).values[0] == pytest.approx(alone_b / 2)


def test_sampled_banzhaf_is_seeded_keeps_null_players_at_zero_and_approximates_exact():
    rng = np.random.default_rng(8)
    n = 8
    weights = rng.uniform(0.5, 2.0, size=n)
    weights[5] = 0.0  # player 5 adds nothing to any coalition

    def utility(coalition: frozenset[int]) -> float:
        return math.sqrt(sum(weights[i] for i in coalition))

    exact = np.array(exact_banzhaf(n, utility).values)
    first = sampled_banzhaf(n, utility, seed=4, max_evaluations=8000)
    again = sampled_banzhaf(n, utility, seed=4, max_evaluations=8000)
    assert first.values == again.values and first.method == "banzhaf-sampled"
    assert first.values[5] == 0.0
    assert np.allclose(first.values, exact, atol=0.1 * exact.max())
    assert shapley_values(n, utility, exact_max=4, seed=4, semivalue="banzhaf").method == "banzhaf-sampled"
    with pytest.raises(ValueError, match="semivalue"):
        shapley_values(3, utility, semivalue="owen")


def test_value_round_games_other_than_the_protocols_model_their_coalitions_as_named():
    """`game="mean"`: a coalition's model is the round model plus its own average update (the
    next model too); "norm": plus the round's mean update norm times sum / sum of norms; the
    protocol's "fixed": plus sum / n. An unknown game is refused."""
    from practitioner.valuation import DecodedSubmission, value_round

    rng = np.random.default_rng(2)
    x = np.hstack([rng.normal(size=(200, 2)), np.ones((200, 1))])
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(np.int64)

    scorer = LogisticScorer(x, y)

    updates = [np.array([1.0, 0.1, 0.0]), np.array([0.8, -0.1, 0.05]), np.array([0.5, 0.0, -0.05])]
    subs = [DecodedSubmission(f"0x{i:040x}", "0x", u) for i, u in enumerate(updates, 1)]
    start = np.zeros(3)
    for game, expected in (
        ("fixed", sum(updates) / 3),
        ("mean", sum(updates) / 3),  # all three kept: the mean of three
    ):
        valuation = value_round(start, subs, scorer, 1000, clip_norm=10.0, game=game)
        assert len([line for line in valuation.contributors if line.in_model]) == 3
        assert np.allclose(valuation.next_params, expected)
    # without the third, "fixed" still divides by 3 and "mean" by 2
    two = value_round(start, subs[:2], scorer, 1000, clip_norm=10.0, game="mean")
    assert np.allclose(two.next_params, (updates[0] + updates[1]) / 2)
    # each one's "without you" is the other alone: its own update, or it at the mean norm
    norms = [float(np.linalg.norm(u)) for u in updates[:2]]
    norm = value_round(start, subs[:2], scorer, 1000, clip_norm=10.0, game="norm")
    for valuation, alone in (
        (two, updates[:2]),
        (norm, [u * (sum(norms) / 2) / n for u, n in zip(updates[:2], norms, strict=True)]),
    ):
        first, second = valuation.contributors
        assert first.in_model and second.in_model
        assert first.metric_without == pytest.approx(scorer.losses(alone[1]).mean())
        assert second.metric_without == pytest.approx(scorer.losses(alone[0]).mean())
    banzhaf = value_round(start, subs, scorer, 1000, clip_norm=10.0, semivalue="banzhaf")
    assert banzhaf.method == "banzhaf"
    with pytest.raises(ValueError, match="coalition game"):
        value_round(start, subs, scorer, 1000, clip_norm=10.0, game="median")
