"""The packages of admet_hpo import one way (src/admet_hpo/README.md): none imports a package above it."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "admet_hpo"
#: Each package and the packages it may import (besides itself and the leaf modules errors and masking).
ALLOWED = {
    "config": set(),
    "data": {"config"},
    "sampling": {"config", "data"},
    "training": {"config", "data", "sampling"},
    "tracking": {"config", "data", "sampling", "training"},
    "search": {"config", "data", "sampling", "training", "tracking"},
    "storage": {"config", "data", "sampling", "training", "tracking"},
    "orchestration": {"config", "data", "sampling", "training", "tracking", "search", "storage"},
    "finalize": {"config", "data", "sampling", "training", "tracking", "search"},
}
LEAVES = {"errors", "masking"}
_IMPORT = re.compile(r"^\s*(?:from|import) admet_hpo\.(\w+)", re.MULTILINE)


def test_no_package_imports_one_above_it() -> None:
    upward = []
    for package, allowed in ALLOWED.items():
        for module in sorted((PACKAGE / package).rglob("*.py")):
            for imported in _IMPORT.findall(module.read_text(encoding="utf-8")):
                if imported not in {package, *LEAVES, *allowed}:
                    upward.append(f"{module.relative_to(PACKAGE)} imports admet_hpo.{imported}")
    assert upward == []


def test_leaf_modules_import_nothing_of_the_package() -> None:
    for leaf in sorted(LEAVES):
        assert _IMPORT.findall((PACKAGE / f"{leaf}.py").read_text(encoding="utf-8")) == [], leaf
