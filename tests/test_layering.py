"""Dependencies point one way: cli → commands → workflows → pipeline; nothing imports upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "pipeline": {"workflows", "storage_config", "iiif_server", "commands", "cli", "luigi", "boto3"},
    "storage_config": {"workflows", "iiif_server", "commands", "cli", "luigi"},
    "iiif_server": {"workflows", "commands", "cli", "luigi"},
    "workflows": {"iiif_server", "commands", "cli"},
    "commands": {"cli"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package):
    offenders = {str(path.relative_to(REPO)): sorted(imported_top_levels(path) & FORBIDDEN[package])
                 for path in sorted((REPO / package).rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Module-level import cycles (storage_config/backends/s3.py ↔ locations.py was one) make import order matter."""
    modules = {".".join(path.relative_to(REPO).with_suffix("").parts): path
               for package in FORBIDDEN for path in (REPO / package).rglob("*.py")}
    imports = {name: _module_imports(path) & set(modules) for name, path in modules.items()}
    cycles = sorted(f"{a} <-> {b}" for a in imports for b in imports[a] if a < b and a in imports.get(b, set()))
    assert cycles == []


def _module_imports(path: Path) -> set[str]:
    """Modules ``path`` imports at any level (lazy imports inside functions count: a cycle is a cycle)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names
