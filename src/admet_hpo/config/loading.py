"""Safe YAML loading into typed configs, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from admet_hpo.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file with ``yaml.safe_load`` (nothing is evaluated) and require a mapping at the top."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: ``source: dotted.key: message (got value)``."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "<top level>"
        message = problem["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        got = problem.get("input")
        got_text = (
            ""
            if problem["type"] in {"missing", "extra_forbidden"} or isinstance(got, dict)
            else f" (got {got!r})"
        )
        lines.append(f"{source}: {key}: {message}{got_text}")
    return "\n".join(lines)


def validate_mapping(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    """Validate ``data`` against ``model``; a failure becomes a :class:`ConfigError` naming ``source``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def resolve_relative(base_dir: Path, value: str | Path | None) -> Path | None:
    """A path from a config file: absolute as given, relative to the config file's folder otherwise."""
    if value is None:
        return None
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base_dir / candidate)
