"""The committed contract artifacts are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from common import artifacts

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
    artifact = artifacts.load_artifact("BountyBoard")
    assert artifact["solcVersion"].startswith(pins["solc"] + "+")


def test_app_artifacts_are_the_shipped_contracts():
    assert artifacts.contracts_dir() == BUILD
    for name in artifacts.CONTRACT_NAMES:
        assert (BUILD / f"{name}.json").is_file()
        assert artifacts.bytecode(name).startswith("0x")


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(item['type'] for item in entry['inputs'])})"


def test_bounty_board_abi_is_the_protocol():
    """docs/PROTOCOL.md is what wallet/ and practitioner/ code against: the ABI must match it."""
    entries = artifacts.abi("BountyBoard")
    functions = {_signature(e): e for e in entries if e["type"] == "function"}
    events = {_signature(e): e for e in entries if e["type"] == "event"}
    expected_functions = {
        "createBounty(address,uint256,uint32,uint64,uint32,bytes32,string,bytes32,string)": ["uint256"],
        "submit(uint256,uint32,bytes32,string)": [],
        "submitWithSignature(uint256,uint32,bytes32,string,address,uint256,bytes)": [],
        "finalize(uint256,uint32,address[],uint256[],bytes32,string,bytes32,string)": [],
        "expireRound(uint256,uint32)": [],
        "cancel(uint256)": [],
        "claim(address)": ["uint256"],
        "bountyCount()": ["uint256"],
        "getBounty(uint256)": [
            "address", "address", "uint256", "uint32", "uint64", "uint32", "bytes32", "string",
            "uint32", "uint8", "uint256",
        ],
        "getRound(uint256,uint32)": ["uint64", "uint32", "uint8", "bytes32", "string", "bytes32", "string"],
        "getSubmission(uint256,uint32,address)": ["bytes32", "string", "uint64"],
        "getSubmitters(uint256,uint32)": ["address[]"],
        "claimable(address,address)": ["uint256"],
        "assignRewards(uint256,uint32,address[],uint256[])": [],
        "collectExpired(uint256,uint32,address)": [],
        "claimLeftover(uint256,address)": [],
        "revealValidation(uint256,bytes32,string)": [],
        "getPot(uint256)": ["uint256", "uint256", "uint256", "uint256", "uint256", "bool"],
        "expiredShare(uint256,uint32,address)": ["uint256"],
        "leftoverShare(uint256,address)": ["uint256"],
        "getShare(uint256,address)": ["uint256", "uint32", "uint256"],
        "getReveal(uint256)": ["bytes32", "string"],
    }
    for signature, outputs in expected_functions.items():
        assert signature in functions, f"BountyBoard lacks {signature}"
        assert [o["type"] for o in functions[signature]["outputs"]] == outputs, signature
    assert [o["name"] for o in functions["getBounty(uint256)"]["outputs"]] == [
        "owner", "token", "rewardPerRound", "rounds", "roundDuration", "maxContributors",
        "specHash", "specURI", "currentRound", "status", "escrow",
    ]
    expected_events = {
        "BountyCreated(uint256,address,address,uint256,uint32,bytes32,string)": [True, True],
        "RoundOpened(uint256,uint32,uint64,bytes32,string)": [True],
        "UpdateSubmitted(uint256,uint32,address,bytes32,string)": [True, True, True],
        "RoundFinalized(uint256,uint32,uint256,bytes32,string)": [True, True],
        "RoundExpired(uint256,uint32,uint256)": [True, True],
        "RewardAssigned(uint256,uint32,address,uint256)": [True, True, True],
        "BountyCancelled(uint256,uint256)": [True],
        "RewardClaimed(address,address,uint256)": [True, True],
        "BountyEnded(uint256,uint256)": [True],
        "LeftoverClaimed(uint256,address,uint256)": [True, True],
        "ValidationRevealed(uint256,bytes32,string)": [True],
    }
    for signature, indexed_prefix in expected_events.items():
        assert signature in events, f"BountyBoard lacks event {signature}"
        flags = [item["indexed"] for item in events[signature]["inputs"]]
        assert flags == indexed_prefix + [False] * (len(flags) - len(indexed_prefix)), signature


def test_quarry_token_abi_is_the_protocol():
    functions = {_signature(e) for e in artifacts.abi("QuarryToken") if e["type"] == "function"}
    assert {"mint(address,uint256)", "owner()", "transfer(address,uint256)",
            "approve(address,uint256)", "balanceOf(address)", "decimals()"} <= functions
    (constructor,) = [e for e in artifacts.abi("QuarryToken") if e["type"] == "constructor"]
    assert [i["type"] for i in constructor["inputs"]] == ["address"]


def test_a_wheel_ships_the_compiled_artifacts_where_common_artifacts_looks(monkeypatch):
    """pyproject's package list must include resources.contracts.build (a namespace package
    whose *.json are package data): an installed wheel then holds site-packages/resources/
    contracts/build/*.json, next to site-packages/common, which is where contracts_dir() looks.
    (Checked by hand with `pip wheel .` and a scratch venv; this pins the configuration.)"""
    import tomllib

    from setuptools import find_namespace_packages

    from common.artifacts import CONTRACT_NAMES, contracts_dir

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_namespace_packages(str(REPO), include=config["packages"]["find"]["include"])
    assert "resources.contracts.build" in packages
    assert "resources.contracts.build.testing" not in packages  # test doubles stay out
    assert "*.json" in config["package-data"]["*"]
    for name in CONTRACT_NAMES:
        assert (REPO / "resources/contracts/build" / f"{name}.json").is_file()
    # the same relative step from the common package in site-packages
    import common

    monkeypatch.delenv("QUARRY_CONTRACTS_DIR", raising=False)
    assert contracts_dir() == Path(common.__file__).resolve().parents[1] / "resources/contracts/build"
