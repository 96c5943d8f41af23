"""Versioned Optuna study names: a changed search space starts a new study instead of crashing.

Optuna raises ``ValueError`` when a parameter's distribution changes inside an existing study (another
type, log flag or set of choices). The effective Optuna study name is therefore
``<study name>-<first 8 hex digits of the space hash>``: editing a search space gives a new name, so the
next ``hpo run`` creates a fresh study version beside the old one (which stays in the storage, intact,
for comparison), while re-running an unchanged space resumes the same study.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from admet_hpo.search.space import space_hash

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from admet_hpo.config.study import Study

VERSION_DIGITS = 8


def versioned_study_name(study: Study) -> str:
    """The Optuna study name of ``study``: ``<name>-<space_hash[:8]>``."""
    return f"{study.name}-{space_hash(study.space)[:VERSION_DIGITS]}"


def study_versions(study: Study, storage: str | BaseStorage) -> list[str]:
    """Names of every version of ``study`` present in ``storage``, sorted: each search-space version
    (``<name>-<space hash>``) and each data version of nightly sweeps (``<name>-d<data hash>-<space
    hash>``)."""
    import optuna

    digits = f"[0-9a-f]{{{VERSION_DIGITS}}}"
    pattern = re.compile(rf"{re.escape(study.name)}-(?:d{digits}-)?{digits}")
    return sorted(name for name in optuna.get_all_study_names(storage) if pattern.fullmatch(name))
