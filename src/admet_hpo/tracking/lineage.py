"""Where a result came from: git commit of the code, versions of the key packages, Python and platform.

Collected once per process and logged on every trial run, so a run can be traced back to the code and the
environment that produced it. Standard library only; nothing here raises when git or a package is absent.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

#: Distributions whose versions decide what a trial computes.
KEY_PACKAGES = (
    "admet-hpo",
    "torch",
    "chemprop",
    "lightning",
    "optuna",
    "mlflow",
    "rdkit",
    "numpy",
    "pandas",
)

_GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Lineage:
    """Code and environment identity.

    ``git_commit`` is None outside a git work tree (or without git); ``git_dirty`` is None then, else True
    when tracked files differ from the commit. ``packages`` maps each key distribution to its installed
    version, or None when it is not installed.
    """

    git_commit: str | None
    git_dirty: bool | None
    packages: dict[str, str | None]
    python: str
    platform: str


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of ``git <args>`` run in ``cwd``, or None when git is missing, fails or times out."""
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git work tree containing ``directory``; ``(None, None)`` outside one."""
    commit = _git(["rev-parse", "--verify", "HEAD"], directory)
    if commit is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], directory)
    return commit, None if status is None else status != ""


def package_version(distribution: str) -> str | None:
    """Installed version of ``distribution``, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def collect_lineage(code_dir: Path | None = None) -> Lineage:
    """Lineage of the code in ``code_dir`` (default: the directory of the installed admet_hpo package)."""
    directory = code_dir if code_dir is not None else Path(__file__).resolve().parents[1]
    commit, dirty = git_state(directory)
    return Lineage(
        git_commit=commit,
        git_dirty=dirty,
        packages={name: package_version(name) for name in KEY_PACKAGES},
        python=sys.version.split()[0],
        platform=platform.platform(),
    )
