"""Shared fixtures: the location of the real public data beside the repository, when present."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` (real Biogen and AstraZeneca files); tests using it skip on a plain clone."""
    if not (SHARED_DATA_DIR / "ADME_public_set_3521.csv").is_file():
        pytest.skip(f"real public data not found at {SHARED_DATA_DIR} (only present beside the dev checkout)")
    return SHARED_DATA_DIR
