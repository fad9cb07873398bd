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


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _Yaml12Loader(yaml.CSafeLoader):
    """CSafeLoader whose implicit scalar types follow the YAML 1.2 core schema."""

    # Path resolvers are never registered here; skipping their bookkeeping saves two Python calls
    # per node.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # PyYAML's resolver is Python code run for every node; plain scalars repeat a lot
        # (keys, template strings), so their tags are memoised. Same answers, a third the time.
        if kind is yaml.ScalarNode:
            if implicit[0]:
                tag = _plain_tags.get(value)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                    if len(_plain_tags) < 100_000:
                        _plain_tags[value] = tag
                return tag
            if implicit[1]:
                return _STR
        elif kind is yaml.MappingNode and implicit:
            return _MAP
        elif kind is yaml.SequenceNode and implicit:
            return _SEQ
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


_plain_tags: dict[str, str] = {}


def clear_cache() -> None:
    _plain_tags.clear()


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
    """One YAML document: its value, its index in the file, and its node graph for positions.

    Positions are looked up on demand (only problems need them), by walking the node graph
    along a path, which keeps the common case — a valid file — fast.
    """

    value: Any
    index: int
    root: yaml.Node | None = field(default=None, repr=False)

    def locate(self, path: Path) -> tuple[int, int]:
        """1-based line and column of ``path`` (a mapping key's position for its value), or
        of its nearest existing ancestor."""
        node = self.root
        if node is None:
            return (1, 1)
        where = node.start_mark
        for part in path:
            found = _child(node, part)
            if found is None:
                break
            where, node = found
        return (where.line + 1, where.column + 1)

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        """Every path of the document with its position (for tools and tests)."""
        result: dict[Path, tuple[int, int]] = {}
        if self.root is not None:
            _collect_positions(self.root, (), self.root.start_mark, result, set())
        return result


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Mark, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                return key_node.start_mark, value_node
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        item = node.value[part]
        return item.start_mark, item
    return None


def _collect_positions(
    node: yaml.Node,
    path: Path,
    mark: yaml.Mark,
    result: dict[Path, tuple[int, int]],
    seen: set[int],
) -> None:
    result[path] = (mark.line + 1, mark.column + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _collect_positions(
                    value_node, (*path, key_node.value), key_node.start_mark, result, seen
                )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_positions(item, (*path, index), item.start_mark, result, seen)


class _YamlLimitError(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Builder:
    """Turns a composed node graph into Python values, bounding aliases, recursion and depth."""

    def __init__(self, limits: LoaderLimits) -> None:
        self.limits = limits
        self._built: dict[
            int, tuple[Any, int]
        ] = {}  # id(collection node) -> (value, expanded size)
        self._in_progress: set[int] = set()
        self.alias_expansion = 0

    def build(self, node: yaml.Node, depth: int = 0) -> tuple[Any, int]:
        if node.__class__ is yaml.ScalarNode:
            if node.tag == _STR:
                return node.value, 1
            if node.tag not in _KNOWN_TAGS:
                raise _YamlLimitError(
                    f"unsupported YAML tag {node.tag!r}; use plain YAML values", node.start_mark
                )
            return _scalar(node), 1
        key = id(node)
        built = self._built.get(key)
        if built is not None:  # an alias: the same node reached again
            self.alias_expansion += built[1]
            if self.alias_expansion > self.limits.max_alias_expansion:
                raise _YamlLimitError(
                    f"YAML aliases expand to more than {self.limits.max_alias_expansion} nodes; "
                    "write the values out or use fewer anchors",
                    node.start_mark,
                )
            return built
        if key in self._in_progress:
            raise _YamlLimitError(
                "recursive YAML alias: an anchor refers to itself", node.start_mark
            )
        if depth > self.limits.max_depth:
            raise _YamlLimitError(
                f"nesting deeper than {self.limits.max_depth} levels", node.start_mark
            )
        if node.tag not in _KNOWN_TAGS:
            raise _YamlLimitError(
                f"unsupported YAML tag {node.tag!r}; use plain YAML values", node.start_mark
            )
        self._in_progress.add(key)
        if node.__class__ is yaml.MappingNode:
            result = self._build_mapping(node, depth)
        else:
            items: list[Any] = []
            size = 1
            for child in node.value:
                value, child_size = self.build(child, depth + 1)
                items.append(value)
                size += child_size
            result = (items, size)
        self._in_progress.discard(key)
        self._built[key] = result
        return result

    def _build_mapping(self, node: yaml.Node, depth: int) -> tuple[Any, int]:
        result: dict[str, Any] = {}
        size = 1
        for key_node, value_node in node.value:
            if key_node.__class__ is not yaml.ScalarNode:
                raise _YamlLimitError("mapping keys must be plain scalars", key_node.start_mark)
            if key_node.tag == _STR:
                key = key_node.value
                if key == "<<":
                    raise _YamlLimitError(
                        "YAML merge keys (<<) are not supported", key_node.start_mark
                    )
            else:
                scalar = _scalar(key_node)
                key = str(scalar).lower() if isinstance(scalar, bool) else str(scalar)
            if key in result:
                raise _YamlLimitError(f"duplicate key {key!r}", key_node.start_mark)
            value, child_size = self.build(value_node, depth + 1)
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
        lowered = text.lower()
        if lowered.endswith(".nan"):
            return float("nan")
        return float(lowered.replace(".inf", "inf"))
    except ValueError as exc:
        raise _YamlLimitError(f"{text!r} is not a number", node.start_mark) from exc


# Signs that a document may nest deeply: many flow brackets, or a long line holding a run of
# compact block indicators (``- - - -``, ``? ? ?``) or very deep indentation. Such runs need
# long lines, so only lines over 200 bytes are searched (a regex over the whole file costs more
# than the parse of a normal one).
_COMPACT_RUN = re.compile(rb"(?:[-?][ \t]+){100,}")
_LONG_LINE = 200


def _nesting_problem(data: bytes, limits: LoaderLimits) -> _YamlLimitError | None:
    """Refuse deep nesting before composing: libyaml's composer recurses, and a few tens of
    thousands of levels crash the process. Without many brackets, compact indicators or deep
    indentation a document cannot nest past a few thousand levels, which the composer survives
    (the builder then enforces ``max_depth``); otherwise the file is first scanned as events,
    an iterative pass."""
    suspicious = data.count(b"[") + data.count(b"{") > 4 * limits.max_depth or any(
        len(line) - len(line.lstrip(b" \t")) >= 1000 or _COMPACT_RUN.search(line)
        for line in data.split(b"\n")
        if len(line) > _LONG_LINE
    )
    if not suspicious:
        return None
    parser = yaml.CSafeLoader(data)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limits.max_depth:
                    return _YamlLimitError(
                        f"nesting deeper than {limits.max_depth} levels", event.start_mark
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        parser.dispose()
    return None


def parse_documents(
    text: bytes | str, path: str, limits: LoaderLimits
) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one file; problems carry ``path:line:col``."""
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError as exc:
        return [], [Problem(path, 0, 0, "", f"cannot read file as UTF-8 YAML: {exc}")]
    size = len(data)
    if size > limits.max_file_bytes:
        return [], [
            Problem(path, 0, 0, "", f"file is {size} bytes; the limit is {limits.max_file_bytes}")
        ]
    documents: list[Document] = []
    loader = None
    try:
        too_deep = _nesting_problem(data, limits)
        if too_deep is not None:
            raise too_deep
        loader = _Yaml12Loader(data)
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
            value, _ = _Builder(limits).build(node)
            documents.append(Document(value, len(documents), node))
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
        if loader is not None:
            loader.dispose()
    # Documents that hold nothing (a trailing '---') are not definitions.
    return [d for d in documents if d.value is not None], []
