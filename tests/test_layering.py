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
