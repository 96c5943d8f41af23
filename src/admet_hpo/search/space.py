"""From a search space to Optuna suggestions and back to a training config.

- :func:`suggest` asks an Optuna trial for every active parameter of a space, in an order where a
  ``when:`` condition is always evaluated after the parameter it tests; an inactive parameter is neither
  suggested nor returned.
- :func:`apply_parameters` writes suggested values into a copy of the base training config at their
  dotted paths and validates the result.
- :func:`space_hash` identifies a space definition; the study name carries it (see
  :mod:`admet_hpo.search.versioning`).

Simplex parameters (ratio vectors) use the exponential-spacings construction of a uniform Dirichlet:
for each key ``k`` the trial suggests a raw float ``u_k`` in ``[SIMPLEX_RAW_LOW, SIMPLEX_RAW_HIGH]`` under
the Optuna name ``<parameter>.<key>.raw``, and the applied value is ``share_k = -ln(u_k) / sum_j -ln(u_j)``.
With ``u_k`` uniform the shares are uniform on the simplex (Dirichlet(1, ..., 1)); the bounds keep every
share strictly positive and the sum finite. Optuna stores and models the raw floats; the config gets the
normalised mapping (shares summing to 1).

Values shown are values used: the objective records each applied share as the trial user attribute
``<parameter>.<key>`` (:func:`simplex_share_attrs`), and :func:`trial_parameters` gives a trial's
parameters with every raw draw replaced by that share, which is what ``hpo status``, ``hpo best``, the
dashboard notes, MLflow params and the plots show. The raw draws stay visible under their ``.raw`` names
(Optuna's own params, and MLflow params of the same name).

Enabling semantics: a parameter sets one value and never switches a sampler component on. Setting
``sampling.task_oversampling.alpha`` has no effect unless ``sampling.task_oversampling.enabled`` is true
in the base training config or is itself searched (typically a categorical ``[true, false]`` with the
dependent parameters conditioned on it by ``when:``). :func:`ineffective_parameters` lists parameters
that can never take effect under a base config.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from admet_hpo.config.loading import format_validation_error
from admet_hpo.config.search_space import AnyParameter, SearchSpace, SimplexParameter
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError
from admet_hpo.tracking.keys import simplex_raw_name, simplex_share_name

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

SIMPLEX_RAW_LOW = 1e-6
SIMPLEX_RAW_HIGH = 1.0 - 1e-6
#: Part of a simplex parameter's hashed definition: how it is stored in Optuna. Studies stored before the
#: raw draws were named ``<parameter>.<key>.raw`` open as another study version instead of mixing names.
SIMPLEX_ENCODING = "exponential-spacings; optuna params <parameter>.<key>.raw"

#: Settings that only matter when a switch is on: (path prefix, switch path).
_SWITCHES = (
    ("sampling.task_oversampling.", "sampling.task_oversampling.enabled"),
    ("sampling.curriculum.", "sampling.curriculum.enabled"),
    ("sampling.batches.leaky", "sampling.batches.experiment_aware"),
    ("sampling.batches.experiment_weights", "sampling.batches.experiment_aware"),
    ("sampling.batches.condition_ratio", "sampling.batches.condition_balanced"),
)


def simplex_shares(raw: Mapping[str, float]) -> dict[str, float]:
    """Normalised shares ``-ln(u_k) / sum_j -ln(u_j)`` from raw floats in ``(0, 1)`` (see module doc)."""
    spacings = {key: -math.log(value) for key, value in raw.items()}
    total = sum(spacings.values())
    return {key: spacing / total for key, spacing in spacings.items()}


def _suggest_one(trial: BaseTrial, name: str, parameter: AnyParameter) -> Any:
    if parameter.type == "float":
        return trial.suggest_float(
            name, parameter.low, parameter.high, log=parameter.log, step=parameter.step
        )
    if parameter.type == "int":
        return trial.suggest_int(name, parameter.low, parameter.high, log=parameter.log, step=parameter.step)
    if parameter.type == "categorical":
        return trial.suggest_categorical(name, parameter.choices)
    raw = {
        key: trial.suggest_float(simplex_raw_name(name, key), SIMPLEX_RAW_LOW, SIMPLEX_RAW_HIGH)
        for key in parameter.keys
    }
    return simplex_shares(raw)


def suggest(trial: BaseTrial, space: SearchSpace) -> dict[str, Any]:
    """Suggest every active parameter of ``space``; returns parameter name -> value to apply.

    A parameter whose ``when:`` does not hold (or tests a parameter that is itself inactive) is skipped:
    it is absent from the result and from the trial's parameters, so the base config's value stays.
    """
    values: dict[str, Any] = {}
    for name, parameter in space.parameters.items():
        when = parameter.when
        if when is not None and (when.param not in values or not when.holds(values[when.param])):
            continue
        values[name] = _suggest_one(trial, name, parameter)
    return values


def values_from_params(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """The values a trial applied, rebuilt from its stored Optuna ``params`` (e.g. ``FrozenTrial.params``).

    Replays :func:`suggest` on an ``optuna.trial.FixedTrial``, so ``when:`` conditions and simplex
    normalisation give exactly what the original trial applied. Parameters stored by another space
    version are an error.
    """
    from optuna.trial import FixedTrial

    try:
        return suggest(FixedTrial(dict(params)), space)
    except ValueError as exc:
        raise ConfigError(f"stored trial parameters do not fit this search space: {exc}") from None


def simplex_share_attrs(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, float]:
    """The applied share of every key of every simplex parameter in ``values`` (as returned by
    :func:`suggest`), under :func:`~admet_hpo.tracking.keys.simplex_share_name` names: what the objective
    stores as user attributes."""
    return {
        simplex_share_name(name, key): float(share)
        for name, value in values.items()
        if isinstance(space.parameters.get(name), SimplexParameter)
        for key, share in value.items()
    }


def _set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    *sections, leaf = path.split(".")
    for section in sections:
        data = data[section]
    data[leaf] = dict(value) if isinstance(value, Mapping) else value


def apply_parameters(base: TrainingConfig, space: SearchSpace, values: Mapping[str, Any]) -> TrainingConfig:
    """A copy of ``base`` with each value written at its parameter's dotted path, validated as a whole.

    ``values`` maps parameter names of ``space`` to values (as returned by :func:`suggest`). A name that
    is not in the space, or a combination the training config rejects, is a :class:`ConfigError`.
    """
    unknown = [name for name in values if name not in space.parameters]
    if unknown:
        raise ConfigError(
            f"values for unknown search-space parameters {unknown}; parameters: {', '.join(space.parameters)}"
        )
    data = base.model_dump()
    for name, value in values.items():
        _set_dotted(data, space.parameters[name].path, value)
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        settings = ", ".join(f"{space.parameters[name].path}={value!r}" for name, value in values.items())
        raise ConfigError(
            f"the sampled values ({settings}) make the training config invalid:\n"
            + format_validation_error("training config", exc)
        ) from None


def _canonical(parameter: AnyParameter) -> dict[str, Any]:
    definition = parameter.model_dump(mode="json", by_alias=True, exclude={"description", "when"})
    if isinstance(parameter, SimplexParameter):
        definition["keys"] = sorted(parameter.keys)
        definition["encoding"] = SIMPLEX_ENCODING
    if parameter.when is not None:
        allowed = sorted(parameter.when.allowed, key=lambda value: json.dumps(value))
        definition["when"] = {"param": parameter.when.param, "in": allowed}
    return definition


def space_hash(space: SearchSpace) -> str:
    """12 hex digits of the SHA-256 of the space's normalised definition.

    Independent of parameter order, file layout, simplex key order, descriptions and of writing a
    default out or not (``log: false``, ``1`` vs ``1.0`` for a float bound); any change to a name, path,
    type, bound, log flag, step, choice (including choice order, which Optuna distinguishes) or
    ``when:`` changes it, and so does the way simplex parameters are stored (:data:`SIMPLEX_ENCODING`).
    """
    canonical = {name: _canonical(parameter) for name, parameter in space.parameters.items()}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _get_dotted(config: TrainingConfig, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def ineffective_parameters(base: TrainingConfig, space: SearchSpace) -> list[str]:
    """One message per parameter that no trial can make matter: its component is off in ``base`` and
    the component's switch is not searched (e.g. ``alpha`` while task oversampling is disabled)."""
    searched = {parameter.path for parameter in space.parameters.values()}
    messages = []
    for name, parameter in space.parameters.items():
        for prefix, switch in _SWITCHES:
            governed = parameter.path.startswith(prefix) and parameter.path != switch
            if governed and switch not in searched and _get_dotted(base, switch) is False:
                messages.append(
                    f"{space.sources[name]}: parameters.{name}: sets {parameter.path}, but {switch} is "
                    "false in the base training config and not searched, so no trial uses it"
                )
    return messages
