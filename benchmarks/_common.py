"""Shared helpers for the benchmarks: key generation, timing, output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from phe import paillier


def keypair(bits: int) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    return paillier.generate_paillier_keypair(n_length=bits)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def emit(title: str, results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2, sort_keys=True))
        return
    print(title)
    print("-" * len(title))
    width = max(len(k) for k in results)
    for key, value in results.items():
        if isinstance(value, float):
            shown = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        else:
            shown = str(value)
        print(f"{key:<{width}}  {shown}")
    print()
