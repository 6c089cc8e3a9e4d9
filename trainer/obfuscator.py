"""The fixed-base comb table that makes Paillier obfuscators cheap (see trainer.paillier).

Both the encrypting process (trainer.paillier) and its worker subprocesses (trainer._worker)
build one per key, so it lives below both.
"""

from __future__ import annotations

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
