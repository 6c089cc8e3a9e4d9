"""The fixed-base comb table that makes Paillier obfuscators cheap (see trainer.paillier).

Both the encrypting process (trainer.paillier) and its worker subprocesses (trainer._worker)
build one per key, so it lives below both.
"""

from __future__ import annotations

import os
import random
import threading

import gmpy2

SHORT_EXPONENT_BITS = 256  # 2 * lambda for 128-bit security
WINDOW_BITS = 8
WINDOWS = SHORT_EXPONENT_BITS // WINDOW_BITS
EXPONENT_BYTES = WINDOWS  # one table row per byte of the exponent


class FixedBaseObfuscator:
    """Draws hs^a mod n^2 for random 256-bit a with a fixed-base comb table."""

    def __init__(self, n: int, hs: int) -> None:
        self.n = gmpy2.mpz(n)
        self.nsquare = self.n * self.n
        self.hs = gmpy2.mpz(hs)
        nsq = self.nsquare
        table: list[list[gmpy2.mpz]] = []
        base = self.hs
        for _ in range(WINDOWS):
            row = [gmpy2.mpz(1), base]
            for _d in range(2, 1 << WINDOW_BITS):
                row.append(row[-1] * base % nsq)
            table.append(row)
            base = row[-1] * base % nsq  # base^(2^WINDOW_BITS)
        self.table = table

    def draw(self, exponent_bytes: bytes) -> gmpy2.mpz:
        """hs^a for a = int.from_bytes(exponent_bytes, 'little') (32 bytes)."""
        nsq = self.nsquare
        table = self.table
        acc = table[0][exponent_bytes[0]]
        for i in range(1, WINDOWS):
            acc = acc * table[i][exponent_bytes[i]] % nsq
        return acc

    def encrypt(self, plaintext: int, exponent_bytes: bytes) -> gmpy2.mpz:
        # (1 + n)^m = 1 + m*n mod n^2, the g = n + 1 shortcut phe uses too.
        nude = (1 + self.n * plaintext) % self.nsquare
        return nude * self.draw(exponent_bytes) % self.nsquare


# One table per key and process (building one costs ~0.1-0.4 s at 2048 bits), shared by
# trainer.paillier and trainer.obfuscator_pool.
_CACHE_LOCK = threading.Lock()
_CACHE: dict[int, FixedBaseObfuscator] = {}


def _random_hs(n: int, rng: random.Random | None) -> int:
    n_mpz = gmpy2.mpz(n)
    while True:
        x = (
            rng.getrandbits(n.bit_length())
            if rng is not None
            else int.from_bytes(os.urandom((n.bit_length() + 7) // 8), "big")
        ) % n
        if x > 1 and gmpy2.gcd(x, n_mpz) == 1:
            break
    h = (-(gmpy2.mpz(x) ** 2)) % n_mpz
    return int(gmpy2.powmod(h, n_mpz, n_mpz * n_mpz))


def obfuscator_for(n: int, rng: random.Random | None = None) -> FixedBaseObfuscator:
    """The table for key n; cached per process unless a seeded rng asks for a fresh one."""
    if rng is not None:
        return FixedBaseObfuscator(n, _random_hs(n, rng))
    with _CACHE_LOCK:
        obf = _CACHE.get(n)
        if obf is None:
            if len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            obf = FixedBaseObfuscator(n, _random_hs(n, None))
            _CACHE[n] = obf
        return obf


def forget_tables() -> None:
    """Drop every cached table (benchmarks time building one as part of the work)."""
    with _CACHE_LOCK:
        _CACHE.clear()
