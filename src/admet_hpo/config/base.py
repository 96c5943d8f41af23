"""Shared base for the typed configuration models, and the one rule on numbers they all follow."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


def numbers_only(annotation: Any) -> bool:
    """Whether ``annotation`` takes numbers (``int`` / ``float``) but not ``bool``.

    YAML's ``true`` / ``false`` are booleans, which Python (and pydantic's lax mode) would accept as 1
    and 0; a setting of such a type refuses them (``n_trials: true`` is a mistake, not one trial).
    """
    if typing.get_origin(annotation) is typing.Annotated:
        return numbers_only(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
    else:
        members = [annotation]
    leaves = {
        typing.get_args(member)[0] if typing.get_origin(member) is typing.Annotated else member
        for member in members
    }
    return bool(leaves & {int, float}) and not leaves & {bool, Any, object}


#: The error type and message of a boolean given where a number is expected.
BOOL_FOR_NUMBER_TYPE = "bool_for_number"
BOOL_FOR_NUMBER = "expected a number, not a boolean (true/false)"


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are validated on assignment too, infinite and
    NaN floats are refused (``.inf`` as a bound or a rate is a mistake) and so are booleans where a
    number is expected (:func:`numbers_only`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        problems = [
            InitErrorDetails(
                type=PydanticCustomError(BOOL_FOR_NUMBER_TYPE, BOOL_FOR_NUMBER), loc=(name,), input=value
            )
            for name, value in data.items()
            if isinstance(value, bool)
            and isinstance(name, str)
            and name in cls.model_fields
            and numbers_only(cls.model_fields[name].annotation)
        ]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return data
