"""Fast Paillier encryption of packed plaintexts under a phe public key.

The ciphertexts are ordinary Paillier ciphertexts for phe's key objects (g = n + 1):
`private_key.raw_decrypt(c)` gives the plaintext back, and they multiply mod n^2 like phe's.

phe computes c = (1 + m*n) * r^n mod n^2 with a fresh random r < n: a 2048-bit exponent modulo a
4096-bit number, ~10-15 ms on these machines, for ONE float. Where the speed comes from here:

1. packing: ~85 parameters per plaintext (trainer.encoding);
2. a cheaper obfuscator, as in Damgard-Jurik-Nielsen ("A generalization of Paillier's public-key
   system with applications to electronic voting", 2010, section 4.2): once per key pick a random
   x, h = -x^2 mod n and hs = h^n mod n^2; then each obfuscator is hs^a mod n^2 for a uniformly
   random SHORT exponent a of 2*lambda = 256 bits (lambda = 128-bit security). hs^a = (h^a)^n is an
   n-th residue, so decryption is unchanged. Semantic security rests on DCR plus the assumption
   that such short-exponent n-th residues are indistinguishable from random ones (the standard
   assumption of DJN's variant, also used by libraries that implement it);
3. a fixed-base comb table: table[i][d] = hs^(d * 256^i) for the 32 bytes of a, so an
   obfuscator is the product of 32 table entries (31 multiplications mod n^2) instead of a
   modular exponentiation; the table (8,192 entries, ~4 MB for a 2048-bit key) is built once per
   key per process and is the precomputation;
4. large jobs are split over worker processes (one per core); gmpy2 mpz everywhere, Python
   ints only at the edges.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import gmpy2
from phe import paillier

from trainer.errors import EncodingError, TrainingCancelled

SHORT_EXPONENT_BITS = 256
WINDOW_BITS = 8
_WINDOWS = SHORT_EXPONENT_BITS // WINDOW_BITS
CHUNK = 64  # ciphertexts between progress/cancel checks
PARALLEL_MIN_CIPHERTEXTS = 2000  # below this, starting worker processes costs more than it saves

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


class _FixedBaseObfuscator:
    """Draws hs^a mod n^2 for random 256-bit a with a fixed-base comb table."""

    def __init__(self, n: int, hs: int) -> None:
        self.n = gmpy2.mpz(n)
        self.nsquare = self.n * self.n
        self.hs = gmpy2.mpz(hs)
        nsq = self.nsquare
        table: list[list[gmpy2.mpz]] = []
        base = self.hs
        for _ in range(_WINDOWS):
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
        for i in range(1, _WINDOWS):
            acc = acc * table[i][exponent_bytes[i]] % nsq
        return acc

    def encrypt(self, plaintext: int, exponent_bytes: bytes) -> gmpy2.mpz:
        # (1 + n)^m = 1 + m*n mod n^2, the g = n + 1 shortcut phe uses too.
        nude = (1 + self.n * plaintext) % self.nsquare
        return nude * self.draw(exponent_bytes) % self.nsquare


_CACHE_LOCK = threading.Lock()
_CACHE: dict[int, _FixedBaseObfuscator] = {}


def _random_hs(n: int, rng: random.Random | None) -> int:
    n_mpz = gmpy2.mpz(n)
    while True:
        x = (
            rng.getrandbits(n.bit_length())
            if rng
            else int.from_bytes(os.urandom((n.bit_length() + 7) // 8), "big")
        ) % n
        if x > 1 and gmpy2.gcd(x, n_mpz) == 1:
            break
    h = (-(gmpy2.mpz(x) ** 2)) % n_mpz
    return int(gmpy2.powmod(h, n_mpz, n_mpz * n_mpz))


def _obfuscator_for(n: int, rng: random.Random | None = None) -> _FixedBaseObfuscator:
    """The table for key n; cached per process unless a seeded rng asks for a fresh one."""
    if rng is not None:
        return _FixedBaseObfuscator(n, _random_hs(n, rng))
    with _CACHE_LOCK:
        obf = _CACHE.get(n)
        if obf is None:
            if len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            obf = _FixedBaseObfuscator(n, _random_hs(n, None))
            _CACHE[n] = obf
        return obf


def _check_plaintexts(public_key: paillier.PaillierPublicKey, plaintexts: Sequence[int]) -> None:
    n = public_key.n
    for i, m in enumerate(plaintexts):
        if not 0 <= int(m) < n:
            raise EncodingError(f"Plaintext block {i} is not in [0, n): it cannot be encrypted.")


# -- worker processes --------------------------------------------------------------------------

_WORKER: _FixedBaseObfuscator | None = None
_WORKER_KEY: paillier.PaillierPrivateKey | None = None


def _init_encrypt_worker(n: int, hs: int) -> None:
    global _WORKER
    _WORKER = _FixedBaseObfuscator(n, hs)


def _encrypt_chunk(plaintexts: list[int]) -> list[int]:
    assert _WORKER is not None
    return [int(_WORKER.encrypt(m, os.urandom(_WINDOWS))) for m in plaintexts]


def _init_decrypt_worker(n: int, p: int, q: int) -> None:
    global _WORKER_KEY
    _WORKER_KEY = paillier.PaillierPrivateKey(paillier.PaillierPublicKey(n), p, q)


def _decrypt_chunk(ciphertexts: list[int]) -> list[int]:
    assert _WORKER_KEY is not None
    return [_WORKER_KEY.raw_decrypt(c) for c in ciphertexts]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _run_parallel(
    fn: Callable[[list[int]], list[int]],
    initializer: Callable[..., None],
    initargs: tuple,
    items: Sequence[int],
    workers: int,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
) -> list[int]:
    # spawn, not fork: the caller may be a multi-threaded Qt process, where fork is unsafe.
    chunk = max(CHUNK, len(items) // (workers * 8) + 1)
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    results: list[list[int]] = []
    done = 0
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    ) as pool:
        futures = [pool.submit(fn, c) for c in chunks]
        try:
            for fut in futures:
                if should_stop is not None and should_stop():
                    raise TrainingCancelled("Encryption cancelled by the user.")
                part = fut.result()
                results.append(part)
                done += len(part)
                if progress is not None:
                    progress(done, len(items))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return [c for part in results for c in part]


# -- public API ---------------------------------------------------------------------------------


def encrypt_update(
    public_key: paillier.PaillierPublicKey,
    encoded_vector: Sequence[int],
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    rng: random.Random | None = None,
) -> list[int]:
    """Encrypt packed plaintexts (each in [0, n)) into raw Paillier ciphertexts (ints < n^2).

    workers: processes to use (None = one per core); small jobs always run in-process.
    rng: a seeded random.Random makes the output deterministic (tests only; never in the app).
    progress(done, total) is called every few dozen ciphertexts; should_stop() cancels with
    TrainingCancelled.
    """
    plaintexts = list(encoded_vector)
    _check_plaintexts(public_key, plaintexts)
    total = len(plaintexts)
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers > 1 and rng is None and total >= PARALLEL_MIN_CIPHERTEXTS:
        obf = _obfuscator_for(public_key.n)
        return _run_parallel(
            _encrypt_chunk,
            _init_encrypt_worker,
            (int(obf.n), int(obf.hs)),
            plaintexts,
            workers,
            progress,
            should_stop,
        )
    obf = _obfuscator_for(public_key.n, rng)
    out: list[int] = []
    randbytes = rng.randbytes if rng is not None else os.urandom
    for start in range(0, total, CHUNK):
        if should_stop is not None and should_stop():
            raise TrainingCancelled("Encryption cancelled by the user.")
        for m in plaintexts[start : start + CHUNK]:
            out.append(int(obf.encrypt(m, randbytes(_WINDOWS))))
        if progress is not None:
            progress(len(out), total)
    return out


def decrypt_blocks(
    private_key: paillier.PaillierPrivateKey,
    ciphertexts: Sequence[int],
    workers: int | None = 1,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> list[int]:
    """Decrypt raw ciphertexts with phe's CRT decryption; one plaintext in [0, n) each."""
    cts = [int(c) for c in ciphertexts]
    total = len(cts)
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers > 1 and total >= PARALLEL_MIN_CIPHERTEXTS // 4:
        pk = private_key.public_key
        return _run_parallel(
            _decrypt_chunk,
            _init_decrypt_worker,
            (pk.n, private_key.p, private_key.q),
            cts,
            workers,
            progress,
            should_stop,
        )
    out: list[int] = []
    for start in range(0, total, CHUNK):
        if should_stop is not None and should_stop():
            raise TrainingCancelled("Decryption cancelled by the user.")
        out.extend(private_key.raw_decrypt(c) for c in cts[start : start + CHUNK])
        if progress is not None:
            progress(len(out), total)
    return out


def add_ciphertexts(
    public_key: paillier.PaillierPublicKey, blocks: Sequence[Sequence[int]]
) -> list[int]:
    """Homomorphic sum of several encrypted vectors, block by block (product mod n^2)."""
    if not blocks:
        raise EncodingError("Nothing to add.")
    length = len(blocks[0])
    if any(len(b) != length for b in blocks):
        raise EncodingError("Encrypted updates of different lengths cannot be added.")
    nsq = gmpy2.mpz(public_key.nsquare)
    acc = [gmpy2.mpz(c) for c in blocks[0]]
    for other in blocks[1:]:
        acc = [a * b % nsq for a, b in zip(acc, other, strict=True)]
    return [int(a) for a in acc]
