"""The install files agree: pyproject.toml ranges, constraints.txt pins, README's and CI's commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DIRECT = [
    Requirement(line)
    for line in PROJECT["dependencies"]
    + [d for deps in PROJECT["optional-dependencies"].values() for d in deps]
]


def _pins() -> dict[str, Version]:
    """constraints.txt as canonical name -> pinned version (every non-comment line must be ``name==X``)."""
    pins: dict[str, Version] = {}
    for number, line in enumerate((REPO / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"line {number}: {line!r} is no pin"
        assert not requirement.extras and requirement.marker is None, f"line {number}: {line!r}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"line {number}: {name} pinned twice"
        pins[name] = Version(specifiers[0].version)
    return pins


PINS = _pins()


@pytest.mark.parametrize("requirement", DIRECT, ids=str)
def test_every_dependency_has_a_pin_inside_its_range(requirement: Requirement) -> None:
    name = canonicalize_name(requirement.name)
    assert name in PINS, f"{requirement} has no pin in constraints.txt"
    assert requirement.specifier.contains(PINS[name]), f"constraints.txt pins {name}=={PINS[name]}"
    assert requirement.specifier != SpecifierSet(f"=={PINS[name]}"), f"{requirement} is a pin, not a range"


def test_the_torch_range_admits_the_cpu_build_and_no_newer_torch() -> None:
    torch = next(r for r in DIRECT if r.name == "torch")
    pinned = PINS["torch"]
    assert torch.specifier.contains(f"{pinned}+cpu")
    newer = [f"{pinned.major}.{pinned.minor}.{pinned.micro + 1}", f"{pinned.major}.{pinned.minor + 1}.0"]
    assert not any(torch.specifier.contains(version, prereleases=True) for version in newer)


def test_python_311_and_newer_are_allowed() -> None:
    allowed = SpecifierSet(PROJECT["requires-python"])
    assert allowed.contains("3.11.7") and allowed.contains("3.12.0") and allowed.contains("3.13.1")
    assert not allowed.contains("3.10.14")


def _readme_install_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"\.venv/bin/pip install ([^&\n]*-e [^&\n]*)", text)


def test_readme_and_ci_install_with_the_constraints() -> None:
    readme = _readme_install_commands()
    assert len(readme) == 2, readme  # the quickstart and the tests
    assert all(
        command.split()[:3] in (["-c", "constraints.txt", "-e"], ["-q", "-c", "constraints.txt"])
        for command in readme
    ), readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    tests_command = next(line for line in readme if "[dev]" in line)
    assert f".venv/bin/pip install {tests_command}" in ci


def test_readme_gives_the_cpu_torch_command_of_the_pinned_torch() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"pip install --index-url https://download.pytorch.org/whl/cpu torch=={PINS['torch']}" in readme
