"""The committed contract artifacts are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from wallet import contracts

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "resources" / "contracts" / "build"
SETUP_HINT = "run scripts/setup.sh (it runs `npm ci`) to install the pinned compiler"


def test_committed_artifacts_are_not_stale():
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed; {SETUP_HINT}.")
    if not (REPO / "node_modules" / "solc" / "package.json").exists():
        pytest.fail(f"node_modules/solc is missing; {SETUP_HINT}.")
    result = subprocess.run(
        [node, "scripts/compile_contracts.mjs", "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, (
        "resources/contracts/build is stale or the compile failed; run "
        f"`node scripts/compile_contracts.mjs` and commit the result.\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("path", sorted(BUILD.rglob("*.json")), ids=lambda p: p.name)
def test_artifact_format_is_stable(path):
    text = path.read_text(encoding="utf-8")
    artifact = json.loads(text)
    # sorted keys, two-space indent, trailing newline: a recompile is byte-identical
    assert text == json.dumps(artifact, sort_keys=True, indent=2) + "\n"
    assert set(artifact) == {
        "abi", "bytecode", "contractName", "deployedBytecode", "solcVersion", "sourceHash",
    }
    assert artifact["contractName"] == path.stem
    for key in ("bytecode", "deployedBytecode"):
        code = artifact[key]
        assert code.startswith("0x") and len(code) > 200 and len(code) % 2 == 0
        bytes.fromhex(code[2:])
    assert artifact["sourceHash"].startswith("0x") and len(artifact["sourceHash"]) == 66


def test_npm_pins_are_exact_and_locked():
    package = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    pins = package["devDependencies"]
    assert set(pins) == {"solc", "@openzeppelin/contracts", "@foundry-rs/anvil"}
    for name, version in pins.items():
        assert version[0].isdigit(), f"{name} must be pinned exactly, not {version!r}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    artifact = contracts.load_artifact("BountyBoard")
    assert artifact["solcVersion"].startswith(pins["solc"] + "+")


def test_app_artifacts_are_the_shipped_contracts():
    assert contracts.contracts_dir() == BUILD
    for name in contracts.CONTRACT_NAMES:
        assert (BUILD / f"{name}.json").is_file()
        assert contracts.bytecode(name).startswith("0x")
