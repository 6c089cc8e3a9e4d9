"""The practitioner's decrypt-and-value work on a Dask distributed cluster (`--cluster ADDRESS`).

Without a cluster a round runs in local processes (`practitioner.decode`). With one:

- **Valuation** (the default): the coalition game's model evaluations run on the workers.
  Once `value_round` knows the game's players it calls `Cluster.game_scorer`, which has the
  workers compute the validation losses of the coalitions the game will ask for: every
  coalition when it is exact (<= `shapley.EXACT_MAX_PLAYERS` players), the permutations of
  `scale.streaming_gtg` (the same seeded orders, walked with the same truncation) past
  `scale.STREAM_MIN_PLAYERS`. The game itself then runs here, unchanged, with a scorer that
  answers from those losses, keyed by a digest of the exact parameter bytes: a coalition whose
  parameters differ in one bit from what a worker computed is scored here instead, so the
  report is the local path's, whatever the cluster did. (GTG between the two sizes decides
  each step on the last one, so it stays local.) The workers receive this round's decrypted
  updates (players only), the round's model and the validation set; never the key.
- **Decryption** stays in this process (local worker processes, as without a cluster): it
  needs the Paillier secret key. `share_key_with_workers=True` (`--share-key-with-workers`)
  sends the key to the workers too, and the verified blobs in chunks, so decryption, ~93 %
  of a round at 1,000 contributors, runs there as well.

Trust model: docs/ARCHITECTURE.md ("Running a round on a cluster"). Workers import this
module, so they run the same Quarry (and numpy) as the practitioner.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from phe import paillier

from practitioner.decode import ValidationScorer, decrypt_one
from practitioner.scale import (
    GTG_MAX_EVALUATIONS,
    GTG_TRUNCATION,
    STREAM_MIN_PLAYERS,
    CoalitionSums,
    permutation_orders,
    walk_permutation,
)
from practitioner.valuation import Scorer, utility_clip
from trainer.shapley import EXACT_MAX_PLAYERS
from trainer.update_blob import UpdateBlob
from wallet.errors import InvalidInput, NetworkError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
# Work items per worker thread: enough to balance uneven tasks, few enough to keep the
# scheduler's overhead (a few ms per task) small.
TASKS_PER_THREAD = 4

DecryptOutcome = tuple[np.ndarray | None, str | None]  # (update, rejection reason)
LossTable = dict[bytes, np.ndarray]  # params_digest(params) -> per-example validation losses


class Cluster:
    """A connection to a Dask scheduler with at least one worker. Use `Cluster.connect`."""

    def __init__(self, client: Any, address: str, share_key_with_workers: bool) -> None:
        self.client = client
        self.address = address
        self.shares_key = share_key_with_workers
        self.last_scorer: PrefetchedScorer | None = None  # the last game's (hits and misses)

    @classmethod
    def connect(cls, address: str, *, share_key_with_workers: bool = False,
                timeout: float = CONNECT_TIMEOUT_S) -> Cluster:
        """Connect, and wait up to `timeout` for a worker. Errors are one line: the cluster
        extra missing, a malformed address, a scheduler that does not answer or has no worker."""
        try:
            from distributed import Client
        except ImportError as exc:
            raise InvalidInput(
                "--cluster needs Dask distributed: install the cluster extra "
                "(pip install 'quarry-wallet[cluster]')."
            ) from exc
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except ValueError as exc:  # distributed's parse of the address
            raise InvalidInput(f"--cluster {address!r} is not a Dask scheduler address "
                               f"(tcp://HOST:8786 or tls://HOST:8786): {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise NetworkError(
                f"Cannot reach the Dask scheduler at {address} ({exc}); check the address and "
                "that the scheduler runs. Nothing was evaluated."
            ) from exc
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            client.close()
            raise NetworkError(
                f"The Dask scheduler at {address} has no worker (waited {timeout:g} s). "
                "Nothing was evaluated."
            ) from exc
        cluster = cls(client, address, share_key_with_workers)
        log.info("cluster %s: %d worker thread(s)%s", address, cluster.threads(),
                 "; the Paillier key is shared with the workers" if share_key_with_workers else "")
        return cluster

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _failed(self, what: str, exc: Exception) -> NetworkError:
        return NetworkError(f"The Dask cluster at {self.address} failed while {what} "
                            f"({type(exc).__name__}: {exc}); nothing was written.")

    # -- decryption (only with the key shared) ----------------------------------------------

    def decrypt(self, private_key: paillier.PaillierPrivateKey,
                blobs: Sequence[UpdateBlob]) -> list[DecryptOutcome]:
        """Each blob's outcome, in order, decrypted on the workers (refused unless the
        operator shared the key)."""
        if not self.shares_key:
            raise InvalidInput("Decrypting on the cluster sends it the Paillier secret key: "
                               "give --share-key-with-workers to allow it.")
        if not blobs:
            return []
        size = max(1, math.ceil(len(blobs) / (self.threads() * TASKS_PER_THREAD)))
        chunks = [list(blobs[i:i + size]) for i in range(0, len(blobs), size)]
        futures: list[Any] = []
        try:
            [key] = self.client.scatter([_key_numbers(private_key)], broadcast=True, hash=False)
            futures = [key]
            for chunk in self.client.scatter(chunks, hash=False):
                futures.append(self.client.submit(_decrypt_chunk, key, chunk, pure=False))
            outcomes = [o for part in self.client.gather(futures[1:]) for o in part]
        except Exception as exc:
            raise self._failed("decrypting", exc) from exc
        finally:
            self._release(futures)
        log.info("cluster %s: decrypted %d blob(s) in %d task(s)", self.address, len(blobs),
                 len(chunks))
        return outcomes

    # -- valuation --------------------------------------------------------------------------

    def game_scorer(self, scorer: ValidationScorer, *, seed: int
                    ) -> Callable[[np.ndarray, Sequence[np.ndarray]], Scorer]:
        """For `value_round(game_scorer=...)`: once the players are known, their coalitions'
        losses are computed on the workers (module doc); `seed` is the round's valuation seed."""

        def prepare(global_params: np.ndarray, players: Sequence[np.ndarray]) -> Scorer:
            table = self.coalition_losses(scorer, global_params, players, seed)
            # nothing computed ahead (a sequential game): no digest per evaluation either
            self.last_scorer = PrefetchedScorer(scorer, table) if table else None
            return self.last_scorer or scorer

        return prepare

    def coalition_losses(self, scorer: ValidationScorer, global_params: np.ndarray,
                         players: Sequence[np.ndarray], seed: int) -> LossTable:
        """The validation losses of the coalitions `value_round` will score, computed on the
        workers as it computes their parameters (empty when its method is sequential)."""
        n = len(players)
        if n == 0 or EXACT_MAX_PLAYERS < n <= STREAM_MIN_PLAYERS:
            return {}
        futures: list[Any] = []
        try:
            if n <= EXACT_MAX_PLAYERS:
                [game] = self.client.scatter(
                    [(scorer, np.asarray(global_params), np.stack(players))], broadcast=True, hash=False)
                futures = [game]
                table = self._exact_losses(game, n, futures)
            else:
                table = self._streaming_losses(scorer, global_params, players, seed, futures)
        except Exception as exc:
            raise self._failed("valuing the round", exc) from exc
        finally:
            self._release(futures)
        log.info("cluster %s: %d coalition loss vector(s) for %d player(s)", self.address,
                 len(table), n)
        return table

    def _exact_losses(self, game: Any, n: int, futures: list[Any]) -> LossTable:
        masks = 1 << n  # every coalition, the empty one (the round's model) included
        size = max(1, math.ceil(masks / (self.threads() * TASKS_PER_THREAD)))
        for start in range(0, masks, size):
            futures.append(self.client.submit(_exact_chunk, game, start, min(masks, start + size),
                                               pure=False))
        table: LossTable = {}
        for part in self.client.gather(futures[1:]):
            table.update(part)
        return table

    def _streaming_losses(self, scorer: ValidationScorer, global_params: np.ndarray,
                          players: Sequence[np.ndarray], seed: int, futures: list[Any]) -> LossTable:
        # as value_round and streaming_gtg: v(empty), the utility clip, v(N)
        n = len(players)
        table: LossTable = {}
        base = np.asarray(scorer.losses(global_params), dtype=np.float64)
        table[params_digest(global_params)] = base
        clip = utility_clip(float(base.mean()))
        grand_params = global_params + CoalitionSums(players)(frozenset(range(n))) / n
        grand = np.asarray(scorer.losses(grand_params), dtype=np.float64)
        table[params_digest(grand_params)] = grand
        u_grand = np.clip(base - grand, -clip, clip)
        span = abs(float(u_grand.mean()))  # v(empty) is 0
        if span <= 1e-12:
            return table
        [game] = self.client.scatter(
            [(scorer, np.asarray(global_params), np.stack(players), base, clip, u_grand,
              GTG_TRUNCATION * span)], broadcast=True, hash=False)
        futures.append(game)
        orders = permutation_orders(n, seed)
        pending: deque[Any] = deque()

        def submit(count: int) -> None:
            for _ in range(count):
                future = self.client.submit(_walk, game, next(orders), pure=False)
                futures.append(future)
                pending.append(future)

        # a permutation uses at most n - 1 evaluations: this many surely fit the budget; a
        # few more keep the workers busy while the last ones are accounted (extra walks are
        # cancelled, their losses unused)
        evaluations = 2
        spare = self.threads()
        submit(max(1, (GTG_MAX_EVALUATIONS - evaluations) // (n - 1)) + spare)
        while evaluations + (n - 1) <= GTG_MAX_EVALUATIONS:  # streaming_gtg's budget rule
            if len(pending) < spare:
                submit(spare)
            used, entries = pending.popleft().result()
            table.update(entries)
            evaluations += used
        return table

    def _release(self, futures: list[Any]) -> None:
        try:
            self.client.cancel(futures)
        except Exception:  # the scheduler is gone: nothing is left to release
            log.debug("cluster %s: releasing futures failed", self.address, exc_info=True)


class PrefetchedScorer:
    """A scorer that answers `losses` from a table computed on the cluster, keyed by the
    exact bytes of the parameters (anything else is scored here by `scorer`)."""

    def __init__(self, scorer: Scorer, table: LossTable) -> None:
        self.scorer = scorer
        self.table = table
        self.hits = 0
        self.misses = 0

    def losses(self, params: np.ndarray) -> np.ndarray:
        found = self.table.get(params_digest(params))
        if found is None:
            self.misses += 1
            return self.scorer.losses(params)
        self.hits += 1
        return found

    def accuracy(self, params: np.ndarray) -> float:
        return self.scorer.accuracy(params)


def params_digest(params: np.ndarray) -> bytes:
    """128-bit BLAKE2b of a parameter vector's float64 bytes (the loss table's key)."""
    data = np.ascontiguousarray(params, dtype=np.float64)
    return hashlib.blake2b(data.tobytes(), digest_size=16).digest()


# -- what runs on the workers -----------------------------------------------------------------


def _key_numbers(private_key: paillier.PaillierPrivateKey) -> tuple[int, int, int]:
    return private_key.public_key.n, private_key.p, private_key.q


def _decrypt_chunk(key: tuple[int, int, int], blobs: Sequence[UpdateBlob]) -> list[DecryptOutcome]:
    n, p, q = key
    private_key = paillier.PaillierPrivateKey(paillier.PaillierPublicKey(n), p, q)
    return [decrypt_one(private_key, blob, workers=1) for blob in blobs]


def _scored(scorer: Scorer, params: np.ndarray) -> tuple[bytes, np.ndarray]:
    return params_digest(params), np.asarray(scorer.losses(params), dtype=np.float64)


def _exact_chunk(game: tuple[Scorer, np.ndarray, np.ndarray], start: int, stop: int
                 ) -> list[tuple[bytes, np.ndarray]]:
    """Coalitions start .. stop - 1 as bit masks, their parameters as value_round's exact
    path computes them."""
    scorer, global_params, matrix = game
    players = list(matrix)
    n = len(players)
    out = []
    for mask in range(start, stop):
        members = [i for i in range(n) if mask >> i & 1]
        if not members:
            out.append(_scored(scorer, global_params))
            continue
        out.append(_scored(scorer, global_params + np.sum([players[i] for i in members], axis=0) / n))
    return out


def _walk(game: tuple[Any, ...], order: list[int]) -> tuple[int, list[tuple[bytes, np.ndarray]]]:
    """One permutation of streaming_gtg, its prefixes' parameters built as value_round's
    CoalitionSums builds them (each from the one before)."""
    scorer, global_params, matrix, base, clip, u_grand, tolerance = game
    players = list(matrix)
    n = len(players)
    sums = CoalitionSums(players)
    entries: list[tuple[bytes, np.ndarray]] = []

    def utility(coalition: frozenset[int]) -> np.ndarray:
        digest, losses = _scored(scorer, global_params + sums(coalition) / n)
        entries.append((digest, losses))
        return np.clip(base - losses, -clip, clip)

    _, used = walk_permutation(order, utility, np.zeros_like(base), u_grand, tolerance)
    return used, entries
