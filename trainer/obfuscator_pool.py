"""Obfuscators drawn ahead of time, while the owner trains, so that encrypting at send time is
multiplications only (issue 12).

A Paillier ciphertext here is (1 + m*n) * r mod n^2 where r = hs^a is the obfuscator
(trainer.paillier, trainer.obfuscator). r does not depend on the plaintext, so the owner can
draw all of them as soon as the bounty's key and the model's parameter count are known
(the staged contribution's `prepare`), in a background thread, and encrypt the finished
update with one multiplication per ciphertext.

Never reused, by construction: the pool is a queue; `take` removes what it hands out under a
lock, so an obfuscator leaves the pool once and is never stored anywhere else by the pool.
When the pool runs short (a bigger update than announced, or encryption before the thread
has finished) the missing obfuscators are drawn on the spot, fresh. Nothing is written to
disk: a pool lives in memory for one contribution and the next round draws a new one.
"""

from __future__ import annotations

import collections
import os
import threading

import gmpy2
from phe import paillier

from trainer.obfuscator import EXPONENT_BYTES, FixedBaseObfuscator, obfuscator_for

BATCH = 32  # obfuscators drawn between checks of the stop flag (a few ms)


class ObfuscatorPool:
    """Fresh obfuscators for one Paillier key, each handed out at most once.

        pool = ObfuscatorPool(public_key, count).start()   # returns at once
        ...train...
        obfuscators = pool.take(count)                      # removed from the pool
    """

    def __init__(self, public_key: paillier.PaillierPublicKey, count: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self.n = int(public_key.n)
        self.nsquare = gmpy2.mpz(self.n) ** 2
        self.target = int(count)
        self._ready: collections.deque[gmpy2.mpz] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._produced = 0  # drawn by the background thread, ever
        self._handed_out = 0  # taken out of the pool or drawn fresh by take()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- background -------------------------------------------------------------------

    def start(self) -> ObfuscatorPool:
        """Draw `count` obfuscators in a daemon thread (building the key's table first)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._fill, name="quarry-obfuscators", daemon=True
            )
            self._thread.start()
        return self

    def _table(self) -> FixedBaseObfuscator:
        return obfuscator_for(self.n)

    def _fill(self) -> None:
        try:
            table = self._table()
            while not self._stop.is_set():
                with self._lock:
                    missing = self.target - self._produced
                if missing <= 0:
                    break
                batch = [table.draw(os.urandom(EXPONENT_BYTES)) for _ in range(min(BATCH, missing))]
                with self._lock:
                    if self._stop.is_set():
                        break
                    batch = batch[: max(0, self.target - self._produced)]  # take() may cut it
                    self._ready.extend(batch)
                    self._produced += len(batch)
        except BaseException as exc:  # noqa: BLE001 - reported by take(): it draws fresh instead
            self._error = exc
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the background thread has drawn everything (or was never started)."""
        if self._thread is None:
            return True
        return self._done.wait(timeout)

    @property
    def available(self) -> int:
        with self._lock:
            return len(self._ready)

    @property
    def handed_out(self) -> int:
        return self._handed_out

    # -- use ----------------------------------------------------------------------------

    def take(self, count: int) -> list[gmpy2.mpz]:
        """`count` obfuscators, each removed from the pool; any the pool lacks are drawn now."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            got = [self._ready.popleft() for _ in range(min(count, len(self._ready)))]
            self._handed_out += count
            if len(got) < count:
                # Short (the thread is not done, or more was asked than announced): the caller
                # draws the rest now, so the thread stops rather than fill up for nobody.
                self.target = self._produced
        if len(got) < count:
            table = self._table()
            got.extend(table.draw(os.urandom(EXPONENT_BYTES)) for _ in range(count - len(got)))
        return got

    def close(self) -> None:
        """Stop drawing and forget every obfuscator not handed out."""
        self._stop.set()
        with self._lock:
            self._ready.clear()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def matches(self, public_key: paillier.PaillierPublicKey) -> bool:
        return int(public_key.n) == self.n


def encrypt_with(pool: ObfuscatorPool, plaintexts: list[int]) -> list[int]:
    """Send-time encryption: (1 + m*n) * r mod n^2 with r taken from the pool.

    Plaintexts must already be checked to lie in [0, n) (trainer.paillier.encrypt_update does).
    """
    n = gmpy2.mpz(pool.n)
    nsq = pool.nsquare
    obfuscators = pool.take(len(plaintexts))
    # (1 + n)^m = 1 + m*n mod n^2 (g = n + 1, as in phe); m < n so 1 + m*n < n^2 already.
    return [int((1 + n * m) * r % nsq) for m, r in zip(plaintexts, obfuscators, strict=True)]
