"""A public proof that a Paillier modulus n is well formed: gcd(n, phi(n)) = 1.

Why: an opening (trainer.openings) and a copy proof (trainer.copy_proof) show what a
ciphertext holds by giving its plaintext m and nonce r with c = (1 + n)^m r^n mod n^2. That
binds - one ciphertext, one (m, r) - only when (m, r) -> (1 + n)^m r^n is a bijection of
Z_n x Z_n^* onto Z_{n^2}^*, which holds exactly when gcd(n, phi(n)) = 1 (Paillier 1999). A
practitioner who posted a key without it (n = p^2 q, say) could open an owner's ciphertext as
another update, or "prove" an honest owner a copy. Nobody can check gcd(n, phi(n)) without
n's factors, so the practitioner proves it when it posts and every wallet checks the proof.

The proof is the "Paillier-N" protocol of Goldberg, Reyzin, Sagga and Baldimtsi, "Efficient
noninteractive certification of RSA moduli and beyond" (ASIACRYPT 2019, section 3.2), made
non-interactive by Fiat-Shamir:

- the verifier checks that n is odd, > 1 and has no prime factor below ALPHA;
- challenge i (i = 0 .. ROUNDS - 1) is rho_i = SHAKE256("quarry-paillier-n" || len(n) || n
  || i) read as a big-endian integer of bits(n) + 128 bits, mod n (statistically uniform);
- the prover gives sigma_i = rho_i^(n^-1 mod phi(n)) mod n, which exists when gcd(n, phi(n)) = 1;
- the verifier checks 0 < sigma_i < n and sigma_i^n = rho_i mod n for every i (and that every
  rho_i is a unit: one that is not reveals a factor of n, and is refused).

Soundness: if a prime p divides both n and phi(n), x -> x^n mod n is at least p-to-1 on
Z_n^*, so at most 1/p of the challenges have an n-th root; p >= ALPHA because n has no smaller
factor, so a cheating prover passes ROUNDS random challenges with probability at most
ALPHA^-ROUNDS = 2^-(16 x 8) = 2^-128 (GRS+19's m = ceil(kappa / log2 alpha), kappa = 128).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import gmpy2

ALPHA = 65537  # every prime factor of n is at least this (checked by trial division)
ROUNDS = 8  # ceil(128 / log2(ALPHA)): 2^-128 soundness error
_DOMAIN = b"quarry-paillier-n"


class KeyProofError(ValueError):
    """The modulus is not proven well formed (the message says why)."""


@functools.cache
def _small_primes_product() -> gmpy2.mpz:
    return gmpy2.primorial(ALPHA - 1)  # the product of every prime below ALPHA


def challenge(n: int, index: int) -> int:
    """rho_index for the modulus n (see the module's docstring)."""
    size = (n.bit_length() + 7) // 8
    message = _DOMAIN + size.to_bytes(4, "big") + n.to_bytes(size, "big") + index.to_bytes(4, "big")
    wide = hashlib.shake_256(message).digest(size + 16)
    return int.from_bytes(wide, "big") % n


def prove_modulus(p: int, q: int) -> tuple[int, ...]:
    """The ROUNDS n-th roots that prove n = p q well formed, from n's prime factors p and q;
    KeyProofError when it is not (p = q, or gcd(n, phi(n)) != 1: no such roots exist)."""
    if not (gmpy2.is_prime(p, 50) and gmpy2.is_prime(q, 50)):
        raise KeyProofError("p and q must be primes.")
    n = gmpy2.mpz(p) * gmpy2.mpz(q)
    phi = (gmpy2.mpz(p) - 1) * (gmpy2.mpz(q) - 1)
    if p == q or gmpy2.gcd(n, phi) != 1:
        raise KeyProofError("gcd(n, phi(n)) is not 1: this is not a well-formed Paillier modulus.")
    exponent = gmpy2.invert(n, phi)
    return tuple(int(gmpy2.powmod(challenge(int(n), i), exponent, n)) for i in range(ROUNDS))


def modulus_proof_problem(n: int, proof: Sequence[int]) -> str | None:
    """None when `proof` proves gcd(n, phi(n)) = 1, else why it does not."""
    return _problem(int(n), tuple(int(s) for s in proof))


@functools.lru_cache(maxsize=256)  # a bounty's spec is parsed many times; checking costs ~10 ms
def _problem(n: int, proof: tuple[int, ...]) -> str | None:
    if n < 3 or n % 2 == 0:
        return "the modulus is not an odd number above 2"
    if gmpy2.gcd(n, _small_primes_product()) != 1:
        return f"the modulus has a prime factor below {ALPHA}"
    if len(proof) != ROUNDS:
        return f"the proof has {len(proof)} roots, not {ROUNDS}"
    for index, root in enumerate(proof):
        if not 0 < root < n:
            return f"root {index} is not between 0 and the modulus"
        rho = challenge(n, index)
        if gmpy2.gcd(rho, n) != 1:
            return f"challenge {index} shares a factor with the modulus"
        if gmpy2.powmod(root, n, n) != rho:
            return f"root {index} is not an n-th root of its challenge"
    return None


def check_modulus_proof(n: int, proof: Sequence[int]) -> None:
    """Raises KeyProofError unless `proof` proves the modulus well formed."""
    problem = modulus_proof_problem(n, proof)
    if problem is not None:
        raise KeyProofError(f"The Paillier key is not proven well formed: {problem}.")
