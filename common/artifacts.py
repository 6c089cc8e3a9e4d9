"""The compiled contract artifacts (ABI, bytecode), committed under ``resources/contracts/build``.

``node scripts/compile_contracts.mjs`` writes them, so the app never needs a compiler. They
are found relative to the repository root (the app is installed editable);
``QUARRY_CONTRACTS_DIR`` overrides the location for packaged builds. Both the wallet (calls,
deployment on an RPC network) and the embedded network (first-start deployment) read them,
so they live below both.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from common.errors import ArtifactError

CONTRACT_NAMES = ("QuarryToken", "BountyBoard")
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def contracts_dir() -> Path:
    """Where the compiled artifacts live (``QUARRY_CONTRACTS_DIR`` overrides)."""
    override = os.environ.get("QUARRY_CONTRACTS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "resources" / "contracts" / "build"


@functools.lru_cache(maxsize=16)
def read_artifact(path: Path) -> dict[str, Any]:
    """The artifact at `path`, read once and cached (callers must not modify it)."""
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"Contract artifact {path.name} is missing; run node scripts/compile_contracts.mjs."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Contract artifact {path} is unreadable: {exc}") from exc
    if not isinstance(artifact, dict) or not {"abi", "bytecode", "contractName"} <= artifact.keys():
        raise ArtifactError(f"Contract artifact {path} lacks abi, bytecode or contractName.")
    return artifact


def load_artifact(name: str) -> dict[str, Any]:
    """The compiled artifact ``{"contractName", "abi", "bytecode", ...}`` of contract ``name``.

    Read once and cached; each call returns a copy, so callers may modify it freely.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ArtifactError(f"Not a contract name: {name!r}.")
    return copy.deepcopy(read_artifact(contracts_dir() / f"{name}.json"))


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract ``name``."""
    return load_artifact(name)["abi"]


def bytecode(name: str) -> str:
    """The creation bytecode of contract ``name`` as ``0x…`` hex."""
    return load_artifact(name)["bytecode"]
