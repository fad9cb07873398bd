"""Bounded, position-keeping YAML 1.2 parsing on PyYAML's C parser.

The loader calls :func:`parse_documents` for each file. It returns plain Python values plus a map
from each value's path (``("spec", "steps", 2, "id")``) to its line and column, so every later
error can point at ``file:line:col``. YAML 1.2 scalars: only ``true``/``false`` are booleans (the
key ``on:`` stays a string), no sexagesimal integers, timestamps stay strings. Hostile input is
bounded by counts, never timers: file size, documents per file, nesting depth, and the number of
nodes YAML aliases add once expanded (a "billion laughs" document fails at once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import Problem
from reconciler.settings import LoaderLimits

if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - depends on the wheel
    raise ImportError(
        "reconciler needs PyYAML built with libyaml (yaml.CSafeLoader); reinstall PyYAML from a wheel"
    )

Path = tuple[str | int, ...]

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)

_STR = "tag:yaml.org,2002:str"
_KNOWN_TAGS = {
    _STR,
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class _Yaml12Loader(yaml.CSafeLoader):
    """CSafeLoader whose implicit scalar types follow the YAML 1.2 core schema."""


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _regex, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
):
    _Yaml12Loader.add_implicit_resolver(_tag, _regex, list(_first))


@dataclass
class Document:
    """One YAML document: its value, where each part of it sits, and its index in the file."""

    value: Any
    index: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest located ancestor."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))


class _YamlLimitError(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Builder:
    """Turns a composed node graph into Python values, recording positions and bounding aliases."""

    def __init__(self, limits: LoaderLimits) -> None:
        self.limits = limits
        self.positions: dict[Path, tuple[int, int]] = {}
        self._built: dict[int, tuple[Any, int]] = {}  # id(node) -> (value, expanded size)
        self._in_progress: set[int] = set()
        self.alias_expansion = 0

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> tuple[Any, int]:
        mark = node.start_mark
        self.positions.setdefault(path, (mark.line + 1, mark.column + 1))
        key = id(node)
        if key in self._built:  # an alias: the same node reached again
            value, size = self._built[key]
            self.alias_expansion += size
            if self.alias_expansion > self.limits.max_alias_expansion:
                raise _YamlLimitError(
                    f"YAML aliases expand to more than {self.limits.max_alias_expansion} nodes; "
                    "write the values out or use fewer anchors",
                    mark,
                )
            return value, size
        if key in self._in_progress:
            raise _YamlLimitError("recursive YAML alias: an anchor refers to itself", mark)
        if depth > self.limits.max_depth:
            raise _YamlLimitError(f"nesting deeper than {self.limits.max_depth} levels", mark)
        self._in_progress.add(key)
        try:
            result = self._build_node(node, path, depth)
        finally:
            self._in_progress.discard(key)
        self._built[key] = result
        return result

    def _build_node(self, node: yaml.Node, path: Path, depth: int) -> tuple[Any, int]:
        if node.tag not in _KNOWN_TAGS:
            raise _YamlLimitError(
                f"unsupported YAML tag {node.tag!r}; use plain YAML values", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            return self._build_mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            size = 1
            for index, child in enumerate(node.value):
                value, child_size = self.build(child, (*path, index), depth + 1)
                items.append(value)
                size += child_size
            return items, size
        return _scalar(node), 1

    def _build_mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> tuple[Any, int]:
        result: dict[Any, Any] = {}
        size = 1
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _YamlLimitError("YAML merge keys (<<) are not supported", key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                raise _YamlLimitError("mapping keys must be plain scalars", key_node.start_mark)
            key = _scalar(key_node)
            key = (
                key
                if isinstance(key, str)
                else str(key).lower()
                if isinstance(key, bool)
                else str(key)
            )
            if key in result:
                raise _YamlLimitError(f"duplicate key {key!r}", key_node.start_mark)
            child_path = (*path, key)
            self.positions[child_path] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            value, child_size = self.build(value_node, child_path, depth + 1)
            result[key] = value
            size += child_size
        return result, size


def _scalar(node: yaml.Node) -> Any:
    text: str = node.value
    tag = node.tag
    if tag == _STR:
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        if not _BOOL.match(text):
            raise _YamlLimitError(f"{text!r} is not a YAML 1.2 boolean", node.start_mark)
        return text.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        try:
            if text.startswith(("0o", "0x")):
                return int(text, 0)
            return int(text, 10)
        except ValueError as exc:
            raise _YamlLimitError(f"{text!r} is not an integer", node.start_mark) from exc
    try:
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf"))
    except ValueError as exc:
        raise _YamlLimitError(f"{text!r} is not a number", node.start_mark) from exc


def parse_documents(
    text: bytes | str, path: str, limits: LoaderLimits
) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one file; problems carry ``path:line:col``."""
    size = len(text)
    if size > limits.max_file_bytes:
        return [], [
            Problem(path, 0, 0, "", f"file is {size} bytes; the limit is {limits.max_file_bytes}")
        ]
    loader = _Yaml12Loader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            if len(documents) >= limits.max_documents_per_file:
                return documents, [
                    Problem(
                        path,
                        0,
                        0,
                        "",
                        f"more than {limits.max_documents_per_file} YAML documents in one file",
                    )
                ]
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there was one
                break
            builder = _Builder(limits)
            value, _ = builder.build(node, ())
            documents.append(Document(value, len(documents), builder.positions))
    except _YamlLimitError as exc:
        line, column = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (0, 0)
        return documents, [Problem(path, line, column, "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return documents, [Problem(path, line, column, "", f"YAML syntax error: {message}")]
    except yaml.YAMLError as exc:
        return documents, [Problem(path, 0, 0, "", f"YAML error: {exc}")]
    except (UnicodeDecodeError, ValueError) as exc:
        return documents, [Problem(path, 0, 0, "", f"cannot read file as UTF-8 YAML: {exc}")]
    finally:
        loader.dispose()
    # Documents that hold nothing (a trailing '---') are not definitions.
    return [d for d in documents if d.value is not None], []
