"""The fairness benchmark's quick mode (`python -m benchmarks.fairness --quick`): 5 fixed splits
of 5 real data sets (one held out from the choice of thresholds) and a 4-column variant (the
smallest model), 2 rounds each, the real trainer and the real valuation.

The issue's targets that hold are asserted as targets; the ones the valuation does not meet
(docs/PROTOCOL.md, "Fairness on real data", says why) are asserted at their measured level so
a regression shows: free riders with a lucky random update, a one-row update scaled up past
the wallet's proportional step or the last round's global change sent again (momentum), the same rows retrained with another seed from a second
address, copies plus 5 % noise on models under 100 parameters, and 60 %-noise owners on
iris's 30 validation rows.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import fairness
from benchmarks._markets import STATSMODELS_TABLES
from trainer.shapley import COPY_NOISE_MIN_PARAMS


@pytest.fixture(scope="module")
def quick():
    return fairness.run(list(fairness.DATASETS), fairness.QUICK_SPLITS)


def test_the_benchmark_covers_five_real_data_sets_and_its_json_keys(quick):
    assert quick["datasets"] == ["breast_cancer", "wine", "digits", "iris", "diabetes", "breast_cancer_4"]
    assert quick["held_out"] == ["diabetes"]
    for key in ("false_merge_rate", "free_rider_max_share", "clone_pair_max_ratio",
                "noisy_to_honest_max_ratio", "order_effect_max", "rank_correlation_min",
                "example_influence_max", "honest_unpaid_rate", "paid_share_mean"):
        assert isinstance(quick[key], float), key
    json.dumps(quick, allow_nan=False)  # strict JSON, as printed by --json


def test_targets_that_hold(quick):
    assert quick["false_merge_rate"] == 0.0  # honest owners with disjoint rows never merged
    assert quick["copy_pair_max_ratio"] <= 1.1  # exact, re-randomised, scaled, noisy, k = 5
    assert quick["same_data_pair_max_ratio"] <= 1.1  # the same rows trained again by the wallet
    assert quick["copy_credit_errors"] == 0  # no copy is ever paid
    assert quick["order_effect_max"] == 0.0
    assert quick["free_zero_max_share"] == 0.0
    assert quick["rank_correlation_min"] >= 0.8
    for name, row in quick["per_dataset"].items():
        assert 0.0 <= row["honest_unpaid_rate"] <= 0.25 and 0.0 < row["paid_share_mean"] <= 1.0, name
        assert row["noisy60_to_honest_mean_ratio"] < 0.5, name
        if name != "iris":
            assert row["noisy_to_honest_max_ratio"] < 1.0, name
        if row["parameters"] >= COPY_NOISE_MIN_PARAMS:  # copies plus 5 % noise caught too
            assert row["noisy5_copy_pair_max_ratio"] <= 1.1, name


def test_measured_levels_of_the_targets_that_do_not_hold(quick):
    assert quick["free_rider_max_share"] <= 0.05  # target 0.01; 2.6 % here (random), 3.3 % full
    # a lucky random direction is paid by its evidence (alignment pay factor): full mode 3.3 %
    # at most, 0.2 % on average (the hard cut before it: 11.5 %, 0.5 %)
    assert quick["free_random_max_share"] <= 0.06
    # one row trained as the wallet does: 1.7 % here, 2.4 % full (a full step per batch: 19.9 %)
    assert quick["free_one_row_max_share"] <= 0.04
    # the same row scaled up to the clip norm: what an owner ignoring the step rule takes
    assert quick["free_one_row_boosted_max_share"] <= 0.4  # 21.6 % here, 28 % full (31 % before the bound along the reference)
    # full mode: 1.78, 1.82 and 0.11 (docs/PROTOCOL.md)
    assert quick["reshuffled_same_data_pair_max_ratio"] <= 2.0  # target 1.1
    assert quick["noisy_to_honest_max_ratio"] <= 2.0  # iris, 10-row owners, 30 validation rows
    # one relabelled validation example, players fixed (the pay factors from the retrained r)
    assert quick["example_influence_max"] <= 0.2
    # a copy plus 5 % noise on a model under 100 parameters is a separate (worse) player
    assert quick["noisy5_copy_pair_max_ratio"] <= 2.0
    # a free rider holding no rows that sends the last round's global change (public) at an
    # honest owner's length: full mode 11.6-18.9 % of a round at most, 9.4-16.0 % on average
    assert quick["free_momentum_max_share"] <= 0.25
    # about what an honest owner of 6-60 rows earns in the same round, or more (1.1-1.7x here)
    for name, row in quick["per_dataset"].items():
        assert row["free_momentum_to_h_mid_median_ratio"] <= 2.5, name
        # and it is paid: 9.9-16.6 % of a round on average here, 1.1-1.7x the honest owner
        assert row["free_momentum_mean_share"] > 0.03 and row["free_momentum_to_h_mid_median_ratio"] >= 0.5, name
    # and no rule on its direction can tell it apart: honest updates point as close to the
    # last change (0.9993 on the 5-parameter model)
    assert max(row["honest_to_last_change_max_cosine"] for row in quick["per_dataset"].values()) > 0.99


def test_pay_stays_under_what_paying_exactly_by_value_would_give_free_riders(quick):
    """The oracle pays each owner its share of the round's positive true value (the test
    set's Shapley value in the same game): the free-rider targets are out of its reach too,
    and the valuation pays free riders less than it, on average on every table."""
    assert quick["oracle_free_random_max_share"] > 0.01  # a lucky random direction really helps
    assert quick["oracle_free_one_row_max_share"] > 0.01  # so does one row of a good table
    # and so does momentum: the last round's change sent again moves the model further downhill
    assert quick["oracle_free_momentum_max_share"] > 0.05
    for name, row in quick["per_dataset"].items():
        assert row["free_random_mean_share"] <= row["oracle_free_random_mean_share"], name
        assert row["free_one_row_mean_share"] <= row["oracle_free_one_row_mean_share"], name
        # one row scaled up to the clip norm really moves the model that far: paying exactly by
        # value would pay it more (mean 6-23 % of a round here against the valuation's 1-14 %)
        assert row["free_one_row_boosted_mean_share"] <= row["oracle_free_one_row_boosted_mean_share"], name
        assert row["free_one_row_boosted_max_share"] <= row["oracle_free_one_row_boosted_max_share"], name
        assert row["free_momentum_mean_share"] <= row["oracle_free_momentum_mean_share"], name


def test_small_data_sets_take_small_steps(quick):
    """The wallet takes a step in proportion to a batch's rows below the spec's batch_size
    (trainer.train.batch_weight): one row earns in proportion on every table, and it is that
    rule, not the valuation, that holds it there: the same row scaled up to the clip norm
    is paid several times more."""
    for name, row in quick["per_dataset"].items():
        assert row["free_one_row_mean_share"] <= 0.01, name  # 0.1-0.7 % here
        assert row["one_row_to_5_rows_median_ratio"] <= 0.5, name  # 0.0-0.4 here
        assert row["free_one_row_boosted_mean_share"] > 2 * row["free_one_row_mean_share"], name


def test_measured_levels_of_a_sybil_splitting_its_rows(quick):
    """The big owner's rows sent as 2, 4 or 10 parts from as many addresses, each trained as
    the wallet does: the parts earn about what the whole does (the steps are in proportion to
    rows), and no more than paying exactly by value would give them. A sybil that scales each
    part up to the whole's length earns more, the more addresses the more (docs/PROTOCOL.md,
    "What remains possible for a sybil")."""
    assert fairness.SPLITS == (2, 4, 10)
    for k in fairness.SPLITS:
        assert quick[f"split{k}_group_max_ratio"] <= 2.0, k  # 1.33, 1.62 and 1.84 here; full 2.33 / 2.97
        # 1.60, 2.13 and 2.71 here (full 2.10, 3.59 and 5.88, diabetes)
        assert quick[f"split{k}_boosted_group_max_ratio"] <= (2.5 if k < 10 else 3.0), k
        for name, row in quick["per_dataset"].items():
            # the median group is paid about what the oracle would pay it (at most 1.00x here)
            assert row[f"split{k}_group_median_ratio"] <= 1.05 * row[f"oracle_split{k}_group_median_ratio"], (k, name)
            # 0.85-1.36 over 2 and 4 here, 0.60-1.41 over 10 (breast cancer, oracle 1.49)
            assert row[f"split{k}_group_median_ratio"] <= (1.4 if k < 10 else 1.5), (k, name)
            # scaling the parts up is what still pays
            assert row[f"split{k}_boosted_group_median_ratio"] > row[f"split{k}_group_median_ratio"], (k, name)


def test_a_bounty_shares_its_leftover_by_pooled_credits(quick):
    """Each split's rounds as one bounty, its leftover shared as the board shares it (by the
    closing round's credits, each owner's values pooled over the bounty at their lower bound;
    docs/PROTOCOL.md, "A bounty's leftover"): pay still ranks owners by true value over the
    bounty, at least as well as sharing by pay did, with free riders and the owner paid most
    taking no more than by pay (full mode: less on diabetes, fair and modechoice)."""
    for name, row in quick["per_dataset"].items():
        assert row["bounty_rank_correlation"] >= 0.9, name  # 0.95-0.99 here
        assert row["bounty_rank_correlation"] >= row["rank_correlation"] - 0.02, name
        assert row["bounty_rank_correlation"] >= row["bounty_by_pay_rank_correlation"] - 0.01, name
        assert row["bounty_free_rider_max_share"] <= row["bounty_by_pay_free_rider_max_share"] + 0.005, name
        assert row["bounty_top_owner_max_share"] <= row["bounty_by_pay_top_owner_max_share"] + 0.005, name
        assert 0.0 < row["bounty_leftover_mean_share"] < 0.6, name  # 6-52 % here
        # the leftover still goes to value told apart from zero: the top owner above the true share
        assert row["bounty_top_owner_max_share"] >= row["oracle_bounty_top_owner_max_share"], name
        assert row["bounty_nobody_paid_rate"] == 0.0, name


def test_command_line_json(capsys):
    assert fairness.main(["--splits", "1", "--datasets", "iris", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["datasets"] == ["iris"] and out["splits"] == 1


def test_statsmodels_tables_never_looked_at_keep_the_rules_that_hold():
    """Four tables statsmodels ships (the 1996 US election survey, the 1974 affairs survey,
    added after valuation v3 was chosen; 210 travellers' mode choice, a 4-class table added
    after v4; 303 school districts, added after the wallet's proportional steps): the rules
    that hold on the others hold there too. Pay ranks owners by their true value on three;
    on the mode-choice table's 42 validation rows it does not (docs/PROTOCOL.md: full mode
    0.74, 0.57 before the wallet's proportional steps)."""
    extra = fairness.run(list(STATSMODELS_TABLES), 2, measure_rules=False)
    assert extra["datasets"] == ["anes96", "fair", "modechoice", "star98"]
    assert extra["held_out"] == extra["datasets"]
    assert extra["false_merge_rate"] == 0.0
    assert extra["copy_pair_max_ratio"] <= 1.0 + 1e-9 and extra["copy_credit_errors"] == 0
    assert extra["order_effect_max"] == 0.0 and extra["free_zero_max_share"] == 0.0
    ranks = {name: row["rank_correlation"] for name, row in extra["per_dataset"].items()}
    assert ranks["anes96"] >= 0.8 and ranks["fair"] >= 0.8 and ranks["star98"] >= 0.8
    # star98 (PROTOCOL): its 60 %-noise owner earns less than its clean self (0.79x at most here)
    assert extra["per_dataset"]["star98"]["noisy_to_honest_max_ratio"] < 1.0
    assert ranks["modechoice"] >= 0.5  # measured level (0.68 on these 2 splits), target 0.8
    # why (README, PROTOCOL): the lower bound pays many of its honest owners nothing (full mode
    # 32 %; 31 % on these splits), more than on the other tables
    unpaid = {name: row["honest_unpaid_rate"] for name, row in extra["per_dataset"].items()}
    assert unpaid["modechoice"] >= 0.2 and unpaid["modechoice"] > max(unpaid["anes96"], unpaid["fair"])
    # over a bounty, the leftover's credits rank it better than sharing by pay did and keep one
    # owner from taking the leftover (PROTOCOL, "A bounty's leftover")
    mode = extra["per_dataset"]["modechoice"]
    assert mode["bounty_rank_correlation"] >= mode["bounty_by_pay_rank_correlation"] + 0.05
    assert mode["bounty_top_owner_max_share"] <= mode["bounty_by_pay_top_owner_max_share"]
    assert mode["bounty_honest_unpaid_rate"] <= mode["bounty_by_pay_honest_unpaid_rate"]


@pytest.mark.parametrize("privacy", ["none", "default"])
def test_issue_9s_own_table_the_palmer_penguins(privacy):
    """The table of issue 9's market (333 penguins, 4 measurements, 3 species; palmerpenguins),
    added after stop 23 and run once in full mode (docs/PROTOCOL.md: 20 splits). What the issue
    saw there, a merged honest owner, a one-row owner taking 87.5 % of a round and a 60 %-noise
    owner paid more than honest ones, does not happen, in either privacy mode."""
    run = fairness.run(["penguins"], 3, privacy=privacy)
    assert run["held_out"] == ["penguins"]
    row = run["per_dataset"]["penguins"]
    assert row["validation_rows"] == 66 and row["parameters"] == 15
    assert row["false_merge_rate"] == 0.0
    assert row["copy_pair_max_ratio"] <= 1.0 + 1e-9 and row["copy_credit_errors"] == 0
    assert row["order_effect_max"] == 0.0 and row["free_zero_max_share"] == 0.0
    assert row["noisy_to_honest_max_ratio"] < 1.0  # 0.66 / 0.44 here; full mode 0.79 / 0.69
    assert row["rank_correlation"] >= 0.8  # 0.97 here and in full mode
    # a one-row owner trained as the wallet does: 0.8 % at most here (full mode 0.8 % without
    # noise, 3.1 % under the default privacy)
    assert row["free_one_row_max_share"] <= 0.01
    # a lucky random update: paid less than paying exactly by value would (0.6 % against
    # 5.1-5.2 % here; full mode 4.0 / 4.2 % against 10.3 / 11.2 %)
    assert row["free_random_max_share"] <= row["oracle_free_random_max_share"]
    # honest owners paid nothing: 0 / 8 % here, full mode 0 / 4 %
    assert row["honest_unpaid_rate"] <= (0.0 if privacy == "none" else 0.25)


def test_a_later_table_never_looked_at_the_rand_health_experiment():
    """statsmodels' RAND health insurance experiment (20,190 person-years: did the person see a
    doctor; 4,038 validation rows, 10 parameters), added at stop 31 and run once in full mode
    (docs/PROTOCOL.md, 20 splits). A weak signal: every model ends near the base rate (69 %).
    What holds elsewhere holds there; the 60 %-noise owner is paid more than its clean self in
    some rounds, as paying exactly by value would (full mode 3.17x against 1.53x, through the
    alignment pay factor)."""
    run = fairness.run(["randhie"], 2)
    assert run["held_out"] == ["randhie"]
    row = run["per_dataset"]["randhie"]
    assert row["validation_rows"] == 4038 and row["parameters"] == 10
    assert row["false_merge_rate"] == 0.0
    assert row["copy_pair_max_ratio"] <= 1.0 + 1e-9 and row["copy_credit_errors"] == 0
    assert row["order_effect_max"] == 0.0 and row["free_zero_max_share"] == 0.0
    assert row["rank_correlation"] >= 0.8  # 0.95 here, 0.96 in full mode
    assert row["free_one_row_max_share"] <= 0.01  # 0 here, 0.4 % in full mode
    assert row["free_random_max_share"] <= row["oracle_free_random_max_share"]  # full mode 5.6 vs 16.0 %
    # measured misses (target < 1): 1.83x here, 3.17x in full mode; paying exactly by value 1.21x / 1.53x
    assert row["noisy_to_honest_max_ratio"] > 1.0 and row["oracle_noisy_to_honest_max_ratio"] > 1.0
    # momentum (no rows): 13.3 % of round 2 here, 17.5 % in full mode; paying by value more
    assert 0.05 <= row["free_momentum_max_share"] <= row["oracle_free_momentum_max_share"]


def test_under_the_wallets_default_privacy():
    """Owners train as the wallet does by default ("Protect each row": DP-SGD, a noise draw
    per wallet and round; `--privacy default`). The rules that hold without noise hold here
    too, and so do the 60 %-noise and rank targets on these tables; the same file trained
    again in a second wallet is not a copy (its noise is its own) and is paid as a separate
    owner (docs/PROTOCOL.md, "Under the wallet's default privacy")."""
    dp = fairness.run(["breast_cancer", "wine", "iris", "diabetes", "modechoice"], 2, privacy="default")
    assert dp["privacy"] == "default"
    modechoice = dp["per_dataset"].pop("modechoice")  # the small 4-class table: measured levels
    assert modechoice["rank_correlation"] >= 0.5  # 0.66 here; full mode 0.64 (0.74 without noise)
    # the leftover's credits rank it over a bounty as the issue asks (PROTOCOL, "A bounty's
    # leftover"), where sharing by pay did not
    assert modechoice["bounty_rank_correlation"] >= 0.8 > modechoice["bounty_by_pay_rank_correlation"]
    assert dp["false_merge_rate"] == 0.0
    assert dp["copy_pair_max_ratio"] <= 1.0 + 1e-9 and dp["copy_credit_errors"] == 0
    assert dp["order_effect_max"] == 0.0 and dp["free_zero_max_share"] == 0.0
    assert min(row["rank_correlation"] for row in dp["per_dataset"].values()) >= 0.8  # 0.88-0.98 here
    for name, row in dp["per_dataset"].items():
        assert row["noisy60_to_honest_mean_ratio"] < 0.5, name  # 0.00-0.15 here
        assert row["noisy_to_honest_max_ratio"] < 1.0, name  # full mode: up to 1.22 on iris
        # the limit: a second wallet's update of the same file earns as another owner would
        assert row["same_data_pair_median_ratio"] > 1.1, name  # 1.12-1.44 here
        # splitting one's rows pays little under the noise: each part's noise is as large on
        # fewer rows (medians 0.32-1.42 over 2 and 4 here, 0.18-0.99 over 10; full mode
        # 0.12-1.05, breast cancer 1.33 / 1.45)
        assert max(row[f"split{k}_group_median_ratio"] for k in fairness.SPLITS) <= 1.5, name
        assert row["split10_group_median_ratio"] <= 1.0, name
        assert row["honest_unpaid_rate"] <= 0.25, name  # 6-13 % here; full mode 3-22 %
    assert max(row["free_rider_max_share"] for row in dp["per_dataset"].values()) <= 0.06  # 3.9 % here
    # (full mode 13.7 %, on fair: not reached on these splits)


@pytest.fixture(scope="module")
def later_rounds():
    """Breast cancer and wine, 3 splits x 4 rounds, with the protocol's bound along the
    reference and without it (the rule before stop 24)."""
    return (fairness.run(["breast_cancer", "wine"], 3, rounds=4),
            fairness.run(["breast_cancer", "wine"], 3, rounds=4, use_along_bound=False))


def test_a_one_row_scaled_up_takes_more_in_later_rounds_and_so_would_paying_by_value(later_rounds):
    """Owners' honest updates shrink as the model trains, while a one-row owner that scales its
    update up to the clip norm keeps sending the longest step allowed: without a bound its
    share grows round by round (mean 10 -> 25 % of a round on breast cancer over 4 rounds
    here), and paying exactly by value would give it more in every round (docs/PROTOCOL.md,
    "Later rounds"). The bound along the reference holds it back (mean 17 % in round 4) and
    pays it no more than the oracle in the same game."""
    bounded, unbounded = later_rounds
    for name in ("breast_cancer", "wine"):
        for row in (bounded["per_dataset"][name], unbounded["per_dataset"][name]):
            pay = row["free_one_row_boosted_by_round_mean_share"]
            oracle = row["oracle_free_one_row_boosted_by_round_mean_share"]
            assert len(pay) == len(oracle) == 4, name
            assert all(p <= o for p, o in zip(pay, oracle, strict=True)), name
        pay = unbounded["per_dataset"][name]["free_one_row_boosted_by_round_mean_share"]
        assert pay[-1] > pay[0], name
    assert unbounded["per_dataset"]["breast_cancer"]["free_one_row_boosted_by_round_mean_share"][-1] > 0.2


def test_the_bound_along_the_reference_reaches_only_the_scaled_one_row(later_rounds):
    """The round's bound along the practitioner's reference update (trainer.alignment.along_bound:
    the clip norm x |r_t| / |r_0|): round 1 is unchanged (the bound is the clip norm), the
    scaled one row's share in round 4 falls by more than a quarter on breast cancer (25 -> 17 %
    here; full mode, five rounds: max 42 -> 27 %), and honest owners' pay, rank and the free
    riders move by less than 0.01 (docs/PROTOCOL.md, "Later rounds")."""
    bounded, unbounded = later_rounds
    for name in ("breast_cancer", "wine"):
        after, before = (run["per_dataset"][name] for run in (bounded, unbounded))
        boosted = [row["free_one_row_boosted_by_round_mean_share"] for row in (after, before)]
        assert boosted[0][0] == boosted[1][0], name
        assert all(a <= b + 1e-12 for a, b in zip(*boosted, strict=True)), name
        for key in ("rank_correlation", "honest_unpaid_rate", "free_random_max_share", "free_one_row_max_share",
                    "noisy_to_honest_max_ratio", "copy_pair_max_ratio", "false_merge_rate"):
            assert abs(after[key] - before[key]) < 0.01, (name, key)
    bc = [run["per_dataset"]["breast_cancer"]["free_one_row_boosted_by_round_mean_share"][-1]
          for run in (bounded, unbounded)]
    assert bc[0] < 0.75 * bc[1]


def test_a_clip_radius_that_shrinks_with_the_round_reaches_only_the_scaled_one_row_without_noise():
    """The radius tried and not adopted (docs/PROTOCOL.md, "Later rounds"; measured without
    the bound along the reference, which came after it): without noise it
    cuts the scaled one row's share in later rounds and leaves honest owners' pay as it was,
    since their updates shrink with the practitioner's own. (Under the default privacy it
    costs honest owners; that is measured in full mode, not here.)"""
    fixed = fairness.run(["breast_cancer"], 3, rounds=4, use_along_bound=False)["per_dataset"]["breast_cancer"]
    shrinking = fairness.run(["breast_cancer"], 3, rounds=4, adaptive_clip=True,
                             use_along_bound=False)["per_dataset"]["breast_cancer"]
    before, after = (row["free_one_row_boosted_by_round_mean_share"] for row in (fixed, shrinking))
    assert after[0] == before[0]  # round 1: the radius is the clip norm
    assert after[-1] < 0.75 * before[-1]  # 0.23 -> 0.12 here
    for key in ("rank_correlation", "honest_unpaid_rate", "free_random_max_share", "free_one_row_max_share"):
        assert abs(shrinking[key] - fixed[key]) < 0.01, key
