"""Key paths: where in a nested document a value sits, written and located one way.

The three validation layers (message fields here, the satellite's config file, the show
files) name a bad value by its key path, `outputs[1].channels`, and the two YAML ones
also by the line it was written on. This module is that notation and that line lookup.
It is plain Python: reading YAML takes a loader the caller made with PyYAML, which both
callers have, so the protocol itself still needs only msgpack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

KeyPath = tuple[Hashable, ...]  # text keys and list indexes; YAML allows other scalars

_YAML_MERGE = "tag:yaml.org,2002:merge"


def child_path(written: str, key: object) -> str:
    """A written key path extended by one key: `outputs` and 1 give `outputs[1]`.

    A list index is written in brackets, a text key after a dot; any other key (YAML
    reads `yes:` as true) as JSON writes it.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{written}[{key}]"
    name = key if isinstance(key, str) else json.dumps(key, default=str)
    return f"{written}.{name}" if written else name


def format_key_path(path: Iterable[object]) -> str:
    """A key path as a person reads it: `("outputs", 1, "channels")` is `outputs[1].channels`."""
    written = ""
    for key in path:
        written = child_path(written, key)
    return written


def line_of(lines: Mapping[KeyPath, int], path: Sequence[Any]) -> int | None:
    """The line of `path`, or of its nearest written ancestor (a missing key's parent)."""
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


class YamlMark(Protocol):
    """Where a YAML node starts (PyYAML's Mark); `line` counts from 0."""

    line: int


class YamlNode(Protocol):
    """A composed YAML node (PyYAML's Node): `id` is scalar, sequence or mapping."""

    id: str
    tag: str
    value: Any
    start_mark: YamlMark


@dataclass(frozen=True, slots=True)
class RepeatedKey:
    """A mapping key written a second time: where, and the line of its first spelling."""

    path: KeyPath
    line: int
    first_line: int


@dataclass(slots=True)
class KeyLines:
    """The line (1-based) of every key path and list item of a YAML document.

    A key written twice keeps the line of its first spelling and is listed in `repeated`.
    """

    lines: dict[KeyPath, int] = field(default_factory=dict)
    repeated: list[RepeatedKey] = field(default_factory=list)


class YamlLoader(Protocol):
    """The parts of a PyYAML loader (such as SafeLoader(text)) that reading a document uses."""

    def get_single_node(self) -> Any:
        """The root node of the stream's only document, or None for an empty stream."""

    def construct_object(self, node: Any) -> Any:
        """The Python value of one node."""

    def construct_document(self, node: Any) -> Any:
        """The Python value of a whole document."""

    def dispose(self) -> None:
        """Release the loader's state."""


def load_yaml_with_lines(loader: YamlLoader) -> tuple[Any, KeyLines]:
    """The loader's one document (None when empty) and its key lines; disposes of the loader.

    Keys are constructed by the loader, so a path found here is the path of the data
    (`1:` is the integer 1, not the text '1'). PyYAML's errors pass through for the
    caller to word.
    """
    try:
        root: YamlNode | None = loader.get_single_node()
        key_lines = KeyLines()
        if root is not None:
            _YamlWalk(key_lines, loader.construct_object).visit(root, ())
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, key_lines


class _YamlWalk:
    """Visits every node once per path it is reached by, minding aliases of ancestors."""

    def __init__(self, found: KeyLines, construct_key: Callable[[Any], Any]) -> None:
        self._found = found
        self._construct_key = construct_key
        self._visiting: set[int] = set()

    def visit(self, node: YamlNode, path: KeyPath) -> None:
        self._found.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._visiting:  # an alias of one of its own ancestors
            return
        self._visiting.add(id(node))
        if node.id == "mapping":
            self._visit_mapping(node, path)
        elif node.id == "sequence":
            for index, item in enumerate(node.value):
                self.visit(item, (*path, index))
        self._visiting.discard(id(node))

    def _visit_mapping(self, node: YamlNode, path: KeyPath) -> None:
        first_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _YAML_MERGE or key_node.id != "scalar":
                continue
            key = self._construct_key(key_node)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                self._found.repeated.append(RepeatedKey((*path, key), line, first_lines[key]))
                continue
            first_lines[key] = line
            self._found.lines[(*path, key)] = line
            self.visit(value_node, (*path, key))
