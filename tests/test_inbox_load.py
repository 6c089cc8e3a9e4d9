"""The inbox load benchmark's CI mode (issue 12): both servers in processes of their own,
loopback clients from distinct source addresses, good uploads mixed with bad ones."""

from __future__ import annotations

from benchmarks import inbox as inbox_benchmark


def test_inbox_load_small():
    result = inbox_benchmark.run(uploads=40, clients=8, size=5000, bad=12)
    for kind in ("stdlib", "aiohttp"):
        outcome = result[kind]
        assert outcome["good_uploads"] == 40 and outcome["bad_requests"] == 12
        assert outcome["corrupted"] == 0  # every stored blob hashes to its name
        assert outcome["bad_accepted"] == 0  # every bad request refused, none stored
    new = result["aiohttp"]
    assert new["lost_or_failed"] == 0, new["good_failed_answers"]
    assert new["bad_answers"].get("oversized:413", 0) + new["bad_answers"].get("oversized:closed", 0) == 3
    assert new["p50_ms"] > 0 and new["p99_ms"] >= new["p50_ms"]
