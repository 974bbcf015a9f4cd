"""Each method's settings as a Pydantic model, read from a creator's form or stored JSON and refused in plain sentences.

A settings class (`CannySettings`, `PoseSettings`, `DepthSettings`) subclasses `ExtractionSettings` and declares
each setting as a `WholeNumber` or a `Number` with `Field(default=..., ge=..., le=..., title=..., description=...)`:
the title is what a creator calls it ("The blur size") and, with the range, makes the refusals. Pydantic's lax
mode reads form values ("3"); `from_dict` turns its ValidationError into an `ExtractionError` such as "The blur
size must be between 0 and 31 (it is 33)."; a rule between settings raises `rule_broken(...)` in a model validator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from prep.extract.base import ExtractionError

_RULE = "extraction_rule"  # a rule between settings was broken; its sentence is shown as it is
_OUT_OF_RANGE = ("greater_than_equal", "less_than_equal")


def _refuse_yes_or_no(value: Any) -> Any:
    # A bool is an int to Python (and to Pydantic's lax mode), never a meaningful number to a creator.
    if isinstance(value, bool):
        raise PydanticCustomError("yes_or_no", "a number, not yes or no")
    return value


WholeNumber = Annotated[int, BeforeValidator(_refuse_yes_or_no)]
"""A setting that takes whole numbers: "3" and 3.0 are read as 3; 3.5, "3.5" and True are refused."""
Number = Annotated[float, BeforeValidator(_refuse_yes_or_no)]
"""A setting that takes any number: "0.5" is read as 0.5; True is refused."""


def rule_broken(sentence: str) -> PydanticCustomError:
    """The error a model validator raises when a rule between settings is broken; `sentence` reaches the creator."""
    return PydanticCustomError(_RULE, "{sentence}", {"sentence": sentence})


class ExtractionSettings(BaseModel):
    """One method's settings: unknown keys refused, frozen, read with `from_dict` and stored with `as_dict`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    """Names the settings in the refusal of an unknown key: "edge" gives "… is not one of the edge settings"."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Settings from a creator's form or stored JSON; missing keys keep their defaults.

        Unknown keys and bad values raise `ExtractionError` with a sentence a creator understands.
        """
        try:
            return cls.model_validate(data or {})
        except ValidationError as err:
            raise ExtractionError(cls._refusal(err.errors())) from None

    def as_dict(self) -> dict[str, Any]:
        """The values by name, as stored in JSON and hashed into an extraction's cache key."""
        return self.model_dump()

    @classmethod
    def _refusal(cls, errors: list[ErrorDetails]) -> str:
        unknown = sorted(str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden")
        if unknown:
            known = ", ".join(_label(field).removeprefix("The ").lower() for field in cls.model_fields.values())
            return f"“{unknown[0]}” is not one of the {cls.kind} settings ({known})."
        first = errors[0]
        if first["type"] == _RULE:
            return first["msg"]
        if not first["loc"] or first["loc"][0] not in cls.model_fields:
            return f"The {cls.kind} settings must be a set of named values."
        return _value_refusal(cls.model_fields[str(first["loc"][0])], first)


def _label(field: FieldInfo) -> str:
    assert field.title, "every extraction setting has a title: what a creator calls it"
    return field.title


def _value_refusal(field: FieldInfo, error: ErrorDetails) -> str:
    """Why a setting's value was refused, from what it was given rather than from Pydantic's wording."""
    whole = field.annotation is int
    kind = "a whole number" if whole else "a number"
    number = _as_number(error["input"])
    if number is not None and error["type"] in _OUT_OF_RANGE:  # NaN is out of every range too
        low = next(rule.ge for rule in field.metadata if isinstance(rule, Ge))
        high = next(rule.le for rule in field.metadata if isinstance(rule, Le))
        return f"{_label(field)} must be between {low:g} and {high:g} (it is {number:g})."
    if whole and number is not None and not number.is_integer():
        return f"{_label(field)} must be {kind} (it is {number:g})."
    return f"{_label(field)} must be {kind}."


def _as_number(value: Any) -> float | None:
    """What the creator typed, as a number for the refusal's "(it is …)"; None for yes/no and for words."""
    if isinstance(value, bool):
        return None
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
