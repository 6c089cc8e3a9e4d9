"""Gaming scenarios on real data (scikit-learn's breast cancer set), through the real pipeline:
local training, clipping, fixed-point packing, Paillier encryption, blob bytes, verification,
decryption, screening, copy grouping and exact Shapley valuation on the validation log-loss.
Copies are built from the original's ciphertexts as a copier would (no plaintext access):
re-randomised (c * r^n), positively scaled (c^k * Enc(-(k-1) * offset)) and plus noise at the
encoding's precision (c * Enc(noise)); copies plus a few percent of noise are told apart from
honest owners only on models of 100 parameters or more (digits, below).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from phe import paillier
from sklearn.datasets import load_breast_cancer

from practitioner.decode import (
    FetchedSubmission,
    ValidationScorer,
    decode_submissions,
    reference_update,
)
from practitioner.post import complete_spec, read_spec_file
from practitioner.valuation import DecodedSubmission, value_round
from trainer.data import load_data
from trainer.encoding import EncodingParams, pack
from trainer.key_proof import prove_modulus
from trainer.models import model_from_spec
from trainer.privacy import add_gaussian_noise
from trainer.shapley import copy_groups
from trainer.testing import make_spec, test_keypair
from trainer.update import LocalUpdate, encrypt_to_blob, make_update
from trainer.update_blob import blob_hash, encode_blob, parse_blob

REWARD = 100 * 10**18
CLIP_NORM = 5.0
BOUNTY, ROUND = 7, 0


@dataclass
class World:
    spec: object
    private_key: object
    global_params: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    blobs: dict[str, bytes]
    parts: dict[str, tuple[np.ndarray, np.ndarray]]

    def evaluate(self, names: list[str], addresses: dict[str, str] | None = None):
        addresses = addresses or {name: _addr(name) for name in names}
        fetched = [
            FetchedSubmission(addresses[name], blob_hash(self.blobs[name]), self.blobs[name])
            for name in names
        ]
        # the fetched list is in on-chain order: a copy is credited to the earliest
        decoded = decode_submissions(self.spec, self.private_key, BOUNTY, ROUND, fetched)
        scorer = ValidationScorer(self.spec, self.x_val, self.y_val)
        reference = reference_update(self.spec, self.global_params, self.x_val, self.y_val)
        valuation = value_round(
            self.global_params, decoded, scorer, REWARD, clip_norm=CLIP_NORM, reference=reference
        )
        amounts = {line.address: line.amount for line in valuation.contributors}
        return valuation, {name: amounts.get(addresses[name], 0) for name in names}


def _decoded(self: World, name: str) -> np.ndarray:
    data = self.blobs[name]
    (decoded,) = decode_submissions(self.spec, self.private_key, BOUNTY, ROUND,
                                    [FetchedSubmission(_addr(name), blob_hash(data), data)])
    assert decoded.update is not None, decoded.error
    return decoded.update


World.decoded = _decoded  # type: ignore[attr-defined]


def _addr(name: str) -> str:
    return "0x" + name.encode().hex().rjust(40, "0")[-40:]


@pytest.fixture(scope="module")
def world() -> World:
    public_key, private_key = test_keypair(512)
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    mean, std = x[:150].mean(axis=0), x[:150].std(axis=0)
    xs = (x - mean) / std
    spec = make_spec(
        30, public_key=public_key,
        **{"standardize.mean": mean.tolist(), "standardize.std": std.tolist(),
           "privacy.clip_norm": CLIP_NORM, "encoding.clip": 2.0, "encoding.max_contributors": 20},
    )
    global_params = model_from_spec(spec).get_params()
    parts = {name: (xs[150 + i * 100: 250 + i * 100], y[150 + i * 100: 250 + i * 100])
             for i, name in enumerate(["alice", "bob", "carol", "dave"])}
    rng = np.random.default_rng(1)
    updates = {name: make_update(spec, global_params, *part) for name, part in parts.items()}
    # dave's labels are 40% flipped: same size as the others, worse data
    x_d, y_d = parts["dave"]
    flipped = y_d.copy()
    mask = rng.random(len(flipped)) < 0.4
    flipped[mask] = 1 - flipped[mask]
    updates["noisy_dave"] = make_update(spec, global_params, x_d, flipped)
    typical = float(np.linalg.norm(updates["alice"].delta))
    noise = rng.normal(size=global_params.size)
    updates["noise"] = LocalUpdate(noise * typical / np.linalg.norm(noise), n_samples=100)
    updates["free_rider"] = LocalUpdate(np.zeros(global_params.size), n_samples=100)
    blobs = {name: encrypt_to_blob(spec, BOUNTY, ROUND, update) for name, update in updates.items()}
    # the same data from a second address, encrypted afresh (different ciphertext bytes)
    blobs["alice_again"] = encrypt_to_blob(spec, BOUNTY, ROUND, updates["alice"])
    assert blobs["alice_again"] != blobs["alice"]
    blobs["garbage"] = b"QRYU" + b"\x00" * 200
    other_public, _ = paillier.generate_paillier_keypair(n_length=512)
    other_spec = make_spec(30, public_key=other_public, **{"standardize.mean": mean.tolist(),
                           "standardize.std": std.tolist(), "encoding.clip": 2.0,
                           "encoding.max_contributors": 20})
    blobs["wrong_key"] = encrypt_to_blob(other_spec, BOUNTY, ROUND, updates["bob"])
    return World(spec, private_key, global_params, xs[:150], y[:150], blobs, parts)


def _honest_parts(world: World) -> list[tuple[np.ndarray, np.ndarray]]:
    return [world.parts[name] for name in ["alice", "bob", "carol"]]


def test_free_rider_and_random_noise_get_nothing(world):
    valuation, amounts = world.evaluate(["alice", "bob", "carol", "free_rider", "noise"])
    assert amounts["free_rider"] == 0 and amounts["noise"] == 0
    assert all(amounts[name] > 0 for name in ["alice", "bob", "carol"])
    assert sum(amounts.values()) <= REWARD
    reasons = {line.address: line.reason for line in valuation.rejected}
    assert "free rider" in reasons[_addr("free_rider")]


def test_a_re_encrypted_copy_earns_nothing_and_costs_the_original_nothing(world):
    """The same plaintext encrypted afresh from a second address (another blob hash): credited
    once, to the earliest submission, and the original is paid exactly as without it."""
    _, honest = world.evaluate(["alice", "bob", "carol"])
    valuation, sybil = world.evaluate(["alice", "bob", "alice_again", "carol"])
    assert sybil["alice_again"] == 0
    assert sybil == {**honest, "alice_again": 0}
    assert valuation.players == 3
    line = next(c for c in valuation.contributors if c.address == _addr("alice_again"))
    assert line.copy_of == _addr("alice") and not line.in_model
    # submitted first on chain, the copy is the one credited (commit-then-upload, issue 15,
    # keeps a copier from seeing a blob before its commit)
    _, first = world.evaluate(["alice_again", "alice", "bob", "carol"])
    assert first["alice"] == 0 and first["alice_again"] == honest["alice"]


def _copied_blob(world: World, name: str, kind: str, k: int, seed: int) -> bytes:
    """A copy of `name`'s blob made from its ciphertexts and the public key only."""
    public_key = world.spec.public_key()
    blob = parse_blob(world.blobs[name], expected_public_key=public_key)
    encoding = EncodingParams.from_spec(world.spec)
    n_square = public_key.nsquare
    rng = np.random.default_rng(seed)
    if kind == "rerandomised":  # c * r^n: same plaintext, new bytes
        shifts = [0] * len(blob.ciphertexts)
        powers = [1] * len(blob.ciphertexts)
    elif kind == "scaled":  # c^k * Enc(-(k-1) * offset): k times the update
        offsets = pack(np.full(blob.n_params, encoding.max_q // 2), encoding)
        shifts = [-(k - 1) * o for o in offsets]
        powers = [k] * len(blob.ciphertexts)
    else:  # c * Enc(noise): plus noise of up to 3 fixed-point steps per parameter
        steps = rng.integers(-3, 4, size=blob.n_params)
        shifts = [int(sum(int(v) << (j * encoding.slot_bits) for j, v in enumerate(block)))
                  for block in np.array_split(steps, range(encoding.slots_per_plaintext, blob.n_params,
                                                           encoding.slots_per_plaintext))]
        powers = [1] * len(blob.ciphertexts)
    ciphertexts = [
        pow(c, p, n_square) * public_key.raw_encrypt(shift % public_key.n) % n_square
        for c, p, shift in zip(blob.ciphertexts, powers, shifts, strict=True)
    ]
    return encode_blob(bounty_id=blob.bounty_id, round=blob.round, n_params=blob.n_params,
                       encoding=encoding, public_key=public_key, n_samples=blob.n_samples,
                       ciphertexts=ciphertexts)


@pytest.mark.parametrize("copies", [1, 5])
@pytest.mark.parametrize("kind", ["rerandomised", "scaled", "noisy"])
def test_ciphertext_copies_earn_nothing_and_cost_the_original_nothing(world, kind, copies):
    _, alone = world.evaluate(["alice", "bob", "carol"])
    names = []
    for i in range(copies):
        name = f"{kind}_{copies}_{i}"
        world.blobs[name] = _copied_blob(world, "alice", kind, k=2 + i % 2, seed=i)
        assert world.blobs[name] != world.blobs["alice"]
        names.append(name)
    if kind == "scaled":
        assert np.allclose(world.decoded(names[0]), 2 * world.decoded("alice"), atol=1e-4)
    valuation, paid = world.evaluate(["alice", "bob", *names, "carol"])
    assert all(paid[name] == 0 for name in names)
    assert paid["alice"] == alone["alice"], (paid["alice"], alone["alice"])
    assert valuation.players == 3
    copied = {c.address: c.copy_of for c in valuation.contributors}
    assert all(copied[_addr(name)] == _addr("alice") for name in names)


def test_noisy_labels_earn_less_than_clean_labels_of_the_same_size(world):
    _, amounts = world.evaluate(["alice", "bob", "dave", "noisy_dave"])
    assert amounts["noisy_dave"] < amounts["dave"]
    _, clean_only = world.evaluate(["alice", "bob", "dave"])
    _, noisy_only = world.evaluate(["alice", "bob", "noisy_dave"])
    assert noisy_only["noisy_dave"] < clean_only["dave"]


def test_submission_order_changes_nobody_reward(world):
    names = ["alice", "bob", "carol", "noisy_dave", "free_rider"]
    results = {
        tuple(sorted(world.evaluate(list(order))[1].items()))
        for order in itertools.islice(itertools.permutations(names), 0, 120, 17)
    }
    assert len(results) == 1


def test_malformed_and_wrong_key_blobs_get_nothing_and_do_not_stop_the_round(world):
    valuation, amounts = world.evaluate(["alice", "garbage", "bob", "wrong_key", "carol"])
    assert amounts["garbage"] == 0 and amounts["wrong_key"] == 0
    assert all(amounts[name] > 0 for name in ["alice", "bob", "carol"])
    reasons = {line.address: line.reason for line in valuation.rejected}
    assert "different public key" in reasons[_addr("wrong_key")]
    assert _addr("garbage") in reasons
    assert valuation.accuracy_after > valuation.accuracy_before + 0.3
    assert valuation.metric_after < valuation.metric_before  # log-loss


def test_tampered_blob_is_rejected_by_its_hash(world):
    data = world.blobs["alice"]
    fetched = [FetchedSubmission(_addr("alice"), blob_hash(data), data[:-1] + bytes([data[-1] ^ 1]))]
    (decoded,) = decode_submissions(world.spec, world.private_key, BOUNTY, ROUND, fetched)
    assert decoded.update is None and "hash" in decoded.error


def test_random_noise_is_paid_rarely_at_any_stage_of_training(world):
    """Beyond one seed: 40 noise directions, from the initial model and after two rounds:
    paid seldom, and little when it is."""
    scorer = ValidationScorer(world.spec, world.x_val, world.y_val)
    names = ["alice", "bob", "carol"]
    fetched = [FetchedSubmission(_addr(n), blob_hash(world.blobs[n]), world.blobs[n]) for n in names]
    honest = [d.update for d in decode_submissions(world.spec, world.private_key, BOUNTY, ROUND, fetched)]
    global_params = world.global_params
    for stage in range(3):
        reference = reference_update(world.spec, global_params, world.x_val, world.y_val)
        typical = float(np.mean([np.linalg.norm(u) for u in honest]))
        paid_noise = 0
        shares = []
        for seed in range(40):
            noise = np.random.default_rng(1000 + seed).normal(size=global_params.size)
            updates = [*honest, noise * typical / np.linalg.norm(noise)]
            subs = [DecodedSubmission(_addr(f"p{i}"), "0x", u) for i, u in enumerate(updates)]
            valuation = value_round(
                global_params, subs, scorer, REWARD, clip_norm=CLIP_NORM, reference=reference
            )
            amounts = {line.address: line.amount for line in valuation.contributors}
            paid_noise += amounts.get(_addr("p3"), 0) > 0
            shares.append(amounts.get(_addr("p3"), 0) / REWARD)
            assert all(amounts.get(_addr(f"p{i}"), 0) > 0 for i in range(3)) or stage > 0
        # The alignment pay factor (z from 1 to 4) pays a lucky direction by its evidence:
        # measured 4-5 of 40 paid, at most 5.2 % of a round, 0.2 % on average (the hard
        # z >= 1.5 cut it replaced paid 2 of 40, but 7-13 % of the round each time).
        assert paid_noise <= 6, f"stage {stage}: noise paid {paid_noise}/40 times"
        assert max(shares) <= 0.06, f"stage {stage}: noise took {max(shares):.1%} of a round"
        assert np.mean(shares) <= 0.005, f"stage {stage}: noise took {np.mean(shares):.2%} on average"
        # next stage: honest owners train from the new global model (plaintext, for speed)
        global_params = valuation.next_params
        parts = _honest_parts(world)
        honest = [make_update(world.spec, global_params, x, y).delta for x, y in parts]


# --- privacy vs. fairness: owners who add DP noise (demo data, calibrated clip norm) -----------

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
NOISE_SEEDS = 40


@functools.cache
def _demo_bounty(name: str):
    """A demo bounty's spec as `post` completes it (clip norm measured on validation), its
    initial parameters, the three owners' parts, the metric and the reference update."""
    public_key, private_key = test_keypair(512)
    raw = read_spec_file(DEMO / f"{name}_spec.json")
    assert "clip_norm" not in raw["privacy"]
    spec, x_val, y_val, _ = complete_spec(
        raw, paillier_n=public_key.n,
            paillier_proof=prove_modulus(private_key.p, private_key.q), validation_files=[str(DEMO / f"{name}_validation.csv")],
        inbox_url="",
    )
    global_params = model_from_spec(spec).get_params()
    parts = [load_data([DEMO / f"{name}_owner_{o}.csv"], spec) for o in "abc"]
    return spec, global_params, parts, ValidationScorer(spec, x_val, y_val), reference_update(
        spec, global_params, x_val, y_val
    )


@pytest.fixture(scope="module")
def demo_round():
    return _demo_bounty("breast_cancer")


def test_post_calibrates_the_clip_norm_to_honest_update_norms(demo_round):
    spec, global_params, parts, _, _ = demo_round
    norms = [make_update(spec, global_params, x, y).raw_norm for x, y in parts]
    assert 0.7 * max(norms) <= spec.privacy.clip_norm <= 1.4 * min(norms)


@pytest.mark.parametrize("sigma, floor", [(0.5, 0.6), (1.0, 0.25), (2.0, 0.1)])
def test_honest_noisy_updates_are_paid_and_noise_alone_rarely(demo_round, sigma, floor):
    """An honest owner adding DP noise at multiplier sigma, next to two clean owners, over
    40 noise draws: paid at least `floor` of the time (the best any screen can do while it
    rejects ~93 % of pure noise is about 66 %, 29 %, 15 %: docs/PROTOCOL.md), and more on
    average than an owner who sends the same noise with no training (a noisy free rider)."""
    spec, global_params, parts, metric, reference = demo_round
    clip_norm = spec.privacy.clip_norm
    clean = [make_update(spec, global_params, x, y).delta for x, y in parts[:2]]
    honest_paid, rider_paid, honest_total, rider_total = 0, 0, 0, 0
    for seed in range(NOISE_SEEDS):
        noisy = make_update(spec, global_params, *parts[2], noise_multiplier=sigma,
                            rng=np.random.default_rng(seed)).delta
        rider = add_gaussian_noise(np.zeros_like(global_params), sigma, clip_norm,
                                   np.random.default_rng(50_000 + seed))
        for third, is_rider in ((noisy, False), (rider, True)):
            subs = [DecodedSubmission(_addr(n), "0x", u) for n, u in zip("ab", clean, strict=True)]
            subs.append(DecodedSubmission(_addr("c"), "0x", third))
            valuation = value_round(global_params, subs, metric, REWARD, clip_norm=clip_norm,
                                    reference=reference)
            amounts = {line.address: line.amount for line in valuation.contributors}
            assert amounts[_addr("a")] > 0 and amounts[_addr("b")] > 0
            amount = amounts.get(_addr("c"), 0)
            if is_rider:
                rider_paid += amount > 0
                rider_total += amount
            else:
                honest_paid += amount > 0
                honest_total += amount
    assert honest_paid >= floor * NOISE_SEEDS, f"sigma {sigma}: paid {honest_paid}/{NOISE_SEEDS}"
    assert rider_paid <= 0.12 * NOISE_SEEDS, f"sigma {sigma}: noise alone paid {rider_paid}/{NOISE_SEEDS}"
    assert honest_total > 1.5 * rider_total


@pytest.mark.parametrize("noise", [0.02, 0.05])
def test_copies_plus_noise_earn_nothing_on_a_model_of_650_parameters(noise):
    spec, global_params, parts, scorer, reference = _demo_bounty("digits")
    honest = [make_update(spec, global_params, x, y).delta for x, y in _halves(parts)[:4]]
    rng = np.random.default_rng(3)

    def amounts(updates):
        subs = [DecodedSubmission(_addr(f"o{i}"), "0x", u, order=i) for i, u in enumerate(updates)]
        valuation = value_round(global_params, subs, scorer, REWARD,
                                clip_norm=spec.privacy.clip_norm, reference=reference)
        return {line.address: line.amount for line in valuation.contributors}

    alone = amounts(honest)
    copies = [honest[0] + noise * np.linalg.norm(honest[0]) / np.sqrt(honest[0].size)
              * rng.normal(size=honest[0].size) for _ in range(5)]
    paid = amounts([*honest, *copies])
    assert all(paid[_addr(f"o{i}")] == 0 for i in range(4, 9))
    assert paid == {**alone, **{_addr(f"o{i}"): 0 for i in range(4, 9)}}


# --- Sybils who send the same data again; owners with disjoint data -------------------------


def _halves(parts):
    """Six owners with disjoint data: each demo part split in two."""
    return [half for x, y in parts for half in ((x[: len(y) // 2], y[: len(y) // 2]),
                                                (x[len(y) // 2:], y[len(y) // 2:]))]


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_the_same_data_trained_again_from_a_second_address_is_credited_once(name):
    """A sybil who runs the wallet again on the same rows gets the same update (the spec
    fixes the training seed): a copy, paid 0, and the original paid as without it.
    Retraining with another seed or row order is not caught (its update is as far from the
    original as a disjoint owner's can be: docs/PROTOCOL.md, benchmarks.fairness)."""
    spec, global_params, parts, scorer, reference = _demo_bounty(name)
    halves = _halves(parts)
    honest = [make_update(spec, global_params, x, y).delta for x, y in halves[:4]]
    again = make_update(spec, global_params, *halves[0]).delta

    def amounts(updates):
        subs = [DecodedSubmission(_addr(f"o{i}"), "0x", u, order=i) for i, u in enumerate(updates)]
        valuation = value_round(global_params, subs, scorer, REWARD,
                                clip_norm=spec.privacy.clip_norm, reference=reference)
        return valuation, {line.address: line.amount for line in valuation.contributors}

    _, alone = amounts(honest)
    valuation, sybil = amounts([*honest, again])
    assert sybil[_addr("o4")] == 0
    assert all(sybil[_addr(f"o{i}")] == alone[_addr(f"o{i}")] for i in range(4))
    assert valuation.players == 4


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_honest_owners_with_disjoint_data_are_never_merged(name):
    spec, global_params, parts, _, reference = _demo_bounty(name)
    updates = [make_update(spec, global_params, x, y).delta for x, y in _halves(parts)]
    for size in (2, 3, 4, 6):
        for chosen in itertools.combinations(range(6), size):
            groups = copy_groups([updates[i] for i in chosen], [(i, "") for i in range(size)], reference)
            assert groups == [[i] for i in range(size)], (name, chosen)
