"""Reading a method's settings from a creator's form or stored JSON, with refusals in plain sentences."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prep.extract.base import ExtractionError


@dataclass(frozen=True)
class Limit:
    """What a creator calls a setting ("The blur size") and the values it may take."""

    label: str
    low: float
    high: float
    whole: bool = True


def read_values(data: Mapping[str, Any], limits: Mapping[str, Limit], kind: str) -> dict[str, Any]:
    """The values in `data`, each converted (form fields send "3") and checked against its limit: an int where
    the limit is whole, else a float.

    `kind` names the method's settings in the refusal of an unknown key ("edge" → "the edge settings").
    """
    unknown = sorted(set(data) - set(limits))
    if unknown:
        known = ", ".join(limit.label.removeprefix("The ").lower() for limit in limits.values())
        raise ExtractionError(f"“{unknown[0]}” is not one of the {kind} settings ({known}).")
    return {name: _checked(limits[name], value) for name, value in data.items()}


def _checked(limit: Limit, value: Any) -> int | float:
    kind = "a whole number" if limit.whole else "a number"
    if isinstance(value, bool):  # a bool is an int to Python, never a meaningful threshold to a creator
        raise ExtractionError(f"{limit.label} must be {kind}.")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ExtractionError(f"{limit.label} must be {kind}.") from None
    if limit.whole and not number.is_integer():
        raise ExtractionError(f"{limit.label} must be {kind} (it is {number:g}).")
    if not limit.low <= number <= limit.high:  # NaN fails this too
        raise ExtractionError(f"{limit.label} must be between {limit.low:g} and {limit.high:g} (it is {number:g}).")
    return int(number) if limit.whole else number
