"""Show files as text: their data, and the line where each key path was written.

A show designer fixes a file by line number, so every problem found later, by the schema
or by a cross-check, is reported through the `Document` it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]

from .link.keypaths import KeyPath, format_key_path, line_of, load_yaml_with_lines

_YAML_STR = "tag:yaml.org,2002:str"
_YAML_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True, slots=True)
class ShowProblem:
    """One thing wrong in a show file, where a designer can find it.

    `line` is 1-based (None when the whole file is concerned) and `key_path` is the
    dotted path of the offending key, such as `effects.Lightning.steps[1].at`.
    """

    file: str
    line: int | None
    problem: str
    key_path: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.problem}"
        return f"{where}: {self.problem}"


class ShowError(Exception):
    """The show files are not usable; `problems` lists everything found, in file order."""

    def __init__(self, problems: Iterable[ShowProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed show file: its data and the line of every key path found in it."""

    file: str
    data: Any
    lines: Mapping[KeyPath, int]
    problems: tuple[ShowProblem, ...] = ()

    def line_of(self, path: Sequence[Any]) -> int | None:
        """The line of `path`, or of its nearest written ancestor (a missing key's parent)."""
        return line_of(self.lines, path)

    def problem(self, path: Sequence[Any], message: str) -> ShowProblem:
        """A problem at `path` in this file."""
        return ShowProblem(self.file, self.line_of(path), message, format_key_path(path))


class _ShowLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML 1.1 without its surprises for show files.

    Plain scalars with a colon stay text, so `at: 1:30` is a time (not the base-60
    number 90), and dates stay text, so the data is JSON-like throughout.
    """

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        tag: str = super().resolve(kind, value, implicit)
        if tag == _YAML_TIMESTAMP or (
            kind is yaml.ScalarNode and implicit[0] and ":" in value and tag != _YAML_STR
        ):
            return _YAML_STR
        return tag


def read_yaml(file: str, text: str) -> Document:
    """Parse YAML text; a syntax error raises ShowError with the line it was found on."""
    try:
        data, key_lines = load_yaml_with_lines(_ShowLoader(text))
    except yaml.MarkedYAMLError as err:
        raise ShowError([_yaml_syntax_problem(file, err)]) from err
    except yaml.YAMLError as err:
        raise ShowError([ShowProblem(file, None, f"not valid YAML: {err}")]) from err
    repeated = tuple(
        ShowProblem(
            file,
            key.line,
            f"written twice (first on line {key.first_line})",
            format_key_path(key.path),
        )
        for key in key_lines.repeated
    )
    return Document(file, data, key_lines.lines, repeated)


def _yaml_syntax_problem(file: str, err: Any) -> ShowProblem:
    mark = err.problem_mark or err.context_mark
    detail = err.problem or "invalid YAML"
    if err.context:
        detail = f"{detail} ({err.context})"
    return ShowProblem(file, None if mark is None else mark.line + 1, f"YAML syntax: {detail}")


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers the keys written twice (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    result = _JsonObject(pairs)
    keys = [key for key, _ in pairs]
    result.duplicates = tuple(dict.fromkeys(key for key in keys if keys.count(key) > 1))
    return result


def read_json(file: str, text: str) -> Document:
    """Parse JSON text; a syntax error raises ShowError with the line it was found on.

    JSON parsers keep no positions, so lines come from searching the text for each key
    in document order: exact for the seed's files, a best effort for unusual spellings.
    """
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as err:
        raise ShowError([ShowProblem(file, err.lineno, f"JSON syntax: {err.msg}")]) from err
    lines: dict[KeyPath, int] = {(): _line_at(text, len(text) - len(text.lstrip()))}
    duplicates: list[KeyPath] = []
    _JsonLineSearch(text, lines, duplicates).visit(data, ())
    document = Document(file, data, lines)
    problems = tuple(
        document.problem(path, "written twice (only the last one would count)")
        for path in duplicates
    )
    return Document(file, data, lines, problems)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class _JsonLineSearch:
    """Walks parsed JSON in document order, finding each key in the text after the last."""

    def __init__(self, text: str, lines: dict[KeyPath, int], duplicates: list[KeyPath]) -> None:
        self._text = text
        self._lines = lines
        self._duplicates = duplicates
        self._cursor = 0

    def visit(self, node: Any, path: KeyPath) -> None:
        if isinstance(node, dict):
            self._duplicates.extend((*path, key) for key in getattr(node, "duplicates", ()))
            for key, value in node.items():
                self._find((*path, key), json.dumps(key, ensure_ascii=False), r"\s*:")
                self.visit(value, (*path, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    self._find((*path, index), json.dumps(item, ensure_ascii=False), "")
                self.visit(item, (*path, index))
                if isinstance(item, dict) and item:
                    first = self._lines.get((*path, index, next(iter(item))))
                    if first is not None:
                        self._lines[(*path, index)] = first

    def _find(self, path: KeyPath, literal: str, suffix: str) -> None:
        match = re.compile(re.escape(literal) + suffix).search(self._text, self._cursor)
        if match is not None:
            self._cursor = match.end()
            self._lines[path] = _line_at(self._text, match.start())
