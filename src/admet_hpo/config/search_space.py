"""Search-space files: typed parameter definitions, checked against the training config they set.

A search-space YAML file has one required key, ``parameters``: a mapping from a parameter name to its
definition. Every definition names a dotted ``path`` into :class:`~admet_hpo.config.TrainingConfig` (the
setting it samples), a ``type`` (``float``, ``int``, ``categorical`` or ``simplex``) with that type's
bounds or choices, and optionally a ``when:`` condition on another parameter of the same file.

Everything that can be checked without sampling is checked at load time, and every problem is reported
with the file and the key: a path that is not a searchable setting, a type the setting cannot hold,
bounds the setting rejects, ``low >= high``, ``log`` with a non-positive ``low``, a step that does not
fit the range, empty or repeated choices, a simplex with fewer than two keys, a ``when:`` on an unknown
parameter (or one that can never hold, or a cycle), and two parameters setting the same path. Several
files combine into one :class:`SearchSpace`; a parameter name or path defined in two files is an error
naming both files.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from admet_hpo.config.base import StrictModel
from admet_hpo.config.loading import format_validation_error, read_yaml_mapping
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError

#: Top-level training-config sections that a search may not change: data and split are fixed per study
#: (every trial must see the same split), and output locations are chosen by the runner.
UNSEARCHABLE_SECTIONS = ("data", "split", "output_dir")

ParameterName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
Scalar = bool | int | float | str | None


# --- the training config as a tree of searchable settings ------------------------------------------------


@dataclass(frozen=True)
class ConfigLeaf:
    """One settable value of the training config: its dotted path and pydantic field."""

    path: str
    field: FieldInfo

    @property
    def kinds(self) -> frozenset[str]:
        """Value kinds the field accepts: ``bool``, ``int``, ``float``, ``str``, ``none``, ``ratios``, ..."""
        return _value_kinds(self.field.annotation)

    def typed(self, value: Any) -> Any:
        """``value`` converted as the setting's field converts it (e.g. ``"1e-3"`` to a float); a pydantic
        ``ValidationError`` when it is not valid for the setting."""
        return _field_adapter(self.path).validate_python(value)

    def check_value(self, value: Any, *, strict: bool = False) -> str | None:
        """Why ``value`` is not valid for this setting (its type and constraints), or None when it is."""
        try:
            _field_adapter(self.path).validate_python(value, strict=strict)
        except ValidationError as exc:
            return "; ".join(problem["msg"] for problem in exc.errors())
        return None


def _value_kinds(annotation: Any) -> frozenset[str]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _value_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_value_kinds(arg) for arg in get_args(annotation)))
    if origin is Literal:
        return frozenset(_scalar_kind(value) for value in get_args(annotation))
    if origin is dict:
        value_type = get_args(annotation)[1]
        return frozenset({"ratios"}) if value_type in (float, int) else frozenset({"mapping"})
    if origin in (list, tuple):
        return frozenset({"sequence"})
    if annotation is type(None):
        return frozenset({"none"})
    if annotation in (bool, int, float, str):
        return frozenset({annotation.__name__})
    return frozenset({"other"})


def _scalar_kind(value: Any) -> str:
    return "none" if value is None else type(value).__name__


def _section_model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def resolve_config_path(path: str) -> ConfigLeaf:
    """The training-config setting at dotted ``path``; ValueError says which part does not exist."""
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise ValueError("not a dotted path (expected e.g. 'model.depth')")
    if parts[0] in UNSEARCHABLE_SECTIONS:
        raise ValueError(
            f"{parts[0]!r} cannot be searched: {', '.join(UNSEARCHABLE_SECTIONS)} are fixed for a whole study"
        )
    model: type[BaseModel] = TrainingConfig
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the training config"
        if part not in model.model_fields:
            keys = ", ".join(
                name for name in model.model_fields if not (depth == 0 and name in UNSEARCHABLE_SECTIONS)
            )
            raise ValueError(f"not a training config setting: {where} has no key {part!r} (keys: {keys})")
        field = model.model_fields[part]
        section = _section_model(field.annotation)
        if depth == len(parts) - 1:
            if section is not None:
                raise ValueError("a section, not a single setting; name one of its keys")
            return ConfigLeaf(path=path, field=field)
        if section is None:
            raise ValueError(f"not a training config setting: {'.'.join(parts[: depth + 1])} is a value")
        model = section
    raise AssertionError("unreachable")  # pragma: no cover


def searchable_paths() -> list[str]:
    """Every dotted path a search-space parameter may set (for docs and the JSON Schema's completion)."""

    def walk(model: type[BaseModel], prefix: str) -> Iterable[str]:
        for name, field in model.model_fields.items():
            if not prefix and name in UNSEARCHABLE_SECTIONS:
                continue
            section = _section_model(field.annotation)
            yield from walk(section, f"{prefix}{name}.") if section is not None else [f"{prefix}{name}"]

    return sorted(walk(TrainingConfig, ""))


@cache
def _field_adapter(path: str) -> TypeAdapter[Any]:
    field = resolve_config_path(path).field
    annotation = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    return TypeAdapter(annotation)


# --- parameter definitions -------------------------------------------------------------------------------


def _check_path(value: str) -> str:
    resolve_config_path(value)
    return value


def _values_match(value: Any, allowed: Any) -> bool:
    """Equality that keeps booleans apart from numbers (``True`` is not ``1`` in a search space)."""
    return isinstance(value, bool) == isinstance(allowed, bool) and value == allowed


class WhenCondition(StrictModel):
    """Sample the parameter only when another parameter of the same file has one of the given values."""

    model_config = ConfigDict(populate_by_name=True)

    param: str = Field(description="Name of the parameter whose value is tested (same file).")
    equals: Scalar = Field(default=None, description="Active when the tested parameter equals this value.")
    in_: list[Scalar] | None = Field(
        default=None,
        alias="in",
        min_length=1,
        description="Active when the tested parameter is one of these.",
    )

    @model_validator(mode="after")
    def _one_test(self) -> WhenCondition:
        if ("equals" in self.model_fields_set) == (self.in_ is not None):
            raise ValueError("give exactly one of 'equals' or 'in'")
        return self

    @property
    def allowed(self) -> tuple[Scalar, ...]:
        """The values of the tested parameter for which the condition holds."""
        return (self.equals,) if self.in_ is None else tuple(self.in_)

    def holds(self, value: Any) -> bool:
        """Whether the tested parameter's ``value`` activates the conditioned parameter."""
        return any(_values_match(value, allowed) for allowed in self.allowed)


class _ParameterBase(StrictModel):
    path: str = Field(
        description="Dotted path of the training-config setting this parameter sets.",
        json_schema_extra={"enum": searchable_paths()},
    )
    when: WhenCondition | None = Field(default=None, description="Sample only when this condition holds.")
    description: str | None = Field(default=None, description="Free text; not part of the space hash.")

    _validate_path = field_validator("path")(_check_path)

    def definition_problems(self) -> list[str]:
        """What is wrong with the definition on its own (bounds, log, step); empty when nothing is."""
        return []

    def target_problems(self, leaf: ConfigLeaf) -> list[str]:
        """Why this parameter cannot set ``leaf`` (type or values the setting rejects); empty when it can."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _consistent(self) -> _ParameterBase:
        problems = self.definition_problems() or self.target_problems(resolve_config_path(self.path))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _bound_problems(leaf: ConfigLeaf, low: float, high: float) -> list[str]:
    problems = []
    for key, bound in (("low", low), ("high", high)):
        why = leaf.check_value(bound)
        if why is not None:
            problems.append(f"{key} {bound!r} is not a valid {leaf.path}: {why}")
    return problems


class FloatParameter(_ParameterBase):
    """A real number in ``[low, high]``, optionally on a log scale or a grid of ``step``."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = Field(default=False, description="Sample uniformly in log space (needs low > 0).")
    step: float | None = Field(
        default=None, gt=0, description="Grid spacing from low; must divide high - low."
    )

    def definition_problems(self) -> list[str]:
        problems = []
        if not self.low < self.high:
            problems.append(f"low ({self.low}) must be less than high ({self.high})")
        if self.log and self.low <= 0:
            problems.append(f"log: true needs low > 0 (got low {self.low})")
        if self.step is not None:
            if self.log:
                problems.append("step cannot be combined with log: true")
            elif self.low < self.high:
                intervals = (self.high - self.low) / self.step
                if intervals < 1 - 1e-9 or abs(intervals - round(intervals)) > 1e-6:
                    problems.append(f"step {self.step} must divide high - low ({self.high - self.low:g})")
        return problems

    def target_problems(self, leaf: ConfigLeaf) -> list[str]:
        if "float" not in leaf.kinds:
            return [f"a float parameter cannot set {leaf.path} ({_describe_kinds(leaf.kinds)})"]
        return _bound_problems(leaf, self.low, self.high)


class IntParameter(_ParameterBase):
    """An integer in ``[low, high]``, optionally on a log scale or every ``step``."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = Field(default=False, description="Sample uniformly in log space (needs low >= 1, step 1).")
    step: int = Field(default=1, ge=1, description="Spacing from low; must divide high - low.")

    def definition_problems(self) -> list[str]:
        problems = []
        if not self.low < self.high:
            problems.append(f"low ({self.low}) must be less than high ({self.high})")
        if self.log and self.low < 1:
            problems.append(f"log: true needs low >= 1 for an int parameter (got low {self.low})")
        if self.log and self.step != 1:
            problems.append("step cannot be combined with log: true")
        if self.low < self.high and (self.high - self.low) % self.step:
            problems.append(f"step {self.step} must divide high - low ({self.high - self.low})")
        return problems

    def target_problems(self, leaf: ConfigLeaf) -> list[str]:
        if not leaf.kinds & {"int", "float"}:
            return [f"an int parameter cannot set {leaf.path} ({_describe_kinds(leaf.kinds)})"]
        return _bound_problems(leaf, self.low, self.high)

    def possible(self, value: Any) -> bool:
        """Whether sampling can yield ``value`` (a ``when:`` that tests other values never holds)."""
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


class CategoricalParameter(_ParameterBase):
    """One of a list of values (numbers, strings, booleans or null), unordered."""

    type: Literal["categorical"]
    choices: list[Scalar] = Field(description="The values to choose from; at least one, no repeats.")

    @field_validator("choices")
    @classmethod
    def _non_empty_unique(cls, value: list[Scalar]) -> list[Scalar]:
        if not value:
            raise ValueError("choices must list at least one value")
        repeated = [c for i, c in enumerate(value) if any(_values_match(c, d) for d in value[:i])]
        if repeated:
            raise ValueError(f"choices must not repeat a value (repeated: {', '.join(map(repr, repeated))})")
        return value

    def target_problems(self, leaf: ConfigLeaf) -> list[str]:
        problems = []
        for choice in self.choices:
            why = leaf.check_value(choice, strict=True)
            if why is not None:
                problems.append(f"choice {choice!r} is not a valid {leaf.path}: {why}")
        return problems

    def possible(self, value: Any) -> bool:
        """Whether sampling can yield ``value`` (a ``when:`` that tests other values never holds)."""
        return any(_values_match(value, choice) for choice in self.choices)


class SimplexParameter(_ParameterBase):
    """A ratio vector: one positive share per key, the shares summing to 1 (e.g. condition ratios).

    Sampling draws one raw value per key and normalises (see :mod:`admet_hpo.search.space`); the value
    applied to the config is the ``{key: share}`` mapping.
    """

    type: Literal["simplex"]
    keys: list[str] = Field(description="Names of the shares, e.g. condition names; at least two.")

    @field_validator("keys")
    @classmethod
    def _enough_unique_keys(cls, value: list[str]) -> list[str]:
        if len(value) < 2:
            raise ValueError("a simplex needs at least 2 keys")
        if len(set(value)) != len(value) or any(not key for key in value):
            raise ValueError("simplex keys must be distinct non-empty names")
        return value

    def target_problems(self, leaf: ConfigLeaf) -> list[str]:
        if "ratios" not in leaf.kinds:
            return [
                f"a simplex parameter needs a mapping of ratios; {leaf.path} is {_describe_kinds(leaf.kinds)}"
            ]
        return []


def _describe_kinds(kinds: frozenset[str]) -> str:
    names = {"ratios": "a mapping of ratios", "mapping": "a mapping", "sequence": "a list", "none": "null"}
    return "a setting of type " + " or ".join(sorted(names.get(kind, kind) for kind in kinds))


AnyParameter = FloatParameter | IntParameter | CategoricalParameter | SimplexParameter
Parameter = Annotated[AnyParameter, Field(discriminator="type")]
_PARAMETER_ADAPTER: TypeAdapter[AnyParameter] = TypeAdapter(Parameter)
PARAMETER_TYPES = ("float", "int", "categorical", "simplex")


class SearchSpaceFile(StrictModel):
    """A search-space YAML file."""

    model_config = ConfigDict(title="admet-hpo search space")

    description: str | None = None
    parameters: dict[ParameterName, Parameter] = Field(
        min_length=1, description="Parameter name -> definition. Names: letters, digits, underscores."
    )


# --- loading and combining -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpace:
    """Parameters of one or more search-space files, ordered so a ``when:`` test comes after its target.

    ``sources`` maps each parameter name to the file that defines it.
    """

    parameters: Mapping[str, AnyParameter]
    sources: Mapping[str, Path]

    @property
    def files(self) -> list[Path]:
        """The files the space was loaded from, in order."""
        return list(dict.fromkeys(self.sources.values()))


def _without_union_tags(error: ValidationError) -> ValidationError:
    """Drop pydantic's union tag (``parameters.x.float.low`` -> ``parameters.x.low``) from error locations."""
    details = []
    for problem in error.errors():
        loc = problem["loc"]
        if len(loc) > 2 and loc[0] == "parameters" and loc[2] in PARAMETER_TYPES:
            loc = loc[:2] + loc[3:]
        detail = {"type": problem["type"], "loc": loc, "input": problem["input"]}
        if problem["type"] == "union_tag_not_found":  # no ``type:`` key at all
            detail = {"type": "missing", "loc": (*loc, "type"), "input": problem["input"]}
        if "ctx" in problem:
            detail["ctx"] = problem["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(error.title, details)


def _file_problems(parameters: Mapping[str, AnyParameter], names: Collection[str]) -> list[str]:
    """Checks across the valid ``parameters`` of one file (``names``: every parameter name in the file)."""
    problems = []
    by_path: dict[str, str] = {}
    for name, parameter in parameters.items():
        if parameter.path in by_path:
            problems.append(
                f"parameters.{name}.path: {parameter.path!r} is already set by "
                f"parameter {by_path[parameter.path]!r}"
            )
        by_path.setdefault(parameter.path, name)
    for name, parameter in parameters.items():
        when = parameter.when
        if when is None:
            continue
        key = f"parameters.{name}.when.param"
        target = parameters.get(when.param)
        if when.param == name:
            problems.append(f"{key}: a parameter cannot depend on itself")
        elif when.param not in names:
            problems.append(
                f"{key}: unknown parameter {when.param!r} (parameters of this file: {', '.join(names)})"
            )
        elif target is None:
            continue  # the tested parameter is itself invalid and reported on its own
        elif not isinstance(target, CategoricalParameter | IntParameter):
            problems.append(
                f"{key}: {when.param!r} is a {target.type} parameter; when: can test categorical or int"
            )
        elif not any(target.possible(value) for value in when.allowed):
            problems.append(
                f"parameters.{name}.when: never holds: {when.param!r} cannot take {list(when.allowed)}"
            )
    if not problems:
        problems.extend(_cycle_problems(parameters))
    return problems


def _cycle_problems(parameters: Mapping[str, AnyParameter]) -> list[str]:
    problems = []
    for name in parameters:
        chain = [name]
        while (when := parameters[chain[-1]].when) is not None and when.param in parameters:
            if when.param in chain:
                if when.param == name:
                    problems.append(
                        f"parameters.{name}.when: circular condition ({' -> '.join([*chain, name])})"
                    )
                break
            chain.append(when.param)
    return problems


def _dependency_order(parameters: Mapping[str, Any]) -> list[str]:
    """File order, except that a parameter always comes after the parameter its ``when:`` tests."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        when = parameters[name].when
        if when is not None:
            visit(when.param)
        order.append(name)

    for name in parameters:
        visit(name)
    return order


def _valid_parameters(raw_parameters: Any) -> dict[str, AnyParameter]:
    """The parameters of a file that failed validation which are valid on their own."""
    valid = {}
    for name, definition in raw_parameters.items() if isinstance(raw_parameters, dict) else ():
        try:
            valid[name] = _PARAMETER_ADAPTER.validate_python(definition)
        except ValidationError:
            continue
    return valid


def load_search_space(path: Path) -> SearchSpace:
    """Load and check one search-space file; every problem is reported in one :class:`ConfigError`."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    problems = []
    try:
        parameters = dict(SearchSpaceFile.model_validate(raw).parameters)
    except ValidationError as exc:
        problems.append(format_validation_error(str(path), _without_union_tags(exc)))
        parameters = _valid_parameters(raw.get("parameters"))
    names = list(raw["parameters"]) if isinstance(raw.get("parameters"), dict) else list(parameters)
    problems.extend(f"{path}: {problem}" for problem in _file_problems(parameters, names))
    if problems:
        raise ConfigError("\n".join(problems))
    order = _dependency_order(parameters)
    return SearchSpace(
        parameters={name: parameters[name] for name in order}, sources=dict.fromkeys(order, path)
    )


def combine_search_spaces(spaces: Sequence[SearchSpace]) -> SearchSpace:
    """One space from several; a parameter name or config path defined twice is an error naming both files."""
    parameters: dict[str, Any] = {}
    sources: dict[str, Path] = {}
    by_path: dict[str, str] = {}
    problems = []
    for space in spaces:
        for name, parameter in space.parameters.items():
            source = space.sources[name]
            if name in parameters:
                problems.append(
                    f"{source}: parameters.{name}: parameter name already defined in {sources[name]}"
                )
                continue
            if parameter.path in by_path:
                other = by_path[parameter.path]
                problems.append(
                    f"{source}: parameters.{name}.path: {parameter.path!r} is already set by parameter "
                    f"{other!r} in {sources[other]}"
                )
                continue
            parameters[name], sources[name], by_path[parameter.path] = parameter, source, name
    if problems:
        raise ConfigError("\n".join(problems))
    return SearchSpace(parameters=parameters, sources=sources)


def load_search_spaces(paths: Sequence[Path]) -> SearchSpace:
    """Load several files and combine them; problems of every file are reported together."""
    spaces, problems = [], []
    for path in paths:
        try:
            spaces.append(load_search_space(path))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return combine_search_spaces(spaces)
