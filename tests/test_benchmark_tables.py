"""benchmarks.tables in its CI mode: the wallet's check of a CSV against the stdlib csv module."""

from __future__ import annotations

import json

from benchmarks import tables


def test_tables_benchmark_quick(capsys):
    assert tables.main(["--quick", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["rows"] == 20_000 and results["same_rows_used"]
    assert results["rows_used"] == 20_000 - 20  # one row in a thousand has an NA
    assert results["quarry_rows_per_s"] > 0 and results["stdlib_csv_rows_per_s"] > 0
    assert results["quarry_peak_mb"] >= 0 and results["stdlib_csv_peak_mb"] >= 0
