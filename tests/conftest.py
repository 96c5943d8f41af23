"""Shared fixtures: the location of the real public data beside the repository, when present."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SHARED_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` (real Biogen and AstraZeneca files); tests using it skip on a plain clone."""
    if not (SHARED_DATA_DIR / "ADME_public_set_3521.csv").is_file():
        pytest.skip(f"real public data not found at {SHARED_DATA_DIR} (only present beside the dev checkout)")
    return SHARED_DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the product's data/feature cache at a per-session temporary folder (never ~/.cache)."""
    cache = tmp_path_factory.mktemp("admet-hpo-cache")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("ADMET_HPO_CACHE", str(cache))
    yield cache
    patcher.undo()


#: Variables that move a study's storage, tracking store and outputs (flag > environment > study file).
LOCATION_VARIABLES = ("ADMET_HPO_STORAGE", "MLFLOW_TRACKING_URI", "ADMET_HPO_OUTPUT")


@pytest.fixture(autouse=True)
def no_location_variables() -> Iterator[None]:
    """Every test starts and ends without the location variables: one that sets them (or a library that
    does, as ``mlflow.set_tracking_uri`` sets ``MLFLOW_TRACKING_URI``) cannot move another test's study."""
    for name in LOCATION_VARIABLES:
        os.environ.pop(name, None)
    yield
    for name in LOCATION_VARIABLES:
        os.environ.pop(name, None)


@pytest.fixture
def forget_molecules() -> Iterator[Callable[[], None]]:
    """For tests that count what a cache computes: the in-process molecule caches start and end empty,
    and the fixture's value empties them again mid-test (as a new process would find them)."""
    from admet_hpo.data.molecule_cache import clear_memory

    clear_memory()
    yield clear_memory
    clear_memory()
