"""Validators whose messages a show designer can act on.

Each names the value it rejects and what it expected. Lists and mappings check all their
items (voluptuous alone stops a list at its first bad item), so one reload of a show
reports every problem at once.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.core import valid_entity_id

Validator = Callable[[Any], Any]

MAX_NAME_LENGTH: Final = 64  # the maze link carries cue, output and input names of ≤ 64 chars

_FAILED: Final = object()
_UNIT_MS: Final = {"ms": 1, "s": 1000, "min": 60_000}
_TIME_ON_CLOCK: Final = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
_TIME_WITH_UNIT: Final = re.compile(r"(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|min)?", re.IGNORECASE)


def normalize_name(name: str) -> str:
    """The form in which two names are the same: case and runs of spaces do not count."""
    return " ".join(name.split()).casefold()


def describe(error: vol.Invalid) -> str:
    """The designer-facing message of a validation error."""
    if isinstance(error, vol.RequiredFieldInvalid):
        return "is required"
    return error.error_message


def error_path(error: vol.Invalid) -> list[Any]:
    """The error's key path, with voluptuous markers (Required, Optional) as their keys."""
    return [key.schema if isinstance(key, vol.Marker) else key for key in error.path]


def shown(value: Any) -> str:
    """A value as a designer wrote it, for messages."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return str(value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice to a misspelt word, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _run(validator: Validator, value: Any, key: Any, errors: list[vol.Invalid]) -> Any:
    """Validate one item, filing its errors under `key` instead of stopping."""
    try:
        return validator(value)
    except vol.Invalid as err:
        for error in err.errors if isinstance(err, vol.MultipleInvalid) else [err]:
            error.prepend([key])
            errors.append(error)
        return _FAILED


def every(checks: Iterable[tuple[Validator, Any]]) -> list[Any]:
    """Validate list items by index, reporting every bad one."""
    errors: list[vol.Invalid] = []
    result = [_run(check, item, index, errors) for index, (check, item) in enumerate(checks)]
    if errors:
        raise vol.MultipleInvalid(errors)
    return result


# Scalars


def text(value: Any) -> str:
    """Non-empty text, without surrounding spaces."""
    if isinstance(value, bool):
        raise vol.Invalid(
            f"expected text, got {shown(value)} (YAML reads unquoted yes, no, on and off as "
            "true or false: quote the text)"
        )
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected text, got {shown(value)}")
    return value.strip()


def label(value: Any) -> str:
    """A name that fits the maze link (effect, satellite, output and input names)."""
    written = text(value)
    if len(written) > MAX_NAME_LENGTH:
        raise vol.Invalid(f"'{written}' is longer than {MAX_NAME_LENGTH} characters")
    return written


def boolean(value: Any) -> bool:
    """true or false (YAML's yes/no and on/off are booleans too)."""
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {shown(value)}")
    return value


def _check_range(value: float, written: str, minimum: float, maximum: float) -> None:
    if value < minimum:
        raise vol.Invalid(f"{written} is below the minimum {minimum}")
    if value > maximum:
        raise vol.Invalid(f"{written} is above the maximum {maximum}")


def number(minimum: float, maximum: float) -> Validator:
    """A finite number within bounds."""

    def validate(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise vol.Invalid(f"expected a number, got {shown(value)}")
        _check_range(value, shown(value), minimum, maximum)
        return float(value)

    return validate


def integer(minimum: int, maximum: int) -> Validator:
    """A whole number within bounds."""

    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise vol.Invalid(f"expected a whole number, got {shown(value)}")
        _check_range(value, shown(value), minimum, maximum)
        return int(value)

    return validate


def one_of(*choices: str) -> Validator:
    """One of a few lower-case words, in any case."""

    def validate(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise vol.Invalid(f"{shown(value)} is not one of: {', '.join(choices)}")

    return validate


def _to_ms(value: Any) -> float:
    """A time in milliseconds from a number (ms), '120ms', '2s', '1.5min', 'MM:SS' or 'H:MM:SS'."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        spoken = _TIME_WITH_UNIT.fullmatch(value.strip())
        if spoken:
            return float(spoken[1]) * _UNIT_MS[(spoken[2] or "ms").lower()]
        clock = _TIME_ON_CLOCK.fullmatch(value.strip())
        if clock:
            hours, minutes, seconds = int(clock[1] or 0), int(clock[2]), float(clock[3])
            if seconds < 60 and (clock[1] is None or minutes < 60):
                return ((hours * 60 + minutes) * 60 + seconds) * 1000
    raise vol.Invalid(
        f"{shown(value)} is not a time: write milliseconds (120) or '120ms', '2s', "
        "'1.5min', '00:02' or '00:00:02'"
    )


def milliseconds(maximum: int) -> Validator:
    """A time from 0 to `maximum` ms, written as a number of ms or as text (see _to_ms)."""

    def validate(value: Any) -> int:
        ms = _to_ms(value)
        if ms < 0:
            raise vol.Invalid(f"{shown(value)} is negative: times count from the start")
        if ms > maximum:
            raise vol.Invalid(
                f"{shown(value)} is above the maximum {maximum} ms ({maximum / 1000:g} s)"
            )
        return round(ms)

    return validate


def entity_id(*domains: str) -> Validator:
    """A Home Assistant entity id, of one of `domains` when given."""

    def validate(value: Any) -> str:
        if not isinstance(value, str) or not valid_entity_id(value):
            raise vol.Invalid(
                f"{shown(value)} is not an entity id "
                "(domain.object_id in lower case, e.g. light.entrance_strip)"
            )
        if domains and value.partition(".")[0] not in domains:
            raise vol.Invalid(f"'{value}' is not a {' or '.join(domains)} entity")
        return value

    return validate


def action(value: Any) -> str:
    """A Home Assistant action name: domain.service."""
    if not isinstance(value, str) or not valid_entity_id(value):
        raise vol.Invalid(f"{shown(value)} is not an action (domain.service, e.g. switch.turn_on)")
    return value


# Collections


def each(item: Validator, *, single: bool = False) -> Validator:
    """A list checking every item; with `single`, one bare item stands for a list of it."""

    def validate(value: Any) -> list[Any]:
        if value is None:
            return []
        if single and not isinstance(value, list):
            value = [value]
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list, got {shown(value)}")
        return every((item, element) for element in value)

    return validate


def fixed(*items: Validator) -> Validator:
    """A list of exactly these items, such as an RGB colour."""

    def validate(value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) != len(items):
            got = f"{len(value)}" if isinstance(value, list) else shown(value)
            raise vol.Invalid(f"expected a list of {len(items)} numbers, got {got}")
        return every(zip(items, value, strict=True))

    return validate


def always(validator: Validator) -> Callable[[Any], Validator]:
    """The same value validator whatever the key."""
    return lambda _key: validator


def mapping_of(key: Validator, item_for: Callable[[Any], Validator]) -> Validator:
    """A mapping checking every key, and every value with the validator for its key."""

    def validate(value: Any) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise vol.Invalid(f"expected a mapping, got {shown(value)}")
        errors: list[vol.Invalid] = []
        result: dict[Any, Any] = {}
        for raw_key, raw_item in value.items():
            new_key = _run(key, raw_key, raw_key, errors)
            new_item = _run(item_for(raw_key), raw_item, raw_key, errors)
            if new_key is not _FAILED and new_item is not _FAILED:
                result[new_key] = new_item
        if errors:
            raise vol.MultipleInvalid(errors)
        return result

    return validate


def named(kind: str, item_for: Callable[[Any], Validator], name: Validator = label) -> Validator:
    """Things keyed by name (rooms, effects, themes); names equal but for case clash."""

    def validate(value: Any) -> dict[Any, Any]:
        first_spelling: dict[str, Any] = {}

        def unique_name(key: Any) -> str:
            written: str = name(key)
            earlier = first_spelling.setdefault(normalize_name(written), key)
            if earlier != key:
                raise vol.Invalid(
                    f"duplicate {kind} name: '{written}' and '{earlier}' differ only in "
                    "case or spacing"
                )
            return written

        items: dict[Any, Any] = mapping_of(unique_name, item_for)(value)
        return items

    return validate


class Record:
    """A mapping with known keys; an unknown key is a problem (usually a typo) of its own.

    With `shorthand`, a bare value stands for a record of that one key, so
    `audio: thunder.mp3` means `audio: {file: thunder.mp3}`.
    """

    def __init__(
        self, fields: Mapping[vol.Marker, Validator], shorthand: str | None = None
    ) -> None:
        self._schema = vol.Schema(dict(fields))
        self._keys = tuple(str(marker.schema) for marker in fields)
        self._shorthand = shorthand

    def __call__(self, value: Any) -> dict[str, Any]:
        if value is None:
            value = {}
        if self._shorthand is not None and not isinstance(value, dict | list):
            value = {self._shorthand: value}
        if not isinstance(value, dict):
            raise vol.Invalid(f"expected a mapping of {', '.join(self._keys)}; got {shown(value)}")
        errors = [
            vol.Invalid(f"unknown key{self._suggestion(key)}", path=[key])
            for key in value
            if key not in self._keys
        ]
        record: dict[str, Any] = {}
        try:
            record = self._schema({key: item for key, item in value.items() if key in self._keys})
        except vol.MultipleInvalid as err:
            errors.extend(err.errors)
        if errors:
            raise vol.MultipleInvalid(errors)
        return record

    def _suggestion(self, key: Any) -> str:
        known = f" (expected {', '.join(self._keys)})"
        return did_you_mean(str(key), self._keys) or known


def checked(validator: Validator, *checks: Callable[[Any], None]) -> Validator:
    """A validator followed by checks that look at several parts of its result together."""

    def validate(value: Any) -> Any:
        result = validator(value)
        for check in checks:
            check(result)
        return result

    return validate
