"""The Optuna sampler and pruner a study file asks for.

``args`` of a sampler or pruner are passed as keyword arguments to the Optuna class; a name the class
does not take, or a value it rejects, is a :class:`ConfigError` naming the study file and key. The
``gp`` sampler needs scipy and torch, the ``cmaes`` sampler the ``cmaes`` package; a missing one is
reported when the sampler is built. ``gp`` and ``cmaes`` model float and int parameters that every trial
has; categorical parameters and parameters behind a ``when:`` go to their independent (random) sampler.
"""

from __future__ import annotations

import collections.abc
import importlib.util
import inspect
import math
import sys
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from admet_hpo.config.base import BOOL_FOR_NUMBER, numbers_only
from admet_hpo.errors import ConfigError, shown

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

    from admet_hpo.config.study import PrunerConfig, Study

#: sampler type -> (class name in optuna.samplers, Python packages it needs beyond optuna)
SAMPLER_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "tpe": ("TPESampler", ()),
    "random": ("RandomSampler", ()),
    "gp": ("GPSampler", ("scipy", "torch")),
    "cmaes": ("CmaEsSampler", ("cmaes",)),
}
#: pruner type -> class name in optuna.pruners
PRUNER_CLASSES = {
    "median": "MedianPruner",
    "hyperband": "HyperbandPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "patient": "PatientPruner",
    "none": "NopPruner",
}


def _annotation(cls: type, parameter: inspect.Parameter) -> Any:
    """The type of ``cls``'s ``parameter``: Optuna's annotations are strings (postponed evaluation),
    resolved in its module with ``typing`` and ``collections.abc`` names; ``None`` when it names a type
    that only exists for type checkers (then no value from a file can be that type anyway)."""
    if not isinstance(parameter.annotation, str):
        return None if parameter.annotation is inspect.Parameter.empty else parameter.annotation
    namespace = {**vars(collections.abc), **vars(typing), **vars(sys.modules[cls.__module__])}
    try:
        return eval(parameter.annotation, namespace)  # an annotation from Optuna's source
    except (NameError, AttributeError, SyntaxError, TypeError):
        return None


def _checked_arguments(
    cls: type, kwargs: dict[str, Any], reserved: Mapping[str, str], source: Path, key: str
) -> dict[str, Any]:
    """``kwargs`` checked against ``cls``'s signature: names it takes (``reserved`` maps arguments set by
    own keys to those keys) and values of the annotated types (no boolean for a number, no ``banana``
    for an int), so a wrong value fails here, not when a trial asks the sampler. Returns the values as
    validated (``"10"`` becomes ``10``)."""
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }
    checked = {}
    for name, value in kwargs.items():
        where = f"{source}: {key}.args.{name}"
        if name in reserved:
            raise ConfigError(f"{where}: set it as {key}.{reserved[name]}, not in args")
        if name not in parameters:
            settable = ", ".join(arg for arg in parameters if arg not in reserved) or "none"
            raise ConfigError(f"{where}: not an argument of optuna {cls.__name__} (accepted: {settable})")
        expected = parameters[name].annotation
        expected = expected if isinstance(expected, str) else getattr(expected, "__name__", str(expected))
        annotation = _annotation(cls, parameters[name])
        if annotation is None:
            raise ConfigError(
                f"{where}: optuna {cls.__name__} expects a Python object ({expected}) that a study file "
                "cannot give"
            )
        if isinstance(value, bool) and numbers_only(annotation):
            raise ConfigError(f"{where}: {BOOL_FOR_NUMBER} (optuna {cls.__name__} expects {expected})")
        try:
            adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
            checked[name] = adapter.validate_python(value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ConfigError(
                f"{where}: {problem} (optuna {cls.__name__} expects {expected}; got {shown(value)})"
            ) from None
    return checked


def _instantiate(cls: type, kwargs: dict[str, Any], source: Path, key: str) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{source}: {key}.args: optuna {cls.__name__} rejected {shown(kwargs)}: {shown(str(exc), 200)}"
        ) from None


def build_sampler(study: Study, *, worker_index: int = 0) -> BaseSampler:
    """The study's sampler; with a seed, worker ``i`` gets ``seed + i`` so workers do not draw alike."""
    import optuna

    class_name, packages = SAMPLER_CLASSES[study.sampler.type]
    missing = [package for package in packages if importlib.util.find_spec(package) is None]
    if missing:
        raise ConfigError(
            f"{study.source}: sampler.type: {study.sampler.type} needs the Python package(s) "
            f"{', '.join(missing)}, which are not installed (pip install {' '.join(missing)})"
        )
    cls = getattr(optuna.samplers, class_name)
    kwargs = _checked_arguments(cls, study.sampler.args, {"seed": "seed"}, study.source, "sampler")
    seed = None if study.sampler.seed is None else study.sampler.seed + worker_index
    return _instantiate(cls, {**kwargs, "seed": seed}, study.source, "sampler")


#: The reduction factor of successive halving / Hyperband when the study file sets none (Optuna's default):
#: a third of the trials reaching a rung go on to the next.
REDUCTION_FACTOR = 3
#: Rungs below the full epoch budget in the most aggressive Hyperband bracket, when the epochs allow.
RUNGS_BELOW_MAX = 3


def multi_fidelity_arguments(pruner_type: str, max_epochs: int, warmup_epochs: int) -> dict[str, int]:
    """The resources of a ``hyperband`` or ``successive_halving`` pruner derived from the trials' epochs.

    A trial reports its metric at steps 0, 1, ..., ``max_epochs - 1`` (step = epoch index). The first
    rung, ``min_resource``, is the step at which ``max_epochs`` is :data:`RUNGS_BELOW_MAX` reductions
    away (``ceil(max_epochs / 3**3)``), but not before the learning-rate warm-up has ended
    (``warmup_epochs``) and at least step 1; rungs follow at ``min_resource * 3**k``. Hyperband's
    ``max_resource`` is ``max_epochs``, so its brackets number ``floor(log3(max_epochs / min_resource)) + 1``
    (from full successive halving down to no early stop). Other pruner types get no derived arguments.
    """
    if pruner_type not in ("hyperband", "successive_halving"):
        return {}
    first_rung = max(1, warmup_epochs, math.ceil(max_epochs / REDUCTION_FACTOR**RUNGS_BELOW_MAX))
    derived = {"min_resource": min(first_rung, max(max_epochs - 1, 1)), "reduction_factor": REDUCTION_FACTOR}
    if pruner_type == "hyperband":
        derived["max_resource"] = max_epochs
    return derived


def _pruner(config: PrunerConfig, epochs: tuple[int, int], source: Path, key: str) -> BasePruner:
    import optuna

    cls = getattr(optuna.pruners, PRUNER_CLASSES[config.type])
    if config.type != "patient":
        kwargs = _checked_arguments(cls, config.args, {}, source, key)
        return _instantiate(cls, {**multi_fidelity_arguments(config.type, *epochs), **kwargs}, source, key)
    reserved = {"patience": "patience", "wrapped_pruner": "wrapped"}
    kwargs = _checked_arguments(cls, config.args, reserved, source, key)
    wrapped = None if config.wrapped is None else _pruner(config.wrapped, epochs, source, f"{key}.wrapped")
    return _instantiate(cls, {**kwargs, "wrapped_pruner": wrapped, "patience": config.patience}, source, key)


def _decides_at(config: PrunerConfig, epochs: tuple[int, int]) -> Callable[[int], bool]:
    args = {**multi_fidelity_arguments(config.type, *epochs), **config.args}
    if config.type == "none":
        return lambda step: False
    if config.type == "median":
        warmup, interval = int(args.get("n_warmup_steps", 0)), int(args.get("interval_steps", 1))
        return lambda step: step >= warmup and (step - warmup) % interval == 0
    if config.type in ("successive_halving", "hyperband") and isinstance(args.get("min_resource"), int):
        first = args["min_resource"] * args["reduction_factor"] ** int(args.get("min_early_stopping_rate", 0))
        eta = args["reduction_factor"]
        return lambda step: step >= first and step % first == 0 and _is_power(step // first, eta)
    return lambda step: True  # patient (counts every step), or resources Optuna estimates itself


def _is_power(value: int, base: int) -> bool:
    """Whether ``value`` is ``base ** k`` for some k >= 0."""
    while value > 1 and value % base == 0:
        value //= base
    return value == 1


def pruning_steps(study: Study) -> Callable[[int], bool]:
    """The steps at which the study's pruner can decide to prune, so that a trial asks it (a storage read
    of its trial, and for most pruners of the study's trials) only there; it still reports every step.

    ``none`` never decides; ``median`` at steps ``>= n_warmup_steps`` on its ``interval_steps`` grid;
    ``successive_halving`` and ``hyperband`` at the rungs ``min_resource * reduction_factor**k`` (every
    Hyperband bracket's rungs lie on that grid; successive halving starts at its
    ``min_early_stopping_rate``); ``patient`` and pruners that estimate their resources at every step.
    Asking only there gives the same decisions as asking every step (tested against Optuna's pruners).
    """
    trainer, optim = study.base_training.trainer, study.base_training.optim
    return _decides_at(study.pruner, (trainer.max_epochs, optim.warmup_epochs))


def build_pruner(study: Study) -> BasePruner:
    """The study's pruner (``patient`` wraps its ``wrapped`` pruner; ``none`` never prunes).

    ``hyperband`` and ``successive_halving`` get their resources from the base training config's epochs
    (:func:`multi_fidelity_arguments`) unless the study file's ``args`` set them.
    """
    trainer, optim = study.base_training.trainer, study.base_training.optim
    return _pruner(study.pruner, (trainer.max_epochs, optim.warmup_epochs), study.source, "pruner")
