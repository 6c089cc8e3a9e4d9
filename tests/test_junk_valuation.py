"""Issue 15, valuation side: 200 junk submissions from fresh addresses, arriving first on
chain, do not cut 3 honest owners' pay by more than 10 % (the contract side, no lock-out,
is tests/test_contracts.py::test_junk_submissions_cannot_lock_out_honest_owners).

Through the real pipeline: the honest owners train with the real trainer on real tables
(scikit-learn's breast cancer and wine, the markets of benchmarks.fairness), every update is
packed, Paillier-encrypted (512-bit test key) into blob bytes, decoded with
`decode_submissions` and valued with `value_round` and the practitioner's reference update.
The junk, 40 of each kind: zero updates, random directions of an honest norm, tiny random
noise, one fabricated row (random features, random label) and 20 fabricated rows with
random labels (a junk sender has no data; an owner of real rows is an owner). With the
former single alignment test (z >= 1.5 per update) 5-21 junk updates joined the game and
the honest owners kept 35-67 % of their pay on these tables (8 splits); the screen now tests
the round's updates together (`trainer.shapley.aligned_step_down`).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import fairness
from practitioner.decode import (
    FetchedSubmission,
    ValidationScorer,
    decode_submissions,
    reference_update,
)
from practitioner.valuation import encoding_slack, value_round
from trainer.models import model_from_spec
from trainer.shapley import (
    aligned_step_down,
    alignment_threshold,
    random_direction_quantile,
    random_direction_tail,
)
from trainer.testing import test_keypair
from trainer.update import LocalUpdate, encrypt_to_blob, make_update
from trainer.update_blob import blob_hash

REWARD = 10**18
BOUNTY, ROUND = 3, 0
HONEST = ("h_mid", "h_big", "h_big2")
JUNK_PER_KIND = 40
JUNK_KINDS = ("zero", "random", "tiny", "one_fake_row", "random_labels")


def _junk(market: fairness.Market, params: np.ndarray, kind: str, typical: float,
          rng: np.random.Generator) -> LocalUpdate:
    if kind == "zero":
        return LocalUpdate(np.zeros_like(params), n_samples=1)
    if kind in ("random", "tiny"):
        direction = rng.normal(size=params.size)
        norm = typical if kind == "random" else 1e-3 * typical
        return LocalUpdate(direction * norm / np.linalg.norm(direction), n_samples=1)
    rows = 1 if kind == "one_fake_row" else 20
    x = rng.normal(size=(rows, market.x_val.shape[1]))
    y = rng.integers(0, market.n_classes, size=rows)
    return make_update(market.spec, params, x, y)


def _value(market, params, blobs: list[tuple[str, bytes]]) -> dict[str, int]:
    _, private_key = test_keypair(512)
    fetched = [FetchedSubmission(address, blob_hash(data), data, order=i)
               for i, (address, data) in enumerate(blobs)]
    decoded = decode_submissions(market.spec, private_key, BOUNTY, ROUND, fetched)
    valuation = value_round(
        params, decoded, ValidationScorer(market.spec, market.x_val, market.y_val), REWARD,
        clip_norm=market.spec.privacy.clip_norm,
        clip_slack=encoding_slack(params.size, market.spec.encoding.precision_bits),
        reference=reference_update(market.spec, params, market.x_val, market.y_val),
    )
    return {line.address: line.amount for line in valuation.contributors}


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_200_junk_submissions_first_cut_honest_pay_by_at_most_10_percent(dataset):
    market = fairness.build_market(dataset, 0)
    params = model_from_spec(market.spec).get_params()
    honest = {fairness.address(o, 0): make_update(market.spec, params, *market.parts[o]) for o in HONEST}
    typical = float(np.median([np.linalg.norm(u.delta) for u in honest.values()]))
    rng = np.random.default_rng(15)
    junk = [
        (f"0x{i + 1:040x}", _junk(market, params, JUNK_KINDS[i % len(JUNK_KINDS)], typical, rng))
        for i in range(JUNK_PER_KIND * len(JUNK_KINDS))
    ]
    honest_blobs = [(a, encrypt_to_blob(market.spec, BOUNTY, ROUND, u)) for a, u in honest.items()]
    junk_blobs = [(a, encrypt_to_blob(market.spec, BOUNTY, ROUND, u)) for a, u in junk]
    alone = _value(market, params, honest_blobs)
    flooded = _value(market, params, junk_blobs + honest_blobs)
    assert all(alone[a] > 0 for a in honest)
    for address in honest:
        assert flooded[address] >= 0.9 * alone[address], (address, flooded[address] / alone[address])
    assert sum(flooded.values()) <= REWARD
    assert sum(flooded.get(address, 0) for address, _ in junk) == 0


def test_the_step_down_is_the_single_test_for_small_rounds_and_holm_beyond():
    d = 31
    single = alignment_threshold(d)  # z = ALIGNMENT_KEEP_Z
    weak = [single + 0.01]  # passes the single test, p ~ 6 %
    strong = [0.9, 0.85, 0.8]  # z ~ 5: honest updates
    noise = list(np.linspace(-0.2, single - 0.01, 11))  # fail the single test
    # 15 updates: exactly the single test, whatever the others
    assert aligned_step_down(strong + weak + noise, d) == [True] * 4 + [False] * 11
    # 200 more below the single test: the weak one now needs p <= 6.7 % / (m - 3 - 14)
    flood = strong + weak + noise + [single - 0.02] * 200
    assert aligned_step_down(flood, d) == [True] * 3 + [False] * (len(flood) - 3)
    # near-copies of one lucky direction (p ~ 1 %) do not carry each other in
    lucky = random_direction_quantile(0.01, d)
    assert aligned_step_down(strong + [lucky] * 200, d) == [True] * 3 + [False] * 200
    assert abs(random_direction_tail(lucky, d) - 0.01) < 1e-9
