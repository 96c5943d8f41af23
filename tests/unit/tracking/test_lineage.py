"""Git state and package versions for run lineage."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from admet_hpo.tracking.lineage import KEY_PACKAGES, collect_lineage, git_state, package_version

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@needs_git
def test_git_state_reports_commit_and_dirtiness(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    sub = tmp_path / "sub"
    sub.mkdir()

    assert git_state(sub) == (head, False)
    (tmp_path / "untracked.txt").write_text("ignored\n")
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == (head, True)


@needs_git
def test_git_state_is_none_outside_a_work_tree_or_before_the_first_commit(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    assert git_state(outside) == (None, None)
    assert git_state(tmp_path / "empty") == (None, None)


def test_git_state_without_git_does_not_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert git_state(tmp_path) == (None, None)


def test_package_versions() -> None:
    assert package_version("optuna") is not None
    assert package_version("surely-not-an-installed-distribution") is None


def test_collect_lineage_covers_key_packages(tmp_path: Path) -> None:
    lineage = collect_lineage(tmp_path)
    assert set(lineage.packages) == set(KEY_PACKAGES)
    assert lineage.packages["admet-hpo"] is not None
    assert lineage.python == sys.version.split()[0]
    assert lineage.platform
