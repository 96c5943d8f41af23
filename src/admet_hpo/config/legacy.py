"""Legacy training-config keys from older ADMET configs, rewritten to the current schema.

- ``optimization.task_sampling_alpha: A`` -> ``sampling.task_oversampling: {enabled: true, alpha: A}``
  (a null alpha -> ``{enabled: false}``); an ``optimization`` block left empty is dropped.
- a top-level ``curriculum: {...}`` -> ``sampling.curriculum: {enabled: true, ...}`` (an explicit
  ``enabled`` in the block is kept).

A file that sets both a legacy key and its replacement is rejected: which one wins would be a guess.
Loading a legacy file emits a :class:`DeprecationWarning` per legacy key naming the file and the new
key; ``hpo config migrate`` rewrites the file.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

from admet_hpo.errors import ConfigError


@dataclass(frozen=True)
class LegacyRewrite:
    """One legacy key moved to its current place."""

    old: str
    new: str


def _sampling_block(data: dict[str, Any], source: str) -> dict[str, Any]:
    block = data.get("sampling")
    if block is None:
        block = data["sampling"] = {}
    if not isinstance(block, dict):
        raise ConfigError(f"{source}: sampling: expected a mapping, got {type(block).__name__}")
    return block


def _conflict(source: str, old: str, new: str) -> ConfigError:
    return ConfigError(
        f"{source}: both the deprecated key '{old}' and its replacement '{new}' are set; keep only '{new}'"
    )


def rewrite_legacy_keys(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], list[LegacyRewrite]]:
    """A copy of ``raw`` with legacy keys moved to the current schema, and the list of moves made."""
    data = copy.deepcopy(raw)
    rewrites: list[LegacyRewrite] = []
    optimization = data.get("optimization")
    if isinstance(optimization, dict) and "task_sampling_alpha" in optimization:
        old, new = "optimization.task_sampling_alpha", "sampling.task_oversampling"
        sampling = _sampling_block(data, source)
        if "task_oversampling" in sampling:
            raise _conflict(source, old, new)
        alpha = optimization.pop("task_sampling_alpha")
        sampling["task_oversampling"] = (
            {"enabled": False} if alpha is None else {"enabled": True, "alpha": alpha}
        )
        if not optimization:
            del data["optimization"]
        rewrites.append(LegacyRewrite(old, new))
    if "curriculum" in data:
        old, new = "curriculum", "sampling.curriculum"
        sampling = _sampling_block(data, source)
        if "curriculum" in sampling:
            raise _conflict(source, old, new)
        block = data.pop("curriculum")
        block = {} if block is None else block
        if not isinstance(block, dict):
            raise ConfigError(f"{source}: curriculum: expected a mapping, got {type(block).__name__}")
        sampling["curriculum"] = {"enabled": True, **block}
        rewrites.append(LegacyRewrite(old, new))
    return data, rewrites


def upgrade_legacy_training_mapping(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Return ``raw`` rewritten to the current schema, warning once per legacy key found."""
    data, rewrites = rewrite_legacy_keys(raw, source)
    for rewrite in rewrites:
        warnings.warn(
            f"{source}: '{rewrite.old}' is deprecated; use '{rewrite.new}' "
            f"(`hpo config migrate {source}` rewrites the file)",
            DeprecationWarning,
            stacklevel=2,
        )
    return data
