"""A practitioner's whole round at scale: python -m benchmarks.round --contributors 10,100,1000
--params 10000 [--json] [--key-bits 2048] [--workers 2] [--accuracy]
[--cluster ADDRESS|local [--share-key-with-workers]].

Synthetic but realistic updates on sklearn's digits (an MLP with one hidden layer sized so
the model has about --params parameters): 70 % honest owners, each training with
`trainer.update.make_update` on its own bootstrap sample of 120 rows of the training pool;
15 % free riders (zero updates); 15 % copies (an earlier honest owner's update re-encrypted:
a different blob, the same plaintext). Every blob is a real Paillier blob
(`trainer.update.encrypt_vector_to_blob`, the wallet's encryption; each encrypted
separately, no pool reuse: the fixed-base obfuscator makes that ~10 ms per blob).

Timed stages (the practitioner's work once the round has closed):
  parse     hash check and `parse_blob` of every blob (practitioner.decode)
  decrypt   decryption of every parsed blob (local worker processes beyond 16 blobs)
  dedupe    screening (zero, replay, alignment) and copy groups (practitioner.valuation)
  value     the coalition game (exact <= 12 players, GTG beyond, bounded past 128) and payouts
  report    building and serialising the report
  finalize  paying on chain: assignRewards batches of 100, the last with finalize, on an
            in-process py-evm chain (the EVM of the embedded devnet; eth-tester provider)
Setting up (training, encrypting, the owners' submitWithSignature transactions) is not timed.

growth_exponent: log(t2 / t1) / log(n2 / n1) of the total seconds between consecutive sizes.
--accuracy adds the valuation's rank correlations (Spearman) against exact Shapley (12
players) and against a long Monte Carlo run (100 players, 400 permutations, no truncation).
--cluster runs each round again on a Dask scheduler (`local`: a LocalCluster of --workers
processes, default one per core, on 127.0.0.1, started here), as `quarry-practitioner evaluate --cluster` does, and
adds per size `cluster`: its stages, whether its report is the local one's byte for byte,
and `speedup`, the local run's seconds before finalising over the cluster run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._common import emit, machine
from practitioner.chain import PAYOUT_BATCH, BoardClient
from practitioner.cluster import Cluster
from practitioner.decode import (
    FetchedSubmission,
    ValidationScorer,
    decode_submissions,
    reference_update,
)
from practitioner.report import parse_report, report_bytes, report_of_valuation
from practitioner.valuation import encoding_slack, utility_clip, value_round
from trainer.models import model_from_spec
from trainer.spec import BountySpec
from trainer.testing import make_spec, test_keypair
from trainer.update import encrypt_vector_to_blob, make_update
from trainer.update_blob import blob_hash

HONEST_SHARE, FREE_RIDER_SHARE = 0.70, 0.15  # the rest are copies
ROWS_PER_OWNER = 120
REWARD = 10**21


@dataclass
class Round:
    spec: BountySpec
    private_key: Any
    global_params: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    fetched: list[FetchedSubmission]
    kinds: dict[str, str]  # address -> honest / free_rider / copy
    market: Any
    bounty_id: int
    practitioner: Any


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn import datasets

    x, y = datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order].astype(np.float64), y[order]
    n_val = 360
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def build_spec(params: int, key_bits: int, x_val: np.ndarray, y_val: np.ndarray):
    public_key, private_key = test_keypair(key_bits)
    mean, std = x_val.mean(axis=0), x_val.std(axis=0)
    std[std <= 1e-12] = 1.0
    n_features, n_classes = x_val.shape[1], 10
    hidden = max(1, round((params - n_classes) / (n_features + 1 + n_classes)))
    spec = make_spec(
        n_features, classes=list(range(n_classes)), public_key=public_key,
        **{"standardize.mean": mean.tolist(), "standardize.std": std.tolist(),
           "model.type": "mlp", "model.hidden": [hidden], "encoding.clip": 2.0,
           "schema.min_rows": 1, "privacy.clip_norm": 5.0, "encoding.max_contributors": 4096},
    )
    return spec, private_key, mean, std


def build_round(n: int, params: int, key_bits: int, seed: int = 0) -> Round:
    from eth_account import Account

    # the tests' py-evm market (tests/chain_fixtures.py): deploys the real artifacts
    from tests.chain_fixtures import funded_signer, new_market, send, sign_submission

    x_pool, y_pool, x_val, y_val = digits()
    spec, private_key, mean, std = build_spec(params, key_bits, x_val, y_val)
    x_pool, x_val = (x_pool - mean) / std, (x_val - mean) / std
    model = model_from_spec(spec, seed=seed)
    # a round model that already learned a little (round 0 of a fresh model is all gain)
    warm = make_update(spec, model.get_params(), x_val[:60], y_val[:60]).delta
    global_params = model.get_params() + warm
    rng = np.random.default_rng(seed)
    n_honest = max(1, int(round(HONEST_SHARE * n)))
    n_free = int(round(FREE_RIDER_SHARE * n))
    market = new_market()
    practitioner = funded_signer(market.chain)
    market.mint(practitioner.address, 10 * REWARD)
    client = BoardClient(market.w3, market.board.address, market.w3.eth.chain_id, practitioner)
    client.approve(market.token.address, REWARD)
    bounty_id = client.create_bounty(
        token=market.token.address, reward_per_round=REWARD, rounds=1, round_duration=3600,
        max_contributors=max(n, 5), spec_hash="0x" + "11" * 32, spec_uri="file:///spec.json",
        model_hash="0x" + "22" * 32, model_uri="file:///model.bin",
    )
    deadline = int(market.board.functions.getRound(bounty_id, 0).call()[0])
    encoding = spec.encoding_params()
    honest: list[np.ndarray] = []
    fetched: list[FetchedSubmission] = []
    kinds: dict[str, str] = {}
    relayer = market.chain.accounts[1]
    for order in range(n):
        if order < n_honest:
            rows = rng.choice(len(y_pool), size=ROWS_PER_OWNER, replace=True)
            delta = make_update(spec, global_params, x_pool[rows], y_pool[rows]).delta
            honest.append(delta)
            kind = "honest"
        elif order < n_honest + n_free:
            delta, kind = np.zeros_like(global_params), "free_rider"
        else:
            delta, kind = honest[int(rng.integers(len(honest)))], "copy"
        data = encrypt_vector_to_blob(spec.public_key(), delta, encoding, bounty_id=bounty_id,
                                      round=0, n_samples=ROWS_PER_OWNER, workers=1)
        owner = Account.create()
        digest = blob_hash(data)
        uri = f"file:///blobs/{digest[2:]}"
        signature = sign_submission(owner, market.board, bounty_id, 0, bytes.fromhex(digest[2:]),
                                    uri, deadline)
        send(market.board.functions.submitWithSignature(
            bounty_id, 0, bytes.fromhex(digest[2:]), uri, owner.address, deadline, signature,
        ), relayer)
        fetched.append(FetchedSubmission(owner.address, digest, data, order=order))
        kinds[owner.address] = kind
    market.chain.travel_to(deadline + 1)
    return Round(spec, private_key, global_params, x_val, y_val, fetched, kinds, market,
                 bounty_id, practitioner)


def run_round(r: Round, workers: int | None, seed: int = 7, finalize: bool = True,
              cluster: Cluster | None = None) -> dict[str, Any]:
    """The practitioner's round on `r`: per-stage seconds, the report and the chain's gas
    (`finalize=False` stops before the chain, so the same round can be evaluated again).
    With a `cluster`, as `practitioner.evaluate` runs it there."""
    stages: dict[str, float] = {}
    decoded = decode_submissions(r.spec, r.private_key, r.bounty_id, 0, r.fetched,
                                 workers=workers, timings=stages, cluster=cluster)
    scorer = ValidationScorer(r.spec, r.x_val, r.y_val)
    valuation = value_round(
        r.global_params, decoded, scorer, REWARD, clip_norm=r.spec.privacy.clip_norm,
        clip_slack=encoding_slack(r.global_params.size, r.spec.encoding.precision_bits),
        reference=reference_update(r.spec, r.global_params, r.x_val, r.y_val), seed=seed,
        timings=stages, game_scorer=None if cluster is None else cluster.game_scorer(scorer, seed=seed),
    )
    started = time.perf_counter()
    report = report_of_valuation(
        valuation, bounty_id=r.bounty_id, round_index=0, spec_hash="0x" + "11" * 32,
        model_hash="0x" + "22" * 32, next_model_hash="0x" + "33" * 32, reward=REWARD,
    )
    data = report_bytes(report)
    parse_report(data)
    stages["report"] = time.perf_counter() - started
    if not finalize:
        return {"stages": stages, "report": report, "valuation": valuation, "gas": [],
                "block_gas_limit": 0, "report_bytes": data}
    started = time.perf_counter()
    client = BoardClient(r.market.w3, r.market.board.address, r.market.w3.eth.chain_id, r.practitioner)
    first_block = r.market.w3.eth.block_number
    payees = valuation.payouts
    client.finalize(r.bounty_id, 0, [a for a, _ in payees], [m for _, m in payees],
                    "0x" + "33" * 32, "file:///next.bin", "0x" + "44" * 32, "file:///report.json")
    stages["finalize"] = time.perf_counter() - started
    gas = []
    for number in range(first_block + 1, r.market.w3.eth.block_number + 1):
        for tx in r.market.w3.eth.get_block(number)["transactions"]:
            gas.append(int(r.market.w3.eth.get_transaction_receipt(tx)["gasUsed"]))
    block_gas_limit = int(r.market.w3.eth.get_block("latest")["gasLimit"])
    return {"stages": stages, "report": report, "valuation": valuation, "gas": gas,
            "block_gas_limit": block_gas_limit, "report_bytes": data}


def check_invariants(r: Round, outcome: dict[str, Any]) -> dict[str, Any]:
    """The report's invariants: sum paid <= reward, copies and free riders paid 0."""
    valuation = outcome["valuation"]
    paid = {line.address: line.amount for line in valuation.contributors}
    total = sum(paid.values())
    copies = [a for a, k in r.kinds.items() if k == "copy"]
    free = [a for a, k in r.kinds.items() if k == "free_rider"]
    return {
        "paid_total_le_reward": total <= REWARD,
        "copies_paid": sum(paid.get(a, 0) for a in copies),
        "free_riders_paid": sum(paid.get(a, 0) for a in free),
        "copies_marked": sum(1 for line in valuation.contributors if line.copy_of is not None),
        "rejected": len(valuation.rejected),
        "paid": sum(1 for v in paid.values() if v > 0),
        "players": valuation.players,
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def game(r: Round, players: list[np.ndarray]):
    """The valuation's coalition game on these players (as in value_round)."""
    scorer = ValidationScorer(r.spec, r.x_val, r.y_val)
    base = scorer.losses(r.global_params)
    clip = utility_clip(float(base.mean()))
    n = len(players)

    def utility(coalition: frozenset[int]) -> np.ndarray:
        params = r.global_params + (np.sum([players[i] for i in sorted(coalition)], axis=0) / n
                                    if coalition else 0.0)
        return np.clip(base - scorer.losses(params), -clip, clip)

    return utility


def accuracy(params: int, key_bits: int) -> dict[str, float]:
    """Rank correlations of the estimators the valuation uses against references."""
    from practitioner.scale import streaming_gtg
    from trainer.shapley import exact_shapley, gtg_shapley

    out: dict[str, float] = {}
    x_pool, y_pool, x_val, y_val = digits()
    spec, private_key, mean, std = build_spec(params, key_bits, x_val, y_val)
    x_pool, x_val = (x_pool - mean) / std, (x_val - mean) / std
    model = model_from_spec(spec, seed=0)
    global_params = model.get_params() + make_update(spec, model.get_params(), x_val[:60], y_val[:60]).delta
    r = Round(spec, private_key, global_params, x_val, y_val, [], {}, None, 0, None)
    rng = np.random.default_rng(1)
    pool = [make_update(spec, global_params, x_pool[rows], y_pool[rows]).delta
            for rows in (rng.choice(len(y_pool), size=int(rng.integers(20, 240)), replace=True)
                         for _ in range(100))]
    utility = game(r, pool[:12])
    exact = np.array(exact_shapley(12, utility).values)
    out["exact12_vs_gtg"] = spearman(exact, np.array(gtg_shapley(12, utility, seed=3).values))
    out["exact12_vs_streaming"] = spearman(
        exact, np.array(streaming_gtg(12, utility, seed=3).values))
    utility = game(r, pool)
    # 400 whole permutations without truncation (the budget ends it: convergence 0 never stops)
    long_run = np.array(gtg_shapley(100, utility, seed=99, max_evaluations=400 * 99, truncation=0.0,
                                    convergence=0.0).values)
    started = time.perf_counter()
    out["mc100_vs_gtg"] = spearman(long_run, np.array(gtg_shapley(100, utility, seed=3).values))
    out["gtg100_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    out["mc100_vs_streaming"] = spearman(
        long_run, np.array(streaming_gtg(100, utility, seed=3).values))
    out["streaming100_seconds"] = time.perf_counter() - started
    return out


def cluster_run(r: Round, workers: int | None, local: dict[str, Any],
                cluster: Cluster) -> dict[str, Any]:
    """The same round on `cluster`, against the local run `local` (both before finalising)."""
    outcome = run_round(r, workers, finalize=False, cluster=cluster)
    local_seconds = sum(v for k, v in local["stages"].items() if k != "finalize")
    seconds = sum(outcome["stages"].values())
    prefetched = cluster.last_scorer
    return {
        "seconds": round(seconds, 3),
        "stages": {k: round(v, 3) for k, v in outcome["stages"].items()},
        "same_report": outcome["report_bytes"] == local["report_bytes"],
        "speedup": round(local_seconds / seconds, 3),
        "key_shared": cluster.shares_key,
        "threads": cluster.threads(),
        "evaluations_on_workers": prefetched.hits if prefetched else 0,
        "evaluations_here": prefetched.misses if prefetched else outcome["valuation"].evaluations,
    }


def run(sizes: list[int], params: int, key_bits: int, workers: int | None,
        with_accuracy: bool = False, cluster: Cluster | None = None) -> dict[str, Any]:
    runs = []
    for n in sizes:
        started = time.perf_counter()
        r = build_round(n, params, key_bits)
        setup = time.perf_counter() - started
        outcome = run_round(r, workers)
        stages = {k: round(v, 3) for k, v in outcome["stages"].items()}
        extra = {} if cluster is None else {"cluster": cluster_run(r, workers, outcome, cluster)}
        runs.append({
            "contributors": n,
            "params": int(r.global_params.size),
            "seconds": round(sum(outcome["stages"].values()), 3),
            "stages": stages,
            "setup_seconds": round(setup, 1),
            "method": outcome["valuation"].method,
            "evaluations": outcome["valuation"].evaluations,
            "gas_per_batch_max": max(outcome["gas"]),
            "gas_batches": len(outcome["gas"]),
            "block_gas_limit": outcome["block_gas_limit"],
            "invariants": check_invariants(r, outcome),
            **extra,
        })
    growth = [
        math.log(b["seconds"] / a["seconds"]) / math.log(b["contributors"] / a["contributors"])
        for a, b in zip(runs, runs[1:], strict=False)
    ]
    result: dict[str, Any] = {
        "runs": runs,
        "growth_exponent": [round(g, 3) for g in growth],
        "key_bits": key_bits,
        "payout_batch": PAYOUT_BATCH,
        "machine": machine(),
    }
    if with_accuracy:
        result["rank_correlation"] = {k: round(v, 4) for k, v in accuracy(params, key_bits).items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contributors", default="10,100,1000")
    parser.add_argument("--params", type=int, default=10_000)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=None,
                        help="decryption processes (default: one per idle core)")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="also run each round on this Dask scheduler ('local': start one here)")
    parser.add_argument("--share-key-with-workers", action="store_true",
                        help="with --cluster: the workers decrypt too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.contributors.split(",") if s.strip()]
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.cluster:
            address = args.cluster
            if address == "local":
                from distributed import LocalCluster

                local = stack.enter_context(LocalCluster(
                    n_workers=args.workers or os.cpu_count() or 1, threads_per_worker=1,
                    processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"))
                address = local.scheduler_address
            cluster = stack.enter_context(Cluster.connect(
                address, share_key_with_workers=args.share_key_with_workers))
        result = run(sizes, args.params, args.key_bits, args.workers, args.accuracy, cluster)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    for entry in result["runs"]:
        flat = {"seconds": entry["seconds"], **{f"  {k}": v for k, v in entry["stages"].items()},
                "gas per batch (max)": entry["gas_per_batch_max"],
                "block gas limit": entry["block_gas_limit"], **entry["invariants"]}
        emit(f"Round of {entry['contributors']} contributors ({entry['params']} parameters, "
             f"{args.key_bits}-bit key)", flat, False)
        if "cluster" in entry:
            on = entry["cluster"]
            emit(f"  on the cluster ({on['threads']} worker threads, key "
                 f"{'shared' if on['key_shared'] else 'kept here'})",
                 {"seconds": on["seconds"], **{f"  {k}": v for k, v in on["stages"].items()},
                  "speedup vs local": on["speedup"], "same report": on["same_report"]}, False)
    print("growth exponent between sizes:", result["growth_exponent"])
    if "rank_correlation" in result:
        emit("Rank correlation of the valuation", result["rank_correlation"], False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
