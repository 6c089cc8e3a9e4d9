"""The round benchmark's CI mode (issue 12): 10 contributors (honest owners on digits, free
riders, re-encrypted copies), real Paillier blobs, payouts on a py-evm chain. Asserts the
report's invariants, not a time."""

from __future__ import annotations

import json

from benchmarks import round as round_benchmark
from practitioner.report import parse_report


def test_round_invariants_and_same_report_twice():
    r = round_benchmark.build_round(10, 700, 512)
    kinds = sorted(r.kinds.values())
    assert kinds.count("honest") == 7 and kinds.count("free_rider") == 2 and kinds.count("copy") == 1
    first = round_benchmark.run_round(r, workers=1, finalize=False)
    second = round_benchmark.run_round(r, workers=1)
    assert first["report_bytes"] == second["report_bytes"]  # the same report twice
    report = parse_report(second["report_bytes"])
    assert report is not None
    checks = round_benchmark.check_invariants(r, second)
    assert checks["paid_total_le_reward"]
    assert checks["copies_paid"] == 0 and checks["copies_marked"] == 1
    assert checks["free_riders_paid"] == 0
    assert checks["paid"] >= 1
    assert set(second["stages"]) == {"parse", "decrypt", "dedupe", "value", "report", "finalize"}
    # paid on chain: every batch within the block gas limit
    assert second["gas"] and max(second["gas"]) < second["block_gas_limit"]
    board = r.market.board
    paid = {line.address: line.amount for line in second["valuation"].contributors}
    token = r.market.token.address
    for address, amount in paid.items():
        assert board.functions.claimable(token, address).call() == amount


def test_round_benchmark_cli(capsys):
    assert round_benchmark.main(["--contributors", "3,6", "--params", "300", "--key-bits", "512",
                                 "--workers", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [run["contributors"] for run in out["runs"]] == [3, 6]
    for run in out["runs"]:
        assert run["seconds"] > 0 and set(run["stages"]) >= {"decrypt", "value", "finalize"}
    assert len(out["growth_exponent"]) == 1
