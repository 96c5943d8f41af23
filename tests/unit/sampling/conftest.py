"""Fixtures for the sampler tests."""

from __future__ import annotations

import pytest

from .synthetic import Split, make_split


@pytest.fixture(scope="session")
def split() -> Split:
    """A 3,000-row split: four tasks from common to rare, 5% unlabelled rows, 3 qualities, 4 experiments."""
    return make_split()
