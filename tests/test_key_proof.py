"""The proof that a bounty's Paillier modulus is well formed (trainer.key_proof; GRS+19's
"Paillier-N"): honest keys prove it, a malformed modulus cannot, a spec of valuation_rules 3
needs it, the practitioner's key file carries it and `post` puts it in every spec."""

from __future__ import annotations

import json

import gmpy2
import pytest

from trainer.errors import SpecError
from trainer.key_proof import (
    ALPHA,
    ROUNDS,
    KeyProofError,
    challenge,
    check_modulus_proof,
    modulus_proof_problem,
    prove_modulus,
)
from trainer.spec import KEY_PROOF_RULES, VALUATION_RULES, BountySpec
from trainer.testing import make_spec_dict, test_keypair


def _prime_above(bits: int, seed: int) -> int:
    state = gmpy2.random_state(seed)
    return int(gmpy2.next_prime(gmpy2.mpz_urandomb(state, bits) | (1 << (bits - 1))))


@pytest.mark.parametrize("bits", [512, 1024])
def test_an_honest_key_proves_its_modulus(bits):
    public_key, private_key = test_keypair(bits)
    proof = prove_modulus(private_key.p, private_key.q)
    assert len(proof) == ROUNDS and all(0 < root < public_key.n for root in proof)
    assert modulus_proof_problem(public_key.n, proof) is None
    check_modulus_proof(public_key.n, proof)
    # each root is an n-th root of its challenge, and the challenges are distinct
    assert all(pow(root, public_key.n, public_key.n) == challenge(public_key.n, i) for i, root in enumerate(proof))
    assert len({challenge(public_key.n, i) for i in range(ROUNDS)}) == ROUNDS


def test_a_proof_proves_only_its_own_key_and_every_root_counts():
    from phe import paillier

    public_key, private_key = test_keypair(512)
    other_public, other_private = paillier.generate_paillier_keypair(n_length=512)
    proof = prove_modulus(private_key.p, private_key.q)
    other_proof = prove_modulus(other_private.p, other_private.q)
    # another key's proof: its first root is out of range or not an n-th root of this key's challenge
    assert modulus_proof_problem(public_key.n, other_proof) in (
        "root 0 is not between 0 and the modulus", "root 0 is not an n-th root of its challenge")
    assert modulus_proof_problem(other_public.n, proof) in (
        "root 0 is not between 0 and the modulus", "root 0 is not an n-th root of its challenge")
    for index in range(ROUNDS):
        tampered = list(proof)
        tampered[index] = (tampered[index] + 1) % public_key.n
        assert modulus_proof_problem(public_key.n, tampered) == f"root {index} is not an n-th root of its challenge"
    assert modulus_proof_problem(public_key.n, proof[:-1]) == f"the proof has {ROUNDS - 1} roots, not {ROUNDS}"
    assert modulus_proof_problem(public_key.n, [*proof[:-1], public_key.n]) == \
        f"root {ROUNDS - 1} is not between 0 and the modulus"
    with pytest.raises(KeyProofError, match="not proven well formed: root 0"):
        check_modulus_proof(public_key.n, [proof[1], *proof[1:]])


def test_a_modulus_with_a_small_factor_is_refused_even_with_valid_roots():
    """n = 3 p q with gcd(n, phi(n)) = 1 has n-th roots, but the soundness bound needs every
    prime factor of n to be at least ALPHA: trial division refuses it."""
    p, q = _prime_above(256, 1), _prime_above(256, 2)
    while (p - 1) % 3 == 0:
        p = int(gmpy2.next_prime(p))
    while (q - 1) % 3 == 0:
        q = int(gmpy2.next_prime(q))
    n, phi = 3 * p * q, 2 * (p - 1) * (q - 1)
    assert gmpy2.gcd(n, phi) == 1
    exponent = gmpy2.invert(n, phi)
    roots = [int(gmpy2.powmod(challenge(n, i), exponent, n)) for i in range(ROUNDS)]
    assert all(pow(root, n, n) == challenge(n, i) for i, root in enumerate(roots))  # the roots hold
    assert modulus_proof_problem(n, roots) == f"the modulus has a prime factor below {ALPHA}"


def test_a_modulus_that_is_not_square_free_has_no_proof():
    """n = p^2 q with p = 65537 (no factor below ALPHA): x -> x^n is p-to-1 on Z_n^*, so at most
    1/p of the challenges have an n-th root. None of the ROUNDS challenges has one here (a
    prover knowing the factors cannot answer), the prover refuses, and no exponent a cheater
    could pick gives roots that check."""
    p, q = 65537, _prime_above(512, 3)
    n = p * p * q
    assert gmpy2.gcd(n, p * (p - 1) * (q - 1)) == p  # malformed: p divides n and phi(n)
    # Z_{p^2}^* is cyclic of order p(p-1): x is an n-th power there iff x^(p(p-1)/gcd(n, p(p-1))) = 1
    order = p * (p - 1)
    residue_test = order // gmpy2.gcd(n, order)
    challenges = [challenge(n, i) for i in range(ROUNDS)]
    assert not any(pow(rho, residue_test, p * p) == 1 for rho in challenges)
    with pytest.raises(KeyProofError, match="must be primes"):
        prove_modulus(p * p, q)
    with pytest.raises(KeyProofError, match="not a well-formed Paillier modulus"):
        prove_modulus(q, q)  # n = q^2
    # the roots a prover can take on the parts where n is invertible do not check
    for exponent in (gmpy2.invert(n, (p - 1) * (q - 1)), gmpy2.invert(n // p, (p - 1) * (q - 1))):
        roots = [int(gmpy2.powmod(rho, exponent, n)) for rho in challenges]
        assert modulus_proof_problem(n, roots) == "root 0 is not an n-th root of its challenge"


def test_a_spec_of_the_current_rules_needs_a_proof_that_checks():
    public_key, private_key = test_keypair(512)
    proof = prove_modulus(private_key.p, private_key.q)
    assert VALUATION_RULES >= KEY_PROOF_RULES == 3
    raw = make_spec_dict(public_key=public_key, valuation_rules=3)
    with pytest.raises(SpecError, match="'paillier.proof' is missing: valuation_rules 3 needs"):
        BountySpec.from_json(raw)
    proven = {**raw, "paillier": {**raw["paillier"], "proof": [str(root) for root in proof]}}
    spec = BountySpec.from_json(proven)
    assert spec.paillier.proof == proof and spec.to_json()["paillier"]["proof"] == proven["paillier"]["proof"]
    assert BountySpec.from_json(spec.to_json()) == spec  # the proof survives the canonical form
    # an older spec (rules 2) parses without one, and its canonical form (its hash) is unchanged
    older = make_spec_dict(public_key=public_key, valuation_rules=2)
    assert BountySpec.from_json(older).to_json()["paillier"] == older["paillier"]
    # a proof that does not check, or is not 8 decimal strings, is refused whatever the rules
    bad_root = [str(proof[1]), *proven["paillier"]["proof"][1:]]
    for rules, roots, message in ((3, bad_root, "does not prove the key well formed: root 0"),
                                  (2, bad_root, "does not prove the key well formed: root 0"),
                                  (3, [str(r) for r in proof[:-1]], "must list 8 decimal strings"),
                                  (3, [*proven["paillier"]["proof"][:-1], -5], "must list 8 decimal strings"),
                                  (3, "0x12", "paillier.proof")):
        doctored = {**raw, "valuation_rules": rules, "paillier": {**raw["paillier"], "proof": roots}}
        with pytest.raises(SpecError, match=message):
            BountySpec.from_json(doctored)


def test_the_key_file_carries_the_proof_and_an_older_file_gains_it_when_unlocked(tmp_path):
    from practitioner.keys import (
        encode_private_key,
        load_key_proof,
        load_private_key,
        load_public_key,
        save_private_key,
    )
    from wallet.errors import InvalidInput, WrongPassword

    public_key, private_key = test_keypair(512)
    path = save_private_key(tmp_path / "paillier-key.json", private_key, "pw")
    proof = load_key_proof(path)  # no password needed: it is public
    assert modulus_proof_problem(public_key.n, proof) is None
    # a file written before key proofs: no proof until the key is unlocked once
    document = json.loads(encode_private_key(private_key, "pw"))
    del document["public"]["proof"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match="has no proof that its Paillier key is well formed"):
        load_key_proof(older)
    with pytest.raises(WrongPassword):
        load_private_key(older, "wrong")
    assert "proof" not in json.loads(older.read_text())["public"]  # a wrong password changes nothing
    assert load_private_key(older, "pw").p == private_key.p
    assert modulus_proof_problem(public_key.n, load_key_proof(older)) is None
    assert load_private_key(older, "pw").q == private_key.q and load_public_key(older).n == public_key.n
    assert (older.stat().st_mode & 0o777) == 0o600
    # a doctored proof in the file is refused, not passed on to a spec
    document = json.loads(path.read_text())
    document["public"]["proof"][0] = str(int(document["public"]["proof"][0]) + 1)
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match="not proven well formed: root 0"):
        load_key_proof(path)
