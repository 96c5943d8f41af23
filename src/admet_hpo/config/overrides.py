"""Command-line overrides of training-config values: ``--set key.path=value`` (``hpo train``, ``hpo run``).

``key.path`` is a dotted path to one setting of :class:`~admet_hpo.config.TrainingConfig`, checked exactly
as a search-space ``path`` is (:func:`~admet_hpo.config.search_space.resolve_config_path`: a setting that
exists, not a section, not in ``data``, ``split`` or ``output_dir``). ``value`` is read as YAML, as in a
config file (``3``, ``0.5``, ``true``, ``null``, ``[high, low]``, ``{human: 0.7, rat: 0.3}``), and typed by
the setting's pydantic field; text that YAML reads as another type is kept as text when the setting
takes text (``--set sampling.batches.condition_col=2024`` names the column ``"2024"``). The overridden
config is validated as a whole, so cross-field rules still hold. Every problem is a
:class:`ConfigError` naming the ``--set``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.search_space import UNSEARCHABLE_SECTIONS, resolve_config_path
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError

if TYPE_CHECKING:
    from admet_hpo.config.study import Study


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key.path=value`` -> ``(key.path, typed value)``; a :class:`ConfigError` names what is wrong."""
    path, equals, raw = text.partition("=")
    path = path.strip()
    if not equals or not path:
        raise ConfigError(f"--set {text!r}: expected key.path=value, e.g. --set model.depth=4")
    if path.split(".")[0] in UNSEARCHABLE_SECTIONS:
        raise ConfigError(
            f"--set {path}: {', '.join(UNSEARCHABLE_SECTIONS)} cannot be set from the command line (they fix "
            "the data and split of a study); edit the config file"
        )
    try:
        leaf = resolve_config_path(path)
    except ValueError as exc:
        raise ConfigError(f"--set {path}: {exc}") from None
    try:
        parsed = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        parsed = raw
    candidates = [parsed] if isinstance(parsed, str) else [parsed, raw]
    for candidate in candidates:
        try:
            return path, leaf.typed(candidate)
        except ValidationError:
            continue
    raise ConfigError(f"--set {path}={raw}: not a valid {path}: {leaf.check_value(parsed)}")


def apply_overrides(config: TrainingConfig, assignments: Sequence[str], source: str) -> TrainingConfig:
    """``config`` with every ``--set`` assignment applied (a later one wins), validated as a whole;
    ``source`` names the config in errors."""
    if not assignments:
        return config
    data = config.model_dump()
    for assignment in assignments:
        path, value = parse_assignment(assignment)
        *sections, key = path.split(".")
        section = data
        for name in sections:
            section = section[name]
        section[key] = value
    settings = " ".join(f"--set {assignment}" for assignment in assignments)
    return validate_mapping(TrainingConfig, data, source=f"{source} with {settings}")


def override_study(study: Study, assignments: Sequence[str]) -> Study:
    """``study`` with the assignments applied to its base training config, which every trial starts
    from. A path the search space sets is an error: every trial would replace the value."""
    searched = {parameter.path: name for name, parameter in study.space.parameters.items()}
    for assignment in assignments:
        path, _ = parse_assignment(assignment)
        if path in searched:
            name = searched[path]
            raise ConfigError(
                f"--set {path}: searched by parameter {name!r} ({study.space.sources[name]}), so every "
                "trial sets it; change the search space instead"
            )
    base = apply_overrides(study.base_training, assignments, source=f"{study.source}: base training config")
    return dataclasses.replace(study, base_training=base)
