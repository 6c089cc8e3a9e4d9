"""Validating readers for the fields of a bounty spec (trainer.spec).

Each takes a JSON value and the field's full path (e.g. "training.epochs") and returns the
value, or raises SpecError naming that path, so a practitioner knows what to fix.
"""

from __future__ import annotations

import math
import re
from typing import Any

from trainer.errors import SpecError

_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")



def require(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise SpecError(f"Spec field '{path}{key}' is missing.")
    return obj[key]


def as_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"Spec field '{path}' must be an object.")
    return value


def no_unknown(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        where = f"'{path}'" if path else "the spec"
        raise SpecError(f"Unknown field(s) in {where}: {', '.join(unknown)}.")


def read_str(value: Any, path: str, *, max_len: int = 200, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(f"Spec field '{path}' must be a string.")
    if not allow_empty and not value.strip():
        raise SpecError(f"Spec field '{path}' must not be empty.")
    if len(value) > max_len:
        raise SpecError(f"Spec field '{path}' is longer than {max_len} characters.")
    return value


def read_choice(value: Any, choices: tuple[str, ...], path: str) -> str:
    if value not in choices or not isinstance(value, str):
        raise SpecError(f"Spec field '{path}' must be one of {', '.join(choices)}; got {value!r}.")
    return value


def read_int(value: Any, path: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"Spec field '{path}' must be an integer; got {value!r}.")
    if lo is not None and value < lo:
        raise SpecError(f"Spec field '{path}' must be at least {lo}; got {value}.")
    if hi is not None and value > hi:
        raise SpecError(f"Spec field '{path}' must be at most {hi}; got {value}.")
    return value


def read_float(
    value: Any,
    path: str,
    *,
    positive: bool = False,
    non_negative: bool = False,
    below: float | None = None,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"Spec field '{path}' must be a number; got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"Spec field '{path}' must be a finite number.")
    if positive and number <= 0:
        raise SpecError(f"Spec field '{path}' must be greater than 0; got {number}.")
    if non_negative and number < 0:
        raise SpecError(f"Spec field '{path}' must not be negative; got {number}.")
    if below is not None and number >= below:
        raise SpecError(f"Spec field '{path}' must be less than {below}; got {number}.")
    return number


def read_hash(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise SpecError(f"Spec field '{path}' must be 0x followed by 64 hex digits.")
    return value.lower()


def read_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(f"Spec field '{path}' must be a list.")
    return value
