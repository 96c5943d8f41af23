"""The packages of admet_hpo import one way (src/admet_hpo/README.md): none imports a package above it."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "admet_hpo"
#: Each package and the packages it may import (besides itself and the leaf module errors).
ALLOWED = {
    "config": set(),
    "data": {"config"},
    "sampling": {"config", "data"},
    "training": {"config", "data", "sampling"},
    "tracking": {"config", "data", "sampling", "training"},
    "search": {"config", "data", "sampling", "training", "tracking"},
    "storage": {"config", "data", "sampling", "training", "tracking"},
    "orchestration": {"config", "data", "sampling", "training", "tracking", "search", "storage"},
}
_IMPORT = re.compile(r"^\s*(?:from|import) admet_hpo\.(\w+)", re.MULTILINE)


def test_no_package_imports_one_above_it() -> None:
    upward = []
    for package, allowed in ALLOWED.items():
        for module in sorted((PACKAGE / package).rglob("*.py")):
            for imported in _IMPORT.findall(module.read_text(encoding="utf-8")):
                if imported not in {package, "errors", *allowed}:
                    upward.append(f"{module.relative_to(PACKAGE)} imports admet_hpo.{imported}")
    assert upward == []
