"""Field rules for maze-link messages.

Every message field carries one rule in its dataclass metadata. The same rule checks
a value when a message is built for sending and when one is decoded, and converts
between the Python value and its msgpack form. A broken rule raises ProtocolError
naming the field path, so a bad frame always says what was wrong with it.
"""

from __future__ import annotations

import dataclasses
import math
from enum import IntEnum
from typing import Any, Protocol

from .errors import ProtocolError
from .keypaths import child_path


class Rule(Protocol):
    """Checks and converts one field value."""

    def check(self, value: object, path: str) -> Any:
        """Return the Python value for a wire or Python value, or raise ProtocolError."""

    def to_wire(self, value: Any) -> Any:
        """Return the msgpack-ready form of a checked Python value."""


def _fail(path: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{path}: {problem}")


def _type_name(value: object) -> str:
    return type(value).__name__


@dataclasses.dataclass(frozen=True, slots=True)
class Int:
    """An integer within [low, high]; booleans are not integers here."""

    low: int
    high: int

    def check(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"expected an integer, got {_type_name(value)}")
        if not self.low <= value <= self.high:
            raise _fail(path, f"{value} is outside {self.low}..{self.high}")
        return value

    def to_wire(self, value: Any) -> Any:
        return int(value)


def uint(bits: int) -> Int:
    """An unsigned integer that fits in the given number of bits."""
    return Int(0, (1 << bits) - 1)


def sint(bits: int) -> Int:
    """A signed integer that fits in the given number of bits."""
    return Int(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Real:
    """A finite number within [low, high]."""

    low: float
    high: float

    def check(self, value: object, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"expected a number, got {_type_name(value)}")
        number = float(value)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise _fail(path, f"{value} is outside {self.low}..{self.high}")
        return number

    def to_wire(self, value: Any) -> Any:
        return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Flag:
    """A boolean."""

    def check(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise _fail(path, f"expected true or false, got {_type_name(value)}")
        return value

    def to_wire(self, value: Any) -> Any:
        return bool(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Blob:
    """Raw bytes of a bounded length."""

    min_len: int
    max_len: int

    def check(self, value: object, path: str) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise _fail(path, f"expected bytes, got {_type_name(value)}")
        data = bytes(value)
        if not self.min_len <= len(data) <= self.max_len:
            raise _fail(path, f"{len(data)} bytes, expected {self.min_len}..{self.max_len}")
        return data

    def to_wire(self, value: Any) -> Any:
        return bytes(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Text:
    """A string of bounded length (in characters)."""

    max_len: int
    min_len: int = 0

    def check(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise _fail(path, f"expected text, got {_type_name(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise _fail(path, f"{len(value)} characters, expected {self.min_len}..{self.max_len}")
        return value

    def to_wire(self, value: Any) -> Any:
        return str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """One member of an IntEnum, sent as its integer."""

    enum: type[IntEnum]

    def check(self, value: object, path: str) -> IntEnum:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"expected an integer code, got {_type_name(value)}")
        try:
            return self.enum(value)
        except ValueError:
            raise _fail(path, f"{value} is not a known {self.enum.__name__}") from None

    def to_wire(self, value: Any) -> Any:
        return int(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Many:
    """A list of items of one rule, at most max_len long; decoded as a tuple."""

    item: Rule
    max_len: int

    def check(self, value: object, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _fail(path, f"expected a list, got {_type_name(value)}")
        if len(value) > self.max_len:
            raise _fail(path, f"{len(value)} items, at most {self.max_len} allowed")
        return tuple(
            self.item.check(item, child_path(path, index)) for index, item in enumerate(value)
        )

    def to_wire(self, value: Any) -> Any:
        return [self.item.to_wire(item) for item in value]


@dataclasses.dataclass(frozen=True, slots=True)
class Nested:
    """A record (a dataclass whose fields carry rules), sent as a list in field order."""

    record: type[Any]

    def check(self, value: object, path: str) -> Any:
        if isinstance(value, self.record):
            return check_record(self.record, record_values(value), path)
        if not isinstance(value, list | tuple):
            raise _fail(path, f"expected a {self.record.__name__} record, got {_type_name(value)}")
        return check_record(self.record, value, path)

    def to_wire(self, value: Any) -> Any:
        return record_to_wire(value)


RULE_KEY = "rule"


def rule(kind: Rule, **kwargs: Any) -> Any:
    """Declare a message field with its rule: `cue_id: int = rule(uint(16))`."""
    return dataclasses.field(metadata={RULE_KEY: kind}, **kwargs)


def record_rules(record: type[Any]) -> tuple[tuple[str, Rule], ...]:
    """The (name, rule) pairs of a record's fields, in wire order."""
    cached: tuple[tuple[str, Rule], ...] | None = _RULES.get(record)
    if cached is None:
        cached = tuple((f.name, f.metadata[RULE_KEY]) for f in dataclasses.fields(record))
        _RULES[record] = cached
    return cached


_RULES: dict[type[Any], tuple[tuple[str, Rule], ...]] = {}


def record_values(instance: Any) -> list[Any]:
    """A record's field values in wire order."""
    return [getattr(instance, name) for name, _ in record_rules(type(instance))]


def check_record(record: type[Any], values: list[Any] | tuple[Any, ...], path: str) -> Any:
    """Build a record from positional values, checking every field.

    Extra trailing values are ignored so that a newer peer can append fields.
    """
    rules = record_rules(record)
    if len(values) < len(rules):
        raise _fail(path, f"{len(values)} fields, {record.__name__} needs {len(rules)}")
    paths = _TOP_PATHS[record] if path == record.__name__ else None
    instance = object.__new__(record)
    for index, ((name, kind), value) in enumerate(zip(rules, values, strict=False)):
        field_path = paths[index] if paths else child_path(path, name)
        # Set directly: the values are checked here, so __init__ need not check them again.
        object.__setattr__(instance, name, kind.check(value, field_path))
    return instance


class _TopPaths(dict[type[Any], tuple[str, ...]]):
    """'Record.field' for each field of a top-level record, built once per record."""

    def __missing__(self, record: type[Any]) -> tuple[str, ...]:
        paths = tuple(child_path(record.__name__, name) for name, _ in record_rules(record))
        self[record] = paths
        return paths


_TOP_PATHS = _TopPaths()


def record_to_wire(instance: Any) -> list[Any]:
    """The msgpack-ready list of a checked record."""
    return [kind.to_wire(getattr(instance, name)) for name, kind in record_rules(type(instance))]


class Record:
    """Base of every message and nested record: fields are checked when it is built."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for name, kind in record_rules(type(self)):
            object.__setattr__(self, name, kind.check(getattr(self, name), name))
