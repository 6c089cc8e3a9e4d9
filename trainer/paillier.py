"""Fast Paillier encryption of packed plaintexts under a phe public key.

The ciphertexts are ordinary Paillier ciphertexts for phe's key objects (g = n + 1):
`private_key.raw_decrypt(c)` gives the plaintext back, and they multiply mod n^2 like phe's.

phe computes c = (1 + m*n) * r^n mod n^2 with a fresh random r < n: a 2048-bit exponent modulo a
4096-bit number, ~10-15 ms on these machines, for ONE float. Where the speed comes from here:

1. packing: 120 parameters per 2048-bit plaintext at the default encoding (trainer.encoding);
2. a cheaper obfuscator, as in Damgard-Jurik-Nielsen ("A generalization of Paillier's public-key
   system with applications to electronic voting", IJIS 2010): once per key pick a random
   x, h = -x^2 mod n and hs = h^n mod n^2; then each obfuscator is hs^a mod n^2 for a uniformly
   random SHORT exponent a of 2*lambda = 256 bits (lambda = 128-bit security). hs^a = (h^a)^n is an
   n-th residue, so decryption is unchanged. Semantic security rests on DCR plus the assumption
   that such short-exponent n-th residues are indistinguishable from random ones (the standard
   assumption of DJN's variant, also used by libraries that implement it);
3. a fixed-base comb table: table[i][d] = hs^(d * 256^i) for the 32 bytes of a, so an
   obfuscator is the product of 32 table entries (31 multiplications mod n^2) instead of a
   modular exponentiation; the table (8,192 entries, ~4 MB for a 2048-bit key) is built once per
   key per process and is the precomputation;
4. large jobs (>= PARALLEL_MIN_CIPHERTEXTS) are split over worker subprocesses, one per idle
   core (trainer._worker, plain pipes, no pickle); gmpy2 mpz everywhere, Python ints only at
   the edges. On a busy machine the in-process path is faster and is chosen automatically.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import gmpy2
from phe import paillier

from trainer import _worker
from trainer.errors import EncodingError, TrainingCancelled
from trainer.obfuscator import EXPONENT_BYTES, obfuscator_for
from trainer.obfuscator_pool import ObfuscatorPool, encrypt_with

log = logging.getLogger(__name__)

CHUNK = 64  # ciphertexts between progress/cancel checks
PARALLEL_MIN_CIPHERTEXTS = 2000  # below this, starting worker processes costs more than it saves

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


def prepare_key(public_key: paillier.PaillierPublicKey) -> None:
    """Build this key's obfuscator table now (~0.1-0.4 s for 2048 bits), e.g. while training,
    so the first encryption does not pay for it. Safe to call from any thread."""
    obfuscator_for(public_key.n)


def _check_plaintexts(public_key: paillier.PaillierPublicKey, plaintexts: Sequence[int]) -> None:
    n = public_key.n
    for i, m in enumerate(plaintexts):
        if not 0 <= int(m) < n:
            raise EncodingError(f"Plaintext block {i} is not in [0, n): it cannot be encrypted.")


# -- worker processes --------------------------------------------------------------------------


class WorkerFailure(RuntimeError):
    """A worker process died or answered garbage; callers fall back to in-process work."""


def default_workers() -> int:
    """One process per core that is not already busy (other programs count too)."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on every platform
        busy = 0.0
    # +1: the calling process itself is part of the load.
    return max(1, min(cores, int(cores - busy + 1)))


def _start_worker(config: dict[str, str]) -> subprocess.Popen:
    env = dict(os.environ)
    # The worker imports trainer from the same place this process did.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer._worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    proc.stdin.flush()
    return proc


def _run_parallel(
    config: dict[str, str],
    n: int,
    items: Sequence[int],
    workers: int,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
    what: str,
) -> list[int]:
    """Split items over `workers` subprocesses, chunk by chunk, results in order.

    Chunk i goes to worker i % workers; a worker gets its next chunk only after its previous
    result was read, so neither side ever blocks on a full pipe.
    """
    width = _worker.width_for(n)
    chunk = max(CHUNK, len(items) // (workers * 8) + 1)
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    procs: list[subprocess.Popen] = []
    results: list[int] = []
    finished = False
    try:
        try:
            procs = [_start_worker(config) for _ in range(min(workers, len(chunks)))]
            for i, proc in enumerate(procs):
                _worker.write_ints(proc.stdin, chunks[i], width, with_count=True)
            for i, part in enumerate(chunks):
                if should_stop is not None and should_stop():
                    raise TrainingCancelled(f"{what} cancelled by the user.")
                proc = procs[i % len(procs)]
                results.extend(_worker.read_ints(proc.stdout, len(part), width))
                nxt = i + len(procs)
                if nxt < len(chunks):
                    _worker.write_ints(proc.stdin, chunks[nxt], width, with_count=True)
                if progress is not None:
                    progress(len(results), len(items))
            for proc in procs:
                _worker.write_ints(proc.stdin, [], width, with_count=True)
            finished = True
        except (OSError, EOFError, ValueError) as exc:
            raise WorkerFailure(str(exc)) from exc
    finally:
        for proc in procs:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            if not finished:
                proc.kill()  # cancelled or failed: do not wait for work nobody will read
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return results


# -- public API ---------------------------------------------------------------------------------


def encrypt_update(
    public_key: paillier.PaillierPublicKey,
    encoded_vector: Sequence[int],
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    rng: random.Random | None = None,
    obfuscators: ObfuscatorPool | None = None,
) -> list[int]:
    """Encrypt packed plaintexts (each in [0, n)) into raw Paillier ciphertexts (ints < n^2).

    workers: processes to use (None = one per idle core); small jobs always run in-process.
    If worker processes cannot start or die, the work is done in-process instead.
    rng: a seeded random.Random makes the output deterministic (tests only; never in the app).
    progress(done, total) is called every few dozen ciphertexts; should_stop() cancels with
    TrainingCancelled.
    obfuscators: a pool precomputed for this key (trainer.obfuscator_pool): each ciphertext
    takes its own obfuscator out of it, so encrypting is one multiplication per ciphertext.
    """
    plaintexts = list(encoded_vector)
    _check_plaintexts(public_key, plaintexts)
    total = len(plaintexts)
    if obfuscators is not None and rng is None:
        if not obfuscators.matches(public_key):
            raise EncodingError("The precomputed obfuscators are for another key.")
        sent: list[int] = []
        # Multiplications only: no worker processes, they would cost more than the work.
        for start in range(0, total, CHUNK * 8):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("Encryption cancelled by the user.")
            sent.extend(encrypt_with(obfuscators, plaintexts[start : start + CHUNK * 8]))
            if progress is not None:
                progress(len(sent), total)
        return sent
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers > 1 and rng is None and total >= PARALLEL_MIN_CIPHERTEXTS:
        obf = obfuscator_for(public_key.n)
        config = {"op": "encrypt", "n": str(public_key.n), "hs": str(int(obf.hs))}
        try:
            return _run_parallel(
                config, public_key.n, plaintexts, workers, progress, should_stop, "Encryption"
            )
        except WorkerFailure as exc:
            log.warning("encryption workers failed (%s); encrypting in this process", exc)
    obf = obfuscator_for(public_key.n, rng)
    out: list[int] = []
    randbytes = rng.randbytes if rng is not None else os.urandom
    for start in range(0, total, CHUNK):
        if should_stop is not None and should_stop():
            raise TrainingCancelled("Encryption cancelled by the user.")
        for m in plaintexts[start : start + CHUNK]:
            out.append(int(obf.encrypt(m, randbytes(EXPONENT_BYTES))))
        if progress is not None:
            progress(len(out), total)
    return out


def decrypt_blocks(
    private_key: paillier.PaillierPrivateKey,
    ciphertexts: Sequence[int],
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> list[int]:
    """Decrypt raw ciphertexts with phe's CRT decryption; one plaintext in [0, n) each.

    workers: processes to use (None = one per idle core); small jobs run in-process.
    """
    cts = [int(c) for c in ciphertexts]
    total = len(cts)
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers > 1 and total >= PARALLEL_MIN_CIPHERTEXTS // 8:
        pk = private_key.public_key
        # The private key travels to the worker through its stdin pipe only.
        config = {
            "op": "decrypt",
            "n": str(pk.n),
            "p": str(private_key.p),
            "q": str(private_key.q),
        }
        try:
            return _run_parallel(config, pk.n, cts, workers, progress, should_stop, "Decryption")
        except WorkerFailure as exc:
            log.warning("decryption workers failed (%s); decrypting in this process", exc)
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
