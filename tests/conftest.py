"""Shared fixtures: the location of the real public data beside the repository, when present."""

from __future__ import annotations

from collections.abc import Iterator
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
