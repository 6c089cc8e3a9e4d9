"""Run every benchmark: python -m benchmarks [--json]."""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks import aggregation, encryption, training
from benchmarks._common import emit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run all Quarry benchmarks.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {
        "encryption": encryption.run(),
        "aggregation": aggregation.run(),
        "training": training.run(),
    }
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        emit("Encryption of one update (2048-bit key)", results["encryption"], False)
        emit("Aggregation of one round (2048-bit key)", results["aggregation"], False)
        emit("Local training", results["training"], False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
