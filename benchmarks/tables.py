"""Checking a big CSV against a bounty's schema: the wallet's reader against the stdlib csv module.

    python -m benchmarks.tables [--rows 1000000] [--quick] [--json]

Writes a wine-shaped CSV (13 float columns, a label, three columns the bounty does not use,
0.1 % of the rows with an "NA") into a temporary folder, then, each in a fresh process so the
peak memory of one does not hide the other's:
- "quarry": trainer.data.load_dataset, the wallet's schema check and load (pyarrow's
  streaming CSV reader, only the mapped columns, a block at a time; rows with NA dropped and
  counted; standardised float64 X and int64 y),
- "stdlib csv": csv.reader over the same file, the same 14 columns converted with float()
  and int() per cell, rows with NA dropped, then the same numpy arrays,
and, with --train, one local epoch of the bounty's model on the loaded rows, without noise
and with DP-SGD (the wallet's default privacy mode).
Reported: seconds, rows/s, and the peak resident memory above the process's baseline after
its imports (/proc's VmHWM), next to the size of the file and of the float64 X.
--quick (CI) uses 20,000 rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import emit, machine

FEATURES = 13
NA_EVERY = 1000


def _spec() -> Any:
    from trainer.testing import make_spec

    columns = [{"name": f"m{i}", "type": "float"} for i in range(FEATURES)]
    return make_spec(FEATURES, [0, 1, 2], **{"schema.columns": columns, "schema.label": "label",
                                            "schema.min_rows": 10})


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A wine-shaped CSV written a block at a time (pyarrow's writer, so writing is quick)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    names = ["id", *[f"M{i}" for i in range(FEATURES)], "class", "notes", "site"]
    with pacsv.CSVWriter(path, pa.schema([(n, pa.string()) for n in names])) as writer:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            X = np.round(rng.normal(size=(n, FEATURES)) * 3 + 10, 3).astype(str)
            X[np.arange(0, n, NA_EVERY), 4] = "NA"
            cols = [np.arange(start, start + n).astype(str), *X.T,
                    rng.integers(0, 3, n).astype(str), np.full(n, "ok"), np.full(n, "lab 7")]
            writer.write_table(pa.table(dict(zip(names, cols, strict=True))))


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB: /proc's VmHWM (ru_maxrss would do,
    but Linux carries the parent's peak over fork and exec into it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _resident_mb() -> float:
    """Resident memory now, MB (the baseline a measurement's peak is counted from)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return _rss_mb()


def measure_quarry(path: str, train: bool) -> dict[str, Any]:
    import pyarrow.compute  # noqa: F401  # imported before the baseline, as csv is for stdlib
    import pyarrow.csv  # noqa: F401

    from trainer.data import LoadOptions, load_dataset

    spec = _spec()
    base = _resident_mb()
    start = time.perf_counter()
    dataset = load_dataset([path], spec, LoadOptions(chosen={"label": "class"}))
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "rows": dataset.rows_read, "used": dataset.n_rows,
           "peak_mb": _rss_mb() - base}
    if train:
        from trainer.dp_sgd import dp_sgd_for
        from trainer.models import model_from_spec
        from trainer.update import make_update

        start = time.perf_counter()
        make_update(spec, model_from_spec(spec).get_params(), dataset.X, dataset.y, epochs=1)
        out["train_epoch_seconds"] = time.perf_counter() - start
        start = time.perf_counter()  # the wallet's default: DP-SGD ("Protect each row")
        make_update(spec, model_from_spec(spec).get_params(), dataset.X, dataset.y, epochs=1,
                    dp_sgd=dp_sgd_for(spec.training, dataset.n_rows, epochs=1))
        out["dp_sgd_epoch_seconds"] = time.perf_counter() - start
        out["peak_with_training_mb"] = _rss_mb() - base
    return out


def measure_stdlib(path: str) -> dict[str, Any]:
    import csv

    base = _resident_mb()
    start = time.perf_counter()
    xs: list[list[float]] = []
    ys: list[int] = []
    rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        idx = [header.index(f"M{i}") for i in range(FEATURES)]
        label = header.index("class")
        for row in reader:
            rows += 1
            try:
                xs.append([float(row[i]) for i in idx])
                ys.append(int(row[label]))
            except ValueError:
                continue
    X = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.int64)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "used": int(y.shape[0]), "peak_mb": _rss_mb() - base,
            "x_bytes": X.nbytes}


def _in_child(kind: str, path: Path, train: bool) -> dict[str, Any]:
    code = (f"import json, benchmarks.tables as t; print(json.dumps(t.measure_{kind}"
            f"({str(path)!r}{', ' + repr(train) if kind == 'quarry' else ''})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rows: int = 1_000_000, train: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, rows)
        ours = _in_child("quarry", path, train)
        stdlib = _in_child("stdlib", path, False)
        size = path.stat().st_size
    results: dict[str, Any] = {
        "rows": rows, "file_mb": size / 1e6, "x_float64_mb": rows * FEATURES * 8 / 1e6,
        "rows_used": ours["used"],
        "quarry_seconds": ours["seconds"], "quarry_rows_per_s": rows / ours["seconds"],
        "quarry_peak_mb": ours["peak_mb"],
        "stdlib_csv_seconds": stdlib["seconds"], "stdlib_csv_rows_per_s": rows / stdlib["seconds"],
        "stdlib_csv_peak_mb": stdlib["peak_mb"],
        "speedup": stdlib["seconds"] / ours["seconds"],
        "same_rows_used": ours["used"] == stdlib["used"],
        **machine(),
    }
    if train:
        results["train_one_epoch_seconds"] = ours["train_epoch_seconds"]
        results["dp_sgd_one_epoch_seconds"] = ours["dp_sgd_epoch_seconds"]
        results["quarry_peak_with_training_mb"] = ours["peak_with_training_mb"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows (CI)")
    parser.add_argument("--train", action="store_true", help="also one local epoch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(20_000 if args.quick else args.rows, args.train)
    emit(f"Schema check of a {results['rows']:,}-row CSV", results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
