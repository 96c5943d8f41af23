"""Safe YAML loading into typed configs, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from admet_hpo.config.base import BOOL_FOR_NUMBER_TYPE
from admet_hpo.errors import SHOWN_CHARACTERS, ConfigError, non_utf8_position, shown
from admet_hpo.masking import mask_data, mask_text

ModelT = TypeVar("ModelT", bound=BaseModel)


#: A config file larger than this is refused before parsing (config files are a few kilobytes).
MAX_YAML_BYTES = 1_000_000
#: Nesting deeper than this (mappings and lists inside each other) is refused before building values.
MAX_YAML_DEPTH = 50
#: Values after alias expansion (``*name`` repeats the value of ``&name``): more is refused, which keeps
#: an alias bomb ("billion laughs") small and fast to reject.
MAX_YAML_VALUES = 100_000

_OPENING = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSING = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


class _YamlLimitError(Exception):
    """A limit or rule of :func:`read_yaml_mapping` was broken; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML says keys are unique;
    PyYAML would silently keep the later value)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_mark: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, mark = self.construct_object(key_node), key_node.start_mark
            if key in first_mark:
                first = first_mark[key]
                if first.line == mark.line:
                    where = f"line {mark.line + 1}, columns {first.column + 1} and {mark.column + 1}"
                else:
                    where = f"line {first.line + 1} and line {mark.line + 1}"
                raise _YamlLimitError(mark.line + 1, f"key {shown(key)} given twice, at {where}")
            first_mark[key] = mark
        return super().construct_mapping(node, deep=deep)


def _decode(path: Path, data: bytes) -> str:
    """``data`` as UTF-8 text (a byte-order mark is dropped); other bytes are an error with their offset."""
    position = non_utf8_position(data)
    if position is not None:
        raise ConfigError(f"{path}: not UTF-8 text: {position}; save the file as UTF-8")
    return data.decode("utf-8-sig")


def _check_depth(text: str) -> None:
    """Refuse nesting beyond :data:`MAX_YAML_DEPTH` from the token stream (the scanner does not
    recurse; building values would, and fail with RecursionError on deep input)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENING):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _YamlLimitError(
                    token.start_mark.line + 1, f"nested more than {MAX_YAML_DEPTH} levels deep"
                )
        elif isinstance(token, _CLOSING):
            depth -= 1


def _count_values(node: yaml.Node, counted: dict[int, int], open_nodes: set[int]) -> int:
    """Values ``node`` stands for once aliases are expanded (each alias counted in full, computed once)."""
    key = id(node)
    if key in counted:
        return counted[key]
    if key in open_nodes:
        raise _YamlLimitError(node.start_mark.line + 1, "an alias refers to a value that contains it")
    open_nodes.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    total = 1
    for child in children:
        total += _count_values(child, counted, open_nodes)
        if total > MAX_YAML_VALUES:
            raise _YamlLimitError(
                node.start_mark.line + 1,
                f"more than {MAX_YAML_VALUES:,} values once aliases (*name) are expanded",
            )
    open_nodes.discard(key)
    counted[key] = total
    return total


def _parse(text: str) -> Any:
    """Check depth, compose, check the expanded size, then build Python values (safe tags only)."""
    _check_depth(text)
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML config file safely and require a mapping at the top.

    Nothing is evaluated (safe tags only). Refused with a :class:`ConfigError` naming the file (and the
    line where one applies): a file over :data:`MAX_YAML_BYTES`, bytes that are not UTF-8 (with their
    offset), nesting deeper than :data:`MAX_YAML_DEPTH`, more than :data:`MAX_YAML_VALUES` values after
    alias expansion, a key given twice in one mapping (both lines), and invalid YAML.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_YAML_BYTES:,} bytes; expected a config file of a few kilobytes"
        )
    text = _decode(path, data)
    try:
        data = _parse(text)
    except _YamlLimitError as exc:
        where = f" at line {exc.line}" if exc.line else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {exc}") from None
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


def _short(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters (``abc...``), e.g. a huge key in an error location."""
    return text if len(text) <= limit else text[:limit] + "..."


#: A problem's message is cut after this many characters (the value it quotes is cut much shorter).
MAX_MESSAGE_CHARACTERS = 1000


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: ``source: dotted.key: message (got value)``, credentials masked, the
    value shortened (:func:`~admet_hpo.errors.shown`) and the message at most
    :data:`MAX_MESSAGE_CHARACTERS` long."""
    lines = []
    for problem in error.errors():
        key = ".".join(_short(str(part)) for part in problem["loc"]) or "<top level>"
        message = problem["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        got = problem.get("input")
        got_text = (
            ""
            if problem["type"] in {"missing", "extra_forbidden", BOOL_FOR_NUMBER_TYPE}
            or isinstance(got, dict)
            else f" (got {shown(mask_data(got))})"
        )
        message = mask_text(message)
        message = _short(message, MAX_MESSAGE_CHARACTERS)  # a validator quoting a huge value
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
