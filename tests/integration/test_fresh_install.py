"""A fresh virtual environment resolves README's install commands to exactly the tested set.

pip resolves each command (``--dry-run --report``: every package chosen, from the real indexes, nothing
installed) in a new virtual environment: what it would install must be the versions of constraints.txt,
and never a CUDA torch (no ``nvidia-*`` package). It runs in a copy of the files an install reads. On
these machines pip's find-links hold the CPU torch wheel (README's CPU-torch command installs it
elsewhere). The real install of the same command is what ``.ci/run`` does before the test suite.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMMANDS = re.findall(
    r"\.venv/bin/pip install ([^&\n]*-e [^&\n]*)", (REPO / "README.md").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def fresh_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv / "bin" / "pip"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files an install reads, copied (pip writes build metadata beside the sources)."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy2(REPO / name, root / name)
    return root


@pytest.mark.timeout(900)
@pytest.mark.parametrize("arguments", COMMANDS)
def test_readme_install_resolves_to_the_constraints(
    fresh_pip: Path, checkout: Path, arguments: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    command = [str(fresh_pip), "install", "--dry-run", "--report", str(report), *shlex.split(arguments)]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stderr[-3000:]
    chosen = {
        canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
    }
    assert chosen.pop("admet-hpo") == Version("0.1.0")
    pins = {
        canonicalize_name(r.name): Version(next(iter(r.specifier)).version)
        for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
        for r in [Requirement(line)]
    }
    unpinned = sorted(set(chosen) - set(pins))
    assert not unpinned, f"resolved without a pin in constraints.txt: {unpinned}"
    differ = {name: str(v) for name, v in chosen.items() if Version(v.public) != pins[name]}
    assert not differ, f"resolved versions differ from constraints.txt: {differ}"
    assert not [name for name in chosen if name.startswith("nvidia-")], "a CUDA torch was chosen"
    if "[dev]" in arguments:
        assert set(chosen) == set(pins), f"pinned but not installed: {sorted(set(pins) - set(chosen))}"
