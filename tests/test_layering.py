"""The layers of docs/ARCHITECTURE.md, checked over every import of every module.

An AST pass, so imports inside functions count as much as those at the top (a deferred
import still ties the layers together); only imports under `if TYPE_CHECKING:` are left out
of the cycle check, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "trainer", "wallet", "devnet", "practitioner", "ui")

# package -> top-level names it must never import (project packages and libraries)
FORBIDDEN: dict[str, set[str]] = {
    "common": {"trainer", "wallet", "devnet", "practitioner", "ui", "benchmarks", "tests"},
    "trainer": {"wallet", "ui", "practitioner", "devnet", "benchmarks", "tests",
                "web3", "eth_account", "eth_tester", "eth", "PySide6"},
    "wallet": {"PySide6", "ui", "practitioner", "benchmarks", "tests"},
    "devnet": {"wallet", "ui", "practitioner", "benchmarks", "tests", "PySide6"},
    "ui": {"practitioner", "trainer", "devnet", "benchmarks", "tests"},
    "practitioner": {"ui", "devnet", "benchmarks", "tests", "PySide6"},
}
# the wallet reaches the embedded network through this one module only
DEVNET_DOOR = "wallet.devnet_client"

# Known exceptions, each with the issue that removes it.
KNOWN: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (or module.name when `from module import name`)
    line: int
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit_one(stmt, True)
                for stmt in child.orelse:
                    yield from visit_one(stmt, type_checking)
                continue
            yield from visit_one(child, type_checking)

    def visit_one(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, type_checking)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield Import(module, f"{source}.{alias.name}", node.lineno, type_checking)
        yield from visit(node, type_checking)

    yield from visit(tree, False)


def _all_imports() -> list[Import]:
    return [imp for module, path in _modules().items() for imp in _imports(module, path)]


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import target names (`a.b.name` -> `a.b` unless `a.b.name` is a
    module), or None for a library."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def test_every_package_keeps_to_its_layer():
    broken = []
    for imp in _all_imports():
        package = imp.module.split(".")[0]
        top = imp.target.split(".")[0]
        if top in FORBIDDEN[package] and (imp.module, imp.target) not in KNOWN:
            broken.append(f"{imp.module}:{imp.line} imports {imp.target}")
    assert broken == [], "imports against docs/ARCHITECTURE.md's layers:\n" + "\n".join(broken)


def test_the_wallet_reaches_the_devnet_only_through_its_client():
    broken = [f"{imp.module}:{imp.line} imports {imp.target}" for imp in _all_imports()
              if imp.module.split(".")[0] == "wallet" and imp.target.split(".")[0] == "devnet"
              and imp.module != DEVNET_DOOR]
    assert broken == []


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in _all_imports():
        target = _resolve(imp.target, modules)
        # a package's __init__ is loaded by any import of its submodules, but that is not an
        # edge of the code's design: only what a module names counts
        if target is not None and target != imp.module and not imp.type_checking:
            graph[imp.module].add(target)
    cycles = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_the_pass_sees_function_level_and_type_checking_imports(tmp_path):
    """The checker itself: a deferred import is found, a TYPE_CHECKING one is marked."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from wallet.store import Store\n"
        "def f():\n    import web3\n    from . import sibling\n"
    )
    found = {(i.target, i.type_checking) for i in _imports("trainer.probe", source)}
    assert ("wallet.store.Store", True) in found
    assert ("web3", False) in found
    assert ("trainer.sibling", False) in found
