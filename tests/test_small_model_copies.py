"""Copies on models too small to tell them by direction (valuation_rules 4, docs/PROTOCOL.md,
Valuation step 2).

On a model of 2 or 3 parameters honest owners with disjoint rows can point the same way: the
benchmark's owners on one column of real tables came within the exact rule's 1 - 1e-6 of each
other, and on two discrete columns an owner whose rows share one point trains exactly along
that point's direction. Calling them copies paid the later one nothing. From valuation_rules 4
only exact positive multiples are copies there (what a copier makes of another owner's
ciphertext without adding noise: re-randomised, or raised to an integer power); bounties posted
before keep the rule they were valued by, so their reports still verify."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import fairness
from benchmarks._markets import load
from practitioner.decode import ValidationScorer, reference_update
from practitioner.post import complete_spec, read_spec_file, small_model_warning
from practitioner.valuation import DecodedSubmission, value_round
from trainer.copy_proof import (
    COPY_DIRECTION_MIN_PARAMS,
    copies_by_direction,
    copy_rule_text,
    is_copy_link,
)
from trainer.encoding import encoding_slack
from trainer.key_proof import prove_modulus
from trainer.models import model_from_spec
from trainer.spec import SMALL_MODEL_COPY_RULES, VALUATION_RULES
from trainer.testing import make_spec, test_keypair
from trainer.update import make_update

STEP = 2.0**-16
DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def addresses(n: int) -> list[str]:
    return [f"0x{i + 1:040x}" for i in range(n)]


def valued(params, updates, x_val, y_val, spec, rules):
    subs = [DecodedSubmission(a, "0x" + f"{i:064x}", u, order=i)
            for i, (a, u) in enumerate(zip(addresses(len(updates)), updates, strict=True))]
    return value_round(params, subs, ValidationScorer(spec, x_val, y_val), 10**18,
                       clip_norm=spec.privacy.clip_norm,
                       clip_slack=encoding_slack(params.size, spec.encoding.precision_bits),
                       reference=reference_update(spec, params, x_val, y_val), rules=rules)


def copies(valuation) -> dict[str, str]:
    return {line.address: line.copy_of for line in valuation.contributors if line.copy_of}


def test_the_rule_by_model_size_and_rules():
    assert COPY_DIRECTION_MIN_PARAMS == 4 and VALUATION_RULES >= SMALL_MODEL_COPY_RULES == 4
    assert not copies_by_direction(3) and copies_by_direction(4)
    assert copies_by_direction(2, rules=3)  # a bounty posted before keeps its rule
    u = np.array([0.25, -0.5, 0.125])
    assert is_copy_link(u, u.copy()) and is_copy_link(u, 3.0 * u) and is_copy_link(3.0 * u, 2.0 * u)
    assert not is_copy_link(u, -u) and not is_copy_link(u, u + np.array([STEP, 0.0, 0.0]))
    assert not is_copy_link(np.zeros(3), np.zeros(3))  # a zero update is a null player, no one's copy
    assert is_copy_link(u, u + np.array([1e-4, 0.0, 0.0]), rules=3)
    assert is_copy_link(u, 3.0 * u, rules=3)
    assert copy_rule_text(3) == ("on a model of 3 parameters the rule asks for exact multiples "
                                 "(the same plaintext, or a positive multiple of it)")
    assert copy_rule_text(3, rules=3) == copy_rule_text(31) == "the rule asks more than 0.999999"
    v = np.arange(1.0, 5.0)
    assert is_copy_link(v, 3.0 * v)  # 4 parameters: by direction, as before


def one_column_pairs(folder) -> list[tuple[str, int, str, str, float]]:
    """Pairs of the benchmark's owners with disjoint rows (round 1, trained as the wallet
    does) closer than the exact rule's 1 - 1e-6, on the first column of four real tables
    (named tables draw their splits by the file's name, so these are fixed)."""
    found = []
    for table in ("fair", "star98", "anes96", "randhie"):
        x, y = load(table)
        path = folder / f"{table}.csv"
        pd.DataFrame({"first": x[:, 0], "label": y}).to_csv(path, index=False)
        name = f"csv:{path}:label"
        for split in range(20):
            market = fairness.build_market(name, split)
            params = model_from_spec(market.spec).get_params()
            updates = {o: fairness.train(market, params, o) for o in fairness.DISJOINT}
            owners = list(updates)
            for i, a in enumerate(owners):
                for b in owners[i + 1:]:
                    ua, ub = updates[a], updates[b]
                    gap = 1.0 - float(ua @ ub / np.linalg.norm(ua) / np.linalg.norm(ub))
                    if gap < 1e-6:
                        found.append((name, split, a, b, gap))
    return found


def test_honest_owners_on_a_one_column_model_are_not_merged(tmp_path):
    pairs = one_column_pairs(tmp_path)
    # 3 such pairs of the 4 x 20 first rounds (fair, randhie): about 1 pair of owners in 1,000
    assert len(pairs) >= 2 and len({name for name, *_ in pairs}) >= 2
    for name, split, a, b, _gap in pairs:
        market = fairness.build_market(name, split)
        params = model_from_spec(market.spec).get_params()
        assert params.size == 2
        ua, ub = fairness.train(market, params, a), fairness.train(market, params, b)
        assert not np.array_equal(ua, ub)
        old = valued(params, [ua, ub], market.x_val, market.y_val, market.spec, rules=3)
        new = valued(params, [ua, ub], market.x_val, market.y_val, market.spec, rules=VALUATION_RULES)
        assert copies(old) == {addresses(2)[1]: addresses(2)[0]}  # the old rule merged them
        assert copies(new) == {}  # both are players now
        kept = {line.address for line in new.contributors}
        assert kept == set(addresses(2)) or len(new.rejected) > 0


def test_owners_whose_rows_share_one_point_on_two_discrete_columns():
    """randhie's coinsurance and deductible columns: every row of each owner at the table's
    most common point, with more visits than not, so both train along that point's direction."""
    x, y = load("randhie")
    x = x[:, :2]
    keys, counts = np.unique(x, axis=0, return_counts=True)
    point = keys[np.argmax(counts)]
    at_point = np.flatnonzero((x == point).all(axis=1))
    rng = np.random.default_rng(0)
    at_point = at_point[rng.permutation(at_point.size)]
    validation = rng.choice(np.arange(len(y)), size=400, replace=False)
    x_val, y_val = x[validation], y[validation]
    mean, std = x_val.mean(axis=0), x_val.std(axis=0)
    spec = make_spec(2, classes=[0, 1], **{"standardize.mean": mean.tolist(), "standardize.std": std.tolist(),
                                           "privacy.clip_norm": 1.0, "training.l2": 0.0})
    ones = [i for i in at_point if y[i] == 1]
    zeros = [i for i in at_point if y[i] == 0]
    owner_a = ones[:5] + zeros[:1]  # 6 rows, 5 visits
    owner_b = ones[5:14] + zeros[1:3]  # 11 other rows, 9 visits
    params = model_from_spec(spec).get_params()
    scale = lambda rows: (x[rows] - mean) / std  # noqa: E731
    da = make_update(spec, params, scale(owner_a), y[owner_a]).delta
    db = make_update(spec, params, scale(owner_b), y[owner_b]).delta
    assert params.size == 3 and 1.0 - da @ db / np.linalg.norm(da) / np.linalg.norm(db) < 1e-12  # collinear
    ua, ub = np.round(da / STEP) * STEP, np.round(db / STEP) * STEP  # as the practitioner decrypts them
    assert not np.array_equal(ua, ub) and 1.0 - ua @ ub / np.linalg.norm(ua) / np.linalg.norm(ub) < 1e-6
    xs, ys = scale(validation), y_val
    assert copies(valued(params, [ua, ub], xs, ys, spec, rules=3)) == {addresses(2)[1]: addresses(2)[0]}
    new = valued(params, [ua, ub], xs, ys, spec, rules=VALUATION_RULES)
    assert copies(new) == {}
    # an identical update (a re-randomised ciphertext decrypts to the same plaintext) and an
    # integer multiple (the ciphertext raised to a power) are still copies, credited to the
    # earliest submission; a copy plus one fixed-point step is its own update there
    again = valued(params, [ua, ub, ua.copy()], xs, ys, spec, rules=VALUATION_RULES)
    assert copies(again) == {addresses(3)[2]: addresses(3)[0]}
    assert sum(line.amount for line in again.contributors) == sum(line.amount for line in new.contributors)
    scaled = valued(params, [ua, ub, 2.0 * ua], xs, ys, spec, rules=VALUATION_RULES)
    assert copies(scaled) == {addresses(3)[2]: addresses(3)[0]}
    nudged = valued(params, [ua, ub, ua + np.array([STEP, 0.0, 0.0])], xs, ys, spec, rules=VALUATION_RULES)
    assert copies(nudged) == {}


@pytest.mark.parametrize("rules", [3, VALUATION_RULES])
def test_models_of_four_parameters_or_more_keep_the_rule_by_direction(rules):
    x, y = load("breast_cancer")
    x = x[:, :3]
    rng = np.random.default_rng(1)
    validation = rng.choice(np.arange(len(y)), size=120, replace=False)
    mean, std = x[validation].mean(axis=0), x[validation].std(axis=0)
    spec = make_spec(3, classes=[0, 1], **{"standardize.mean": mean.tolist(), "standardize.std": std.tolist(),
                                           "privacy.clip_norm": 1.0})
    params = model_from_spec(spec).get_params()
    rows = np.setdiff1d(np.arange(len(y)), validation)[:60]
    u = np.round(make_update(spec, params, (x[rows] - mean) / std, y[rows]).delta / STEP) * STEP
    assert params.size == 4
    scaled = valued(params, [u, 3.0 * u], (x[validation] - mean) / std, y[validation], spec, rules=rules)
    assert copies(scaled) == {addresses(2)[1]: addresses(2)[0]}


@pytest.mark.parametrize("columns", [1, 3])
def test_post_warns_that_a_small_model_pays_a_copy_plus_noise(columns, tmp_path, caplog):
    """The demo's breast cancer bounty cut to its first `columns` columns: 2 parameters warn
    (a copy plus noise is paid there), 4 do not; both still complete."""
    raw = read_spec_file(DEMO / "breast_cancer_spec.json")
    raw["schema"] = dict(raw["schema"], columns=raw["schema"]["columns"][:columns])
    raw["model"] = dict(raw["model"], n_features=columns)
    table = pd.read_csv(DEMO / "breast_cancer_validation.csv")
    names = [c["name"] for c in raw["schema"]["columns"]]
    path = tmp_path / "validation.csv"
    table[names + [raw["schema"]["label"]]].to_csv(path, index=False)
    public_key, private_key = test_keypair(512)
    with caplog.at_level(logging.WARNING, logger="practitioner.post"):
        spec, *_ = complete_spec(raw, paillier_n=public_key.n,
                                 paillier_proof=prove_modulus(private_key.p, private_key.q),
                                 validation_files=[str(path)], inbox_url="")
    n_params = model_from_spec(spec).get_params().size
    assert n_params == columns + 1
    warned = [r.getMessage() for r in caplog.records if "parameters" in r.getMessage()]
    if n_params < COPY_DIRECTION_MIN_PARAMS:
        assert warned == [small_model_warning(n_params)] and f"{n_params} parameters" in warned[0]
        assert "a copy with a little noise added is paid" in warned[0] and "--by-invitation" in warned[0]
    else:
        assert warned == [] and small_model_warning(n_params) is None


@pytest.mark.parametrize(("clip", "exact"), [(2.0, True), (0.3, False)])
def test_a_ciphertext_raised_to_a_power_is_an_exact_multiple_when_clip_is_whole_steps(clip, exact):
    """A copier holding another owner's ciphertexts c (per parameter, real Paillier) sends
    c^k * Enc(-(k - 1) * clip * 2^bits): k times the update, offset corrected. It decodes to
    exactly k times the update when clip is a whole number of fixed-point steps (2.0, the
    demo's), so the small-model rule catches it; otherwise the correction is rounded and the
    copy is up to one step off, its own update (docs/PROTOCOL.md, Valuation step 2)."""
    from trainer.encoding import EncodingParams, decode_sum, encode_nearest

    public_key, private_key = test_keypair(512)
    encoding = EncodingParams(precision_bits=16, clip=clip, max_contributors=8, key_bits=512)
    update = np.array([0.1234567, -0.0456789, 0.0078901])
    q = encode_nearest(update, encoding)
    u = decode_sum(q, 1, encoding)  # what the practitioner decrypts from the original
    ciphertexts = [public_key.encrypt(int(v)) for v in q]
    k = 3
    correction = -round((k - 1) * clip * encoding.scale)
    copied = [c * k + correction for c in ciphertexts]  # homomorphic: c^k * g^correction
    copy = decode_sum(np.array([private_key.decrypt(c) for c in copied]), 1, encoding)
    assert np.max(np.abs(copy - k * u)) <= 1.0 / encoding.scale  # k times it, within one step
    assert is_copy_link(u, copy) is exact and bool(np.array_equal(copy, k * u)) is exact
    assert is_copy_link(u, copy, rules=3)  # the rule by direction catches both


@pytest.mark.parametrize("grouped_as_decrypted", [True, False])
def test_a_scaled_copy_cut_back_to_the_clip_norm_is_one_test_with_its_original(grouped_as_decrypted):
    """The screen tests each group of copies once, so copies cannot raise the bar for others.
    On a 3-parameter model 15 honest updates are tested by the single test; a 16th test starts
    Holm's step-down, whose first rank then needs a cosine of 0.93 there. A copy raised to the
    power 3 is cut back onto the clip ball before valuation, which makes it no longer an exact
    multiple of its original: grouped as projected, it is a 16th test and shuts out the whole
    round; grouped as decrypted (the protocol), it joins its original."""
    from trainer.encoding import project_to_ball
    from trainer.shapley import screen_updates

    rng = np.random.default_rng(3)
    reference = np.array([1.0, 0.0, 0.0])
    honest = []
    while len(honest) < 15:  # cosines with the reference between 0.65 and 0.9, on the fixed-point grid
        update = np.round(rng.normal(size=3) * 2**16) / 2**16
        update[0] = abs(update[0]) + 1.5
        cos = float(update @ reference / np.linalg.norm(update))
        if 0.65 < cos < 0.9:
            honest.append(update * 0.5 / np.linalg.norm(update) // STEP * STEP)
    clip = 1.0
    copy = 3 * honest[0]
    decrypted = [*honest, copy]
    projected = [project_to_ball(u, clip) for u in decrypted]
    assert not np.array_equal(projected[-1], copy)  # it was cut back
    screening = screen_updates(projected, reference=reference, copies_by_direction=False,
                               group_by=decrypted if grouped_as_decrypted else None)
    if not grouped_as_decrypted:
        assert screening.kept == () and len(screening.rejected) == 16
        return
    assert sorted(screening.kept) == list(range(16)) and not screening.rejected
    # value_round groups them so: nothing rejected, the copy credited to its original
    spec = make_spec(2, classes=[0, 1], **{"privacy.clip_norm": clip})
    x_val = rng.normal(size=(40, 2))
    y_val = (x_val[:, 0] > 0).astype(np.int64)
    subs = [DecodedSubmission(a, "0x" + f"{i:064x}", u, order=i)
            for i, (a, u) in enumerate(zip(addresses(16), decrypted, strict=True))]
    params = model_from_spec(spec).get_params()
    assert params.size == 3
    valuation = value_round(params, subs, ValidationScorer(spec, x_val, y_val), 10**18, clip_norm=clip,
                            clip_slack=encoding_slack(3, spec.encoding.precision_bits),
                            reference=reference, rules=VALUATION_RULES)
    assert not valuation.rejected
    assert copies(valuation) == {addresses(16)[15]: addresses(16)[0]}
