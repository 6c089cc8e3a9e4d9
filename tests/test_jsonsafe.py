"""wallet.jsonsafe: deep nesting is refused before json.loads could overflow the C stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trainer.jsonsafe import MAX_DEPTH, loads, nesting_depth


def test_depth_ignores_brackets_inside_strings():
    assert nesting_depth(b'[{"a": "[[[[{{"}, [1]]') == 2
    assert nesting_depth('"\\"[[" ') == 0
    assert nesting_depth(b"17") == 0
    assert loads(b'{"k": [1, {"x": "]]]"}]}') == {"k": [1, {"x": "]]]"}]}


def test_deep_nesting_is_a_value_error_not_a_crash():
    with pytest.raises(ValueError, match="nested deeper"):
        loads(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError):
        loads(b"[" * 300_000)


def test_why_plain_json_loads_is_not_enough():
    """With web3 imported (py_ecc raises the recursion limit), plain json.loads of deep nesting
    kills the process; this pins the reason jsonsafe exists."""
    code = ("import web3, json, sys\n"
            "assert sys.getrecursionlimit() >= 100000\n"
            "json.loads(b'[' * 300000 + b']' * 300000)\n")
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert finished.returncode < 0  # killed by a signal (SIGSEGV), not a Python exception
