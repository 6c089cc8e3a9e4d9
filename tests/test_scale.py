"""Valuation at scale (practitioner.scale): the bounded GTG sampler, incremental coalition
sums and the Gram-matrix copy groups agree with the small-round code paths."""

from __future__ import annotations

import numpy as np

from practitioner.scale import CoalitionSums, streaming_gtg
from practitioner.valuation import DecodedSubmission, value_round
from trainer.shapley import copy_groups, exact_shapley


def test_streaming_gtg_exact_on_an_additive_game():
    rng = np.random.default_rng(0)
    per_player = rng.normal(size=(40, 5))

    def utility(coalition):
        return per_player[sorted(coalition)].sum(axis=0) if coalition else np.zeros(5)

    result = streaming_gtg(40, utility, seed=1, max_evaluations=400, truncation=0.0)
    assert result.permutations == 10 and result.evaluations <= 400
    assert np.allclose(result.per_example, per_player)


def test_streaming_gtg_ranks_like_exact_shapley():
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.1, 1.0, size=10)

    def utility(coalition):  # diminishing returns: not additive
        return np.array([np.sqrt(sum(weights[i] for i in coalition))])

    exact = np.array(exact_shapley(10, utility).values)
    approx = np.array(streaming_gtg(10, utility, seed=3, max_evaluations=3000).values)
    assert np.argsort(exact).tolist() == np.argsort(approx).tolist()
    assert np.allclose(exact, approx, atol=0.05)


def test_streaming_gtg_budget_is_fixed():
    calls = []

    def utility(coalition):
        calls.append(coalition)
        return np.array([float(len(coalition)) ** 0.5])

    result = streaming_gtg(500, utility, seed=0, max_evaluations=2000)
    assert len(calls) == result.evaluations <= 2000
    assert result.permutations >= 3  # each started only when it fitted whole (499 more)


def test_coalition_sums_match_direct_sums():
    rng = np.random.default_rng(4)
    players = [rng.normal(size=50) for _ in range(30)]
    sums = CoalitionSums(players)
    coalition: frozenset[int] = frozenset()
    for player in rng.permutation(30):
        coalition = coalition | {int(player)}
        assert np.allclose(sums(coalition), np.sum([players[i] for i in coalition], axis=0))
    sums.pin(coalition)
    for player in range(30):
        without = coalition - {player}
        assert np.allclose(sums(without), np.sum([players[i] for i in without], axis=0))


def test_copy_groups_from_one_gram_matrix_finds_scaled_noisy_and_exact_copies():
    """Many updates (the Gram-matrix path every round takes): a scaled copy, a copy plus
    precision-level noise and an exact copy join their originals; 20 independent directions
    and a zero update stay alone; each group is led by its earliest submission."""
    rng = np.random.default_rng(5)
    base = [rng.normal(size=200) for _ in range(20)]
    updates = [*base, base[3] * 2.0, base[3] + rng.normal(scale=1e-9, size=200), base[7].copy(),
               np.zeros(200)]
    order = [(i, f"0x{i:040x}") for i in range(len(updates))]
    expected = sorted([[3, 20, 21], [7, 22]] + [[i] for i in range(24) if i not in (3, 7, 20, 21, 22)])
    for reference in (None, np.mean(base, axis=0)):
        assert copy_groups(updates, order, reference) == expected
    # the submission order decides who leads a group: the copy submitted first leads
    later = [(100 if i == 3 else i, f"0x{i:040x}") for i in range(len(updates))]
    assert [20, 21, 3] in copy_groups(updates, later)


class _LinearScorer:
    """Per-example squared distance to a target: a smooth loss for the game."""

    def __init__(self, target: np.ndarray) -> None:
        self.target = target

    def losses(self, params: np.ndarray) -> np.ndarray:
        return (params - self.target) ** 2 + 0.1

    def accuracy(self, params: np.ndarray) -> float:
        return float(np.mean(np.abs(params - self.target) < 0.5))


def test_value_round_with_many_players():
    rng = np.random.default_rng(6)
    d = 40
    target = rng.normal(size=d)
    start = np.zeros(d)
    subs = []
    for i in range(150):
        update = target * rng.uniform(0.2, 1.0) + rng.normal(scale=0.3, size=d)
        subs.append(DecodedSubmission(f"0x{i:040x}", f"0x{i:064x}", update, order=i))
    subs.append(DecodedSubmission(f"0x{999:040x}", f"0x{999:064x}", subs[0].update, order=999))
    subs.append(DecodedSubmission(f"0x{998:040x}", f"0x{998:064x}", np.zeros(d), order=998))
    timings: dict[str, float] = {}
    valuation = value_round(start, subs, _LinearScorer(target), 10**18, clip_norm=100.0,
                            seed=1, timings=timings)
    assert valuation.players == 150 and valuation.method == "gtg"
    assert set(timings) == {"dedupe", "value"}
    lines = {line.address: line for line in valuation.contributors}
    assert lines[f"0x{999:040x}"].copy_of == f"0x{0:040x}" and lines[f"0x{999:040x}"].amount == 0
    assert any(r.address == f"0x{998:040x}" for r in valuation.rejected)
    assert sum(line.amount for line in valuation.contributors) <= 10**18
    again = value_round(start, subs, _LinearScorer(target), 10**18, clip_norm=100.0, seed=1)
    assert [line.amount for line in again.contributors] == [line.amount for line in valuation.contributors]
