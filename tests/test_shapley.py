"""Shapley values against hand-computed games, exact vs GTG, per-example values and their
uncertainty, screening, copies and payouts."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from trainer.shapley import (
    ALIGNMENT_FULL_Z,
    ALIGNMENT_KEEP_Z,
    aligned_step_down,
    allocate_reward,
    copy_groups,
    exact_shapley,
    gtg_budget,
    gtg_shapley,
    null_pay_factors,
    one_example_bound,
    payout_weights,
    random_direction_tail,
    regularized_incomplete_beta,
    screen_updates,
    shapley_values,
    trimmed_count,
    value_estimates,
)


def test_additive_game_gives_each_player_its_weight():
    weights = [3.0, -1.0, 0.5, 2.0]
    result = exact_shapley(4, lambda s: sum(weights[i] for i in s))
    assert result.method == "exact"
    assert result.values == pytest.approx(weights)
    assert result.evaluations == 16


def test_symmetric_and_null_players():
    # v(S) = 1 if S contains both 0 and 1 (a "glove" game); player 2 is a null player.
    result = exact_shapley(3, lambda s: 1.0 if {0, 1} <= s else 0.0)
    assert result.values == pytest.approx([0.5, 0.5, 0.0])


def test_hand_computed_three_player_game():
    # v({0})=1, v({1})=2, v({2})=0, v({0,1})=4, v({0,2})=1, v({1,2})=3, v(N)=6, v({})=0
    table = {(): 0, (0,): 1, (1,): 2, (2,): 0, (0, 1): 4, (0, 2): 1, (1, 2): 3, (0, 1, 2): 6}
    result = exact_shapley(3, lambda s: table[tuple(sorted(s))])
    # phi_0 = 1/3*(1-0) + 1/6*(4-2) + 1/6*(1-0) + 1/3*(6-3) = 1/3 + 1/3 + 1/6 + 1 = 11/6
    # phi_1 = 1/3*2 + 1/6*3 + 1/6*3 + 1/3*5 = 2/3+1/2+1/2+5/3 = 10/3
    # phi_2 = 1/3*0 + 1/6*0 + 1/6*1 + 1/3*2 = 5/6
    assert result.values == pytest.approx([11 / 6, 10 / 3, 5 / 6])
    assert sum(result.values) == pytest.approx(6.0)  # efficiency


def _logistic_game(n_players: int, seed: int):
    """Coalition model = w0 + sum(updates)/n; utility = -log-loss on a validation set."""
    rng = np.random.default_rng(seed)
    dim = 6
    true_w = rng.normal(size=dim)
    x = rng.normal(size=(400, dim))
    y = (x @ true_w + 0.3 * rng.normal(size=400) > 0).astype(float)
    quality = np.linspace(1.0, 0.1, n_players)
    updates = [q * true_w + (1 - q) * rng.normal(size=dim) for q in quality]

    def utility(coalition):
        w = sum((updates[i] for i in coalition), np.zeros(dim)) / n_players
        p = 1 / (1 + np.exp(-(x @ w)))
        p = np.clip(p, 1e-9, 1 - 1e-9)
        return float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    return utility


def test_gtg_approximates_exact_on_eight_players():
    utility = _logistic_game(8, seed=3)
    exact = np.array(exact_shapley(8, utility).values)
    approx = gtg_shapley(8, utility, seed=11)
    assert approx.method == "gtg" and approx.seed == 11
    assert approx.evaluations <= gtg_budget(8)
    error = np.abs(np.array(approx.values) - exact)
    assert float(np.max(error)) < 0.1 * float(np.max(np.abs(exact)))
    # the ranking of the clearly different players is preserved
    assert int(np.argmax(approx.values)) == int(np.argmax(exact))


def test_gtg_respects_budget_and_is_seeded():
    calls = []

    def utility(coalition):
        calls.append(coalition)
        return float(len(coalition) ** 1.5)

    n = 15
    a = gtg_shapley(n, utility, seed=5)
    b = gtg_shapley(n, utility, seed=5)
    assert a.values == b.values
    assert a.evaluations <= gtg_budget(n) == 450
    assert len(set(calls[: len(calls) // 2])) <= gtg_budget(n)
    # symmetric game: efficiency holds per permutation, values are equal up to sampling
    assert sum(a.values) == pytest.approx(n**1.5)
    assert a.values == pytest.approx([n**1.5 / n] * n, rel=0.15)
    assert a.permutations >= n


def test_gtg_between_round_truncation_returns_zeros():
    result = gtg_shapley(20, lambda s: 0.7, seed=1)
    assert result.values == tuple([0.0] * 20)
    assert result.evaluations == 2


def test_shapley_values_switches_method_at_twelve():
    assert shapley_values(12, lambda s: float(len(s))).method == "exact"
    big = shapley_values(13, lambda s: float(len(s)), seed=2)
    assert big.method == "gtg" and big.values == pytest.approx([1.0] * 13)


def test_exact_matches_permutation_definition_on_random_game():
    rng = np.random.default_rng(0)
    table = {frozenset(s): rng.normal() for k in range(5) for s in itertools.combinations(range(5), k)}
    table[frozenset(range(5))] = rng.normal()
    values = exact_shapley(5, lambda s: table[s]).values
    by_perm = np.zeros(5)
    for perm in itertools.permutations(range(5)):
        prefix = frozenset()
        for p in perm:
            by_perm[p] += table[prefix | {p}] - table[prefix]
            prefix = prefix | {p}
    assert values == pytest.approx(by_perm / math.factorial(5))


def test_screening_rejects_zero_replay_and_non_finite_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    honest = rng.normal(size=10)
    other = rng.normal(size=10)
    previous_delta = rng.normal(size=10)
    updates = [
        honest,
        np.zeros(10),
        honest * 1.0001,  # a copy: screening keeps it, copy_groups groups it
        previous_delta + 1e-4,  # replay of last round's global change
        other,
        None,  # undecryptable; rejected elsewhere
        np.array([np.nan] * 10),
    ]
    screening = screen_updates(updates, previous_delta)
    assert screening.kept == (0, 2, 4)
    assert set(screening.rejected) == {1, 3, 6}
    assert "zero" in screening.rejected[1]
    assert "replay" in screening.rejected[3]
    # an update pointing away from the reference: the words an owner's wallet reads back
    # (wallet.verify.refute_screening: the reason's start and the number of updates tested)
    from wallet.verify import NOT_ALIGNED, refute_screening

    away = screen_updates([honest, -honest], None, reference=honest)
    reason = away.rejected[1]
    assert reason.startswith(NOT_ALIGNED) and "; 2 updates tested" in reason
    assert refute_screening(reason, None, honest, None, None, None) == ""  # nothing kept to check


def test_per_example_values_add_up_to_the_scalar_game_exact_and_gtg():
    """Shapley is linear in the utility: per-example values averaged are the values of the
    mean utility, and every example's values add up to its v(N) - v(empty) (efficiency)."""
    rng = np.random.default_rng(2)
    table = {}

    def utility(coalition):
        if coalition not in table:
            table[coalition] = rng.normal(size=9)
        return table[coalition]

    for result in (exact_shapley(5, utility), gtg_shapley(5, utility, seed=3)):
        assert result.per_example.shape == (5, 9)
        grand, empty = table[frozenset(range(5))], table[frozenset()]
        assert np.allclose(result.per_example.sum(axis=0), grand - empty)
        assert result.values == pytest.approx(list(result.per_example.mean(axis=1)))
        matrix = np.stack([table[c] for c in result.coalitions])
        assert np.allclose(result.coefficients @ matrix, result.per_example)
    scalar = exact_shapley(5, lambda s: float(np.mean(table[s])))
    assert scalar.values == pytest.approx(exact_shapley(5, utility).values)


def test_standard_error_across_examples_matches_the_textbook_formula():
    """Without trimming, the plain mean and standard error; with the protocol's trimming,
    the trimmed mean and Tukey & McLaughlin's standard error, computed by hand."""
    per_example = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [5.0, -5.0, 5.0, -5.0]])
    estimate = value_estimates(per_example, z=2.0, trim=0.0)
    assert estimate.mean.tolist() == [2.5, 0.0, 0.0]
    assert estimate.stderr[0] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert estimate.stderr[1] == 0.0
    assert estimate.lcb[0] == pytest.approx(2.5 - 2 * estimate.stderr[0])
    assert estimate.lcb[2] < 0  # a value that is only noise is not distinguishable from 0
    # [-7, 1, 2, 3, 4, 5, 100] with 2 trimmed each side: trimmed mean (2 + 3 + 4) / 3 = 3;
    # winsorised [2, 2, 2, 3, 4, 4, 4] has standard deviation sqrt(6 / 6) = 1;
    # SE = 1 / ((1 - 4/7) sqrt(7))
    assert trimmed_count(7) == 2 and trimmed_count(1273) == 2
    assert trimmed_count(5) == 0  # fewer than 2 values would remain
    trimmed = value_estimates(np.array([[100.0, 1.0, 4.0, -7.0, 2.0, 5.0, 3.0], [0.0] * 7]), z=2.0)
    assert trimmed.mean.tolist() == [3.0, 0.0]
    assert trimmed.stderr[0] == pytest.approx(1.0 / ((1 - 4 / 7) * math.sqrt(7)))
    assert trimmed.stderr[1] == 0.0 and trimmed.lcb[1] == 0.0  # a zero row stays a null player


def test_one_example_cannot_carry_a_value():
    """An example on which a player gained the most the clip allows (or lost it) is trimmed:
    the value moves only as far as the values in the middle are spread."""
    rng = np.random.default_rng(3)
    m, clip = 30, 0.3
    values = 0.01 + 0.005 * rng.normal(size=m)
    before = value_estimates(values[None, :]).mean[0]
    for extreme in (2 * clip, -2 * clip):
        changed = values.copy()
        changed[int(np.argmin(np.abs(values - np.median(values))))] = extreme
        moved = abs(value_estimates(changed[None, :]).mean[0] - before)
        plain = abs(value_estimates(changed[None, :], trim=0.0).mean[0] - values.mean())
        spread = float(np.ptp(np.sort(values)[1:-1]))  # the middle 26 and the next one out
        assert moved <= spread / (m - 4) + 1e-12
        assert plain > 10 * moved  # the plain mean moves by about 2c / m


def test_payout_weights_pay_only_what_is_distinguishable_from_zero():
    rng = np.random.default_rng(4)
    m = 200
    clear = 0.05 + 0.02 * rng.normal(size=m)  # mean 0.05, stderr ~0.0014
    noise = 0.1 * rng.normal(size=m)  # mean ~0, stderr ~0.007
    lucky = np.zeros(m)
    lucky[7] = 2.0  # one example carries its whole value (mean 0.01, stderr 0.01)
    estimate = value_estimates(np.stack([clear, noise, lucky]), z=2.0)
    weights, denominator = payout_weights(estimate, floor=1.0)
    assert weights[0] > 0 and weights[1] == 0 and weights[2] == 0
    assert denominator >= estimate.mean[0]
    amounts = allocate_reward(list(weights), 10**18, denominator)
    assert amounts[1] == amounts[2] == 0 and 0 < amounts[0] <= 10**18


def test_a_zero_update_is_a_null_player():
    """Fixed-denominator coalition model: a zero update adds nothing to any coalition, so
    its value is exactly 0 on every example, its standard error 0, and it is paid nothing."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3))
    y = (x[:, 0] > 0).astype(float)
    updates = [np.array([1.0, 0.2, 0.0]), np.array([0.8, -0.1, 0.1]), np.zeros(3)]

    def utility(coalition):
        w = sum((updates[i] for i in sorted(coalition)), np.zeros(3)) / len(updates)
        p = np.clip(1 / (1 + np.exp(-(x @ w))), 1e-6, 1 - 1e-6)
        return np.log(2) + (y * np.log(p) + (1 - y) * np.log(1 - p))

    result = exact_shapley(3, utility)
    assert np.all(result.per_example[2] == 0.0)
    estimate = value_estimates(result.per_example)
    weights, denominator = payout_weights(estimate)
    assert weights[2] == 0 and allocate_reward(list(weights), 1000, denominator)[2] == 0
    assert weights[0] > 0 and weights[1] > 0


def test_random_direction_tail_is_the_exact_null_of_the_cosine():
    """P(cos(rho, r) >= t) for rho uniform on the sphere: closed forms in 3 dimensions
    (cosine uniform on [-1, 1]) and 5 (density 3/4 (1 - t^2)), symmetry, and a Monte Carlo
    check in 15; the incomplete beta at a hand-checked point."""
    for t in (-0.9, -0.3, 0.0, 0.4, 0.95):
        assert random_direction_tail(t, 3) == pytest.approx((1 - t) / 2, rel=1e-10)
        x = (1 - t) / 2
        assert random_direction_tail(t, 5) == pytest.approx(3 * x**2 - 2 * x**3, rel=1e-10)
        assert random_direction_tail(t, 42) + random_direction_tail(-t, 42) == pytest.approx(1.0)
    assert random_direction_tail(1.0, 650) == 0.0 and random_direction_tail(-1.0, 650) == 1.0
    assert regularized_incomplete_beta(2.0, 3.0, 0.4) == pytest.approx(0.5248, abs=1e-12)
    rng = np.random.default_rng(11)
    rho = rng.normal(size=(100_000, 15))
    cosines = rho[:, 0] / np.linalg.norm(rho, axis=1)
    assert np.mean(cosines >= 0.5) == pytest.approx(random_direction_tail(0.5, 15), abs=0.002)
    # high dimension: ~ the normal tail of cos * sqrt(d)
    assert random_direction_tail(3 / math.sqrt(650), 650) == pytest.approx(0.00135, rel=0.05)


def test_null_pay_factors_pay_a_lucky_random_direction_little_and_aligned_updates_fully():
    """Family-wise over the round's players: a direction a random one reaches 2 % of the time
    gets nothing among 10 players, something when alone; aligned updates get 1; the factor is
    monotone and continuous in the cosine (no jump anywhere on a fine grid)."""
    d = 31
    lucky = 0.37  # random_direction_tail(0.37, 31) ~ 0.019
    assert 0.015 < random_direction_tail(lucky, d) < 0.025
    assert null_pay_factors([lucky] + [0.9] * 9, d)[0] == 0.0
    assert 0.0 < null_pay_factors([lucky], d)[0] < 1.0
    assert null_pay_factors([0.9] * 10, d).tolist() == [1.0] * 10
    assert null_pay_factors([-0.5, 0.0], d).tolist() == [0.0, 0.0]
    grid = np.linspace(0.2, 0.9, 1401)
    factors = np.array([null_pay_factors([c, 0.9, 0.9], d)[0] for c in grid])
    assert np.all(np.diff(factors) >= 0)
    assert np.max(np.diff(factors)) < 0.02  # no step: a small change of the cosine moves little
    assert factors[0] == 0.0 and factors[-1] == 1.0


def test_payout_weights_scale_each_lower_bound_by_its_factor_and_keep_the_denominator():
    estimate = value_estimates(np.array([[0.05] * 50 + [0.07] * 50, [0.02] * 50 + [0.04] * 50]))
    plain, denominator = payout_weights(estimate)
    scaled, scaled_denominator = payout_weights(estimate, factors=np.array([1.0, 0.25]))
    assert scaled[0] == plain[0] and scaled[1] == pytest.approx(0.25 * plain[1])
    # what a factor withholds stays unassigned: the others' pay does not grow
    assert scaled_denominator == denominator == pytest.approx(0.06 + 0.03)
    amounts = allocate_reward(list(scaled), 10**6, scaled_denominator)
    assert sum(amounts) < sum(allocate_reward(list(plain), 10**6, denominator))


def test_value_round_pays_a_lucky_random_direction_by_its_evidence_and_the_null_test_nothing():
    """Eight updates along the task's direction of a 5-parameter logistic model and one
    random direction that happens to lie in the honest cone (cosine 0.84 with the reference: a
    random direction does that 1.8 % of the time in 5 dimensions, z = 2.1). Without a
    reference it is paid like a weak honest owner; the protocol's alignment factor pays it
    (z - 1) / 3 of that; the family-wise null test (9 players tested at once) nothing. Nobody is
    paid more than without the factors (what a factor withholds stays unassigned), and on
    5 parameters honest owners lose pay too: the direction tells them apart from luck only
    weakly (the measured cost, docs/PROTOCOL.md)."""
    from practitioner.valuation import DecodedSubmission, value_round

    rng = np.random.default_rng(12)
    d, m = 5, 400
    truth = rng.normal(size=d)
    x = np.hstack([rng.normal(size=(m, d - 1)), np.ones((m, 1))])
    y = (rng.random(m) < 1 / (1 + np.exp(-(x @ truth)))).astype(np.int64)

    class Scorer:
        def losses(self, params: np.ndarray) -> np.ndarray:
            p = np.clip(1 / (1 + np.exp(-(x @ params))), 1e-6, 1 - 1e-6)
            return -(y * np.log(p) + (1 - y) * np.log(1 - p))

        def accuracy(self, params: np.ndarray) -> float:
            return float(np.mean((x @ params > 0) == (y == 1)))

    direction = truth / np.linalg.norm(truth)
    honest = [direction + 0.3 * rng.normal(size=d) / math.sqrt(d) for _ in range(8)]
    other = rng.normal(size=d)
    other -= direction * (direction @ other)
    lucky = 0.84 * direction + math.sqrt(1 - 0.84**2) * other / np.linalg.norm(other)
    assert random_direction_tail(0.84, d) == pytest.approx(0.018, abs=0.001)
    subs = [DecodedSubmission(f"0x{i:040x}", "0x", u) for i, u in enumerate([*honest, lucky], 1)]
    bare = value_round(np.zeros(d), subs, Scorer(), 10**18, clip_norm=10.0)
    protocol = value_round(np.zeros(d), subs, Scorer(), 10**18, clip_norm=10.0, reference=truth)
    tested = value_round(np.zeros(d), subs, Scorer(), 10**18, clip_norm=10.0, reference=truth,
                         null_test=True)
    before = {line.address: line.amount for line in bare.contributors}
    paid = {line.address: line.amount for line in protocol.contributors}
    after = {line.address: line.amount for line in tested.contributors}
    lucky_address = subs[-1].address
    assert bare.pay_factors == () and len(before) == len(paid) == len(after) == 9
    factor = dict(zip(protocol.player_addresses, protocol.pay_factors, strict=True))
    z = NormalDist().inv_cdf(1 - random_direction_tail(0.84, d))
    assert factor[lucky_address] == pytest.approx(
        (z - ALIGNMENT_KEEP_Z) / (ALIGNMENT_FULL_Z - ALIGNMENT_KEEP_Z), rel=1e-9)
    assert before[lucky_address] > 0.04 * 10**18
    assert paid[lucky_address] == pytest.approx(factor[lucky_address] * before[lucky_address], rel=1e-6)
    reported = {line.address: line.pay_factor for line in protocol.contributors}
    assert reported == factor
    assert all(paid[a] <= before[a] for a in before)
    null_factor = dict(zip(tested.player_addresses, tested.pay_factors, strict=True))
    assert after[lucky_address] == 0 and null_factor[lucky_address] == 0.0
    full = [a for a in before if null_factor[a] == 1.0]
    assert len(full) >= 4 and all(after[a] == paid[a] > 0 for a in full if factor[a] == 1.0)


def test_one_relabelled_example_moves_no_more_than_the_bound():
    """Change one validation example of a clipped game; the payouts move by at most
    `one_example_bound` (and, on 400 examples, by a small part of the reward)."""
    rng = np.random.default_rng(6)
    m, clip = 400, 0.5
    good = 0.06 + 0.1 * rng.normal(size=(3, m))
    per_example = np.clip(good * np.array([[1.0], [0.7], [0.3]]), -2 * clip, 2 * clip)
    estimate = value_estimates(per_example)
    weights, denominator = payout_weights(estimate)
    shares = weights / denominator
    bound = one_example_bound(3, m, clip, denominator)
    for j in range(0, m, 37):
        for new_value in (-2 * clip, 2 * clip):
            changed = per_example.copy()
            changed[:, j] = new_value  # every player's value on that example at its extreme
            new_weights, new_denominator = payout_weights(value_estimates(changed))
            moved = np.abs(new_weights / new_denominator - shares).sum() / 2
            assert moved <= bound
            assert moved <= 0.1


def test_copies_up_to_scale_and_precision_noise_are_grouped_earliest_first():
    rng = np.random.default_rng(7)
    direction = rng.normal(size=40)
    honest = [direction + 0.6 * rng.normal(size=40) for _ in range(4)]
    reference = direction + 0.3 * rng.normal(size=40)
    step = 2.0**-16  # the encoding's precision: a copier's noise of a few steps
    copy_scaled = 3.0 * honest[1]
    copy_precision = honest[1] + 2 * step * rng.choice([-1.0, 1.0], size=40)
    copy_noisy = honest[1] + 0.03 * np.linalg.norm(honest[1]) / np.sqrt(40) * rng.normal(size=40)
    updates = [*honest, copy_scaled, copy_precision, honest[1].copy(), copy_noisy]
    # on-chain order: the exact copy (index 6) was submitted before the original (index 1)
    order = [(2, "a"), (3, "b"), (0, "c"), (1, "d"), (4, "e"), (5, "f"), (2, "a0"), (6, "g")]
    groups = copy_groups(updates, order, reference)
    # 40 parameters: 3 % noise is not told apart from an honest owner (below 100 parameters)
    assert sorted(map(sorted, groups)) == [[0], [1, 4, 5, 6], [2], [3], [7]]
    copied = next(g for g in groups if len(g) > 1)
    assert copied[0] == 6  # the exact copy came first on chain: it alone is credited
    assert groups[0] == [2]  # groups sorted by their earliest member


def test_copies_plus_a_few_percent_noise_are_grouped_on_larger_models():
    rng = np.random.default_rng(8)
    d = 300
    direction = rng.normal(size=d)
    honest = [direction + 0.6 * rng.normal(size=d) for _ in range(4)]
    reference = direction + 0.3 * rng.normal(size=d)
    noisy = [honest[0] + rho * np.linalg.norm(honest[0]) / np.sqrt(d) * rng.normal(size=d)
             for rho in (0.02, 0.05)]
    groups = copy_groups([*honest, *noisy], [(i, "") for i in range(6)], reference)
    assert sorted(map(sorted, groups)) == [[0, 4, 5], [1], [2], [3]]


def test_honest_updates_of_one_distribution_are_not_grouped():
    """Disjoint samples of one task give similar updates (cosine ~0.9 here) but independent
    residuals: no group, in any of 50 draws."""
    rng = np.random.default_rng(8)
    direction = rng.normal(size=15)  # a tiny model: the hardest case
    for _ in range(50):
        honest = [direction + 0.35 * rng.normal(size=15) for _ in range(6)]
        reference = direction + 0.35 * rng.normal(size=15)
        groups = copy_groups(honest, [(i, str(i)) for i in range(6)], reference)
        assert groups == [[i] for i in range(6)]
def test_allocate_reward_is_proportional_floors_and_never_overspends():
    reward = 10**18 + 7
    amounts = allocate_reward([1.0, 2.0, 0.0, -3.0, float("nan")], reward)
    assert amounts[2:] == [0, 0, 0]
    assert sum(amounts) <= reward
    assert amounts[1] == 2 * amounts[0] or amounts[1] == 2 * amounts[0] + 1
    assert reward - sum(amounts) < 3
    assert allocate_reward([0.0, -1.0], 100) == [0, 0]
    assert allocate_reward([1e-300, 1e-300, 1e-300], 10) == [3, 3, 3]


def test_surely_kept_is_the_screens_bound_whatever_the_other_updates():
    """An update the screen keeps at the first rank of Holm's step-down is kept at any rank:
    the wallet uses this to refute a false rejection of its own update."""
    from trainer.alignment import surely_kept

    d = 31
    rng = np.random.default_rng(7)
    for tests in (1, 2, 15, 16, 40, 200):
        for cos in (-0.2, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9):
            if not surely_kept(cos, d, tests):
                continue
            # any other cosines: this one is always accepted
            for _ in range(20):
                others = list(rng.uniform(-1, 1, size=tests - 1))
                assert aligned_step_down([cos, *others], d)[0]
    assert not surely_kept(0.1, d, 2)  # below the single test (1 / sqrt(31) = 0.18)
    assert surely_kept(0.3, d, 2) and not surely_kept(0.3, d, 1000)  # a flood raises the bar


def _protocol_shuffle(items, seed, index):
    """keccak_shuffled as docs/PROTOCOL.md describes it, written again from the text with
    pycryptodome's keccak (not eth_hash): Fisher-Yates from the last position down, each draw
    the next big-endian u64 of keccak256("quarry-gtg" || seed u64 || index u64 || block u64),
    four per digest, a draw at or above the largest multiple of the bound rejected."""
    from Crypto.Hash import keccak as crypto_keccak

    draws = []

    def stream():
        block = 0
        while True:
            message = b"quarry-gtg" + seed.to_bytes(8, "big") + index.to_bytes(8, "big") + block.to_bytes(8, "big")
            digest = crypto_keccak.new(digest_bits=256, data=message).digest()
            yield from (int.from_bytes(digest[k:k + 8], "big") for k in range(0, 32, 8))
            block += 1

    source = stream()
    out = list(items)
    for top in range(len(out) - 1, 0, -1):
        bound = top + 1
        while True:
            draw = next(source)
            draws.append(draw)
            if draw < (1 << 64) - (1 << 64) % bound:
                break
        chosen = draw % bound
        out[top], out[chosen] = out[chosen], out[top]
    return out


def test_gtg_permutations_follow_the_protocols_text_not_numpys_stream(monkeypatch):
    """An opened round is replayed by every owner's wallet (trainer.openings): the permutations
    GTG samples must be the same for every party on every numpy, so they are drawn from
    keccak as PROTOCOL.md says, and numpy's generator is never asked."""
    from trainer.shapley import keccak_shuffled

    for seed, index, n in ((0, 0, 2), (1, 0, 5), (2**32 - 1, 7, 40), (123456, 3000, 127)):
        assert keccak_shuffled(range(n), seed, index) == _protocol_shuffle(range(n), seed, index)
    assert keccak_shuffled([], 1, 0) == [] and keccak_shuffled([4], 1, 0) == [4]

    def no_numpy_stream(*args, **kwargs):
        raise AssertionError("GTG asked numpy's generator")

    monkeypatch.setattr(np.random, "default_rng", no_numpy_stream)
    weights = np.linspace(0.1, 1.0, 20)
    result = gtg_shapley(20, lambda s: float(sum(weights[list(s)])), seed=9, truncation=0.0)
    assert np.allclose(result.values, weights, atol=1e-9)  # additive game: exactly each weight


def test_keccak_permutations_are_uniform():
    """Every item lands in every position equally often (chi-square over 6,000 shuffles of 6)."""
    from trainer.shapley import keccak_shuffled

    n, draws = 6, 6000
    counts = np.zeros((n, n))
    for index in range(draws):
        for position, item in enumerate(keccak_shuffled(range(n), 42, index)):
            counts[item, position] += 1
    expected = draws / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 25 degrees of freedom (a doubly stochastic table): P(chi2 > 60) < 1e-4
    assert chi2 < 60, counts
    assert len({tuple(keccak_shuffled(range(n), 42, index)) for index in range(200)}) > 150
