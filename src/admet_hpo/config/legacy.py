"""Legacy training-config keys from older ADMET configs, rewritten to the current schema.

Placeholder until the joint sampler issue lands the migration; today it passes mappings through.
"""

from __future__ import annotations

from typing import Any


def upgrade_legacy_training_mapping(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Return ``raw`` rewritten to the current schema (identity until legacy keys are defined)."""
    return raw
