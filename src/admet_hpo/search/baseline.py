"""The baseline trial: a study's base training config itself, enqueued as its first trial.

A tuned model is only worth something against what the user would have trained anyway, so every study
(unless its file says ``baseline: false``) first trains its base training config. The baseline trial
holds the base config's value of every active search-space parameter (:func:`baseline_params`) and the
trial user attribute :data:`~admet_hpo.tracking.keys.BASELINE_ATTR` = ``True``; on a fresh study it is
trial 0. Because it is one of the study's trials, the study's best is never worse than the baseline on
the study metric (unless the pruner stops the baseline).

Representing the base config. For each parameter whose ``when:`` holds for the baseline's values:

- ``float`` / ``int``: the base value, which must lie in ``[low, high]`` (and on the ``step`` grid);
- ``categorical``: the base value, which must be one of the choices (``True`` is not ``1``);
- ``simplex``: the base mapping's shares, normalised (a base of ``null``, "equal shares", gives equal
  shares over the simplex keys); its keys must be the simplex's keys and every share positive. The raw
  float of key ``k`` is ``exp(-share_k)``, which the simplex construction maps back to ``share_k`` (to
  rounding).

A base value that cannot be represented this way (outside the bounds, off the grid, not a choice, a
``null`` number, a zero share, other keys) means the space does not contain the base config: then there
is no baseline trial (it would not be the base config), and the problem is reported as a warning by
``hpo validate`` and ``hpo run``, naming the parameter, its base value and what the space allows (widen
the space to include it, or set ``baseline: false``). A study file that asks for ``baseline: true``
explicitly makes it an error instead.

Enqueueing (:func:`enqueue_baseline`) happens once, when the study is prepared, under the study lock, so
resuming a study or several launchers on one storage never add a second baseline: a baseline trial that
is waiting, running, complete or pruned is kept; one that failed (Ctrl-C, error) is enqueued again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from admet_hpo.config.search_space import (
    AnyParameter,
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    SearchSpace,
)
from admet_hpo.errors import ConfigError
from admet_hpo.search.space import SIMPLEX_RAW_HIGH, SIMPLEX_RAW_LOW
from admet_hpo.tracking.keys import BASELINE_ATTR, simplex_raw_name

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig

log = logging.getLogger(__name__)

#: Relative tolerance for a float base value on a parameter's ``step`` grid.
GRID_RTOL = 1e-9


class UnrepresentableError(ValueError):
    """A base value that no trial of the parameter can take; the message says what the space allows."""


def _base_value(base: TrainingConfig, path: str) -> Any:
    value: Any = base
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _number(value: Any, parameter: FloatParameter | IntParameter) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnrepresentableError(f"a {parameter.type} parameter cannot hold it")
    if isinstance(parameter, IntParameter):
        if not float(value).is_integer():
            raise UnrepresentableError("an int parameter holds whole numbers only")
        value = int(value)
    low, high, step = parameter.low, parameter.high, parameter.step
    if not low <= value <= high:
        raise UnrepresentableError(f"outside [{low}, {high}]")
    if step is not None:
        intervals = (value - low) / step
        if abs(intervals - round(intervals)) > GRID_RTOL * max(1.0, abs(intervals)):
            raise UnrepresentableError(f"not on the grid {low}, {low + step}, ... (step {step})")
    return value if isinstance(parameter, IntParameter) else float(value)


def _choice(value: Any, parameter: CategoricalParameter) -> Any:
    for choice in parameter.choices:
        if isinstance(value, bool) == isinstance(choice, bool) and value == choice:
            return choice
    raise UnrepresentableError(f"not one of the choices {parameter.choices}")


def _simplex_raw(value: Any, keys: list[str]) -> dict[str, float]:
    shares = dict.fromkeys(keys, 1.0) if value is None else dict(value)
    if set(shares) != set(keys):
        raise UnrepresentableError(f"its keys {sorted(shares)} are not the simplex keys {sorted(keys)}")
    total = sum(shares.values())
    raw = {key: math.exp(-shares[key] / total) for key in keys}
    if not all(SIMPLEX_RAW_LOW <= u <= SIMPLEX_RAW_HIGH for u in raw.values()):
        raise UnrepresentableError("every share of a simplex is positive (a share of 0 cannot be sampled)")
    return raw


def _optuna_params(name: str, parameter: AnyParameter, value: Any) -> tuple[Any, dict[str, Any]]:
    """The value :func:`~admet_hpo.search.space.suggest` would return and the Optuna params giving it."""
    if isinstance(parameter, FloatParameter | IntParameter):
        number = _number(value, parameter)
        return number, {name: number}
    if isinstance(parameter, CategoricalParameter):
        choice = _choice(value, parameter)
        return choice, {name: choice}
    raw = _simplex_raw(value, parameter.keys)
    return value, {simplex_raw_name(name, key): u for key, u in raw.items()}


def baseline_params(base: TrainingConfig, space: SearchSpace) -> tuple[dict[str, Any], list[str]]:
    """The Optuna params of the baseline trial of ``space`` over ``base``, and the problems (one message
    per parameter whose base value the space cannot hold, see the module docstring; the params are only
    meaningful when there is none). Parameters whose ``when:`` does not hold are left out, as in
    :func:`~admet_hpo.search.space.suggest`."""
    params: dict[str, Any] = {}
    values: dict[str, Any] = {}
    problems = []
    for name, parameter in space.parameters.items():
        when = parameter.when
        if when is not None and (when.param not in values or not when.holds(values[when.param])):
            continue
        value = _base_value(base, parameter.path)
        try:
            values[name], optuna_params = _optuna_params(name, parameter, value)
        except UnrepresentableError as exc:
            problems.append(
                f"{space.sources[name]}: parameters.{name}: the base config's {parameter.path} = {value!r} "
                f"is not in the space ({exc})"
            )
            continue
        params |= optuna_params
    return params, problems


def baseline_warnings(study: Study) -> list[str]:
    """Why ``study`` will have no baseline trial although it wants one (empty when it will have one, or
    when ``baseline: false``). A study file that sets ``baseline: true`` explicitly gets a
    :class:`ConfigError` instead."""
    if not study.config.baseline:
        return []
    _, problems = baseline_params(study.base_training, study.space)
    if not problems:
        return []
    remedy = "include the base value in the space, or set baseline: false"
    if "baseline" in study.config.model_fields_set:
        raise ConfigError(
            f"{study.source}: baseline: the base training config is not a point of the search space: "
            + "; ".join(problems)
            + f" ({remedy})"
        )
    return [f"no baseline trial: {problem} ({remedy})" for problem in problems]


def find_baseline(trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The study's baseline trial: the last one marked :data:`BASELINE_ATTR` that did not fail (the
    first re-queued copy after a failure), else the last failed one; None when there is none."""
    marked = [t for t in trials if t.user_attrs.get(BASELINE_ATTR) is True]
    alive = [t for t in marked if t.state != TrialState.FAIL]
    return (alive or marked or [None])[-1]


def enqueue_baseline(optuna_study: optuna.Study, study: Study) -> int | None:
    """Enqueue the baseline trial of ``study`` unless it has one already that did not fail (see the
    module docstring); returns the new trial's number, or None when nothing was enqueued. The caller holds
    the study lock (:func:`admet_hpo.orchestration.runner.prepare_study`), so workers preparing at once
    enqueue it once. Warnings of :func:`baseline_warnings` are logged."""
    for warning in baseline_warnings(study):
        log.warning("%s", warning)
    if not study.config.baseline:
        return None
    params, problems = baseline_params(study.base_training, study.space)
    if problems:
        return None
    existing = find_baseline(optuna_study.get_trials(deepcopy=False))
    if existing is not None and existing.state != TrialState.FAIL:
        return None
    optuna_study.enqueue_trial(params, user_attrs={BASELINE_ATTR: True})
    waiting = optuna_study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return find_baseline(waiting).number  # type: ignore[union-attr]
