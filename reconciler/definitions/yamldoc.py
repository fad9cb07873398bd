"""Bounded, position-keeping YAML 1.2 parsing on PyYAML's C parser.

The loader calls :func:`parse_documents` for each file. It returns plain Python values plus a map
from each value's path (``("spec", "steps", 2, "id")``) to its line and column, so every later
error can point at ``file:line:col``. YAML 1.2 scalars: only ``true``/``false`` are booleans (the
key ``on:`` stays a string), no sexagesimal integers, timestamps stay strings. Hostile input is
bounded by counts, never timers: file size, documents per file, nesting depth, the number of
nodes YAML aliases add once expanded (a "billion laughs" document fails at once), and the number
of nodes per file and per revision (checks before composing live in :mod:`yamlscan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.definitions import messages, yamlscan
from reconciler.definitions.yamlscan import LimitError, NodeBudget
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
                    # Short scalars only: the memo outlives revisions, so a long one would keep
                    # a rejected revision's text in memory.
                    if len(value) <= _MEMO_LENGTH and len(_plain_tags) < 100_000:
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
_MEMO_LENGTH = 64


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


class _Builder:
    """Turns a composed node graph into Python values, bounding aliases, recursion and depth."""

    def __init__(self, limits: LoaderLimits) -> None:
        self.limits = limits
        self._built: dict[
            int, tuple[Any, int]
        ] = {}  # id(collection node) -> (value, expanded size)
        self._in_progress: set[int] = set()
        self.alias_expansion = 0
        # Parse events the document's nodes make (a scalar or alias one, a collection two), the
        # unit of the node limits: the same count yamlscan.count_nodes gets from libyaml.
        self.events = 0

    def build(self, node: yaml.Node, depth: int = 0) -> tuple[Any, int]:
        if node.__class__ is yaml.ScalarNode:
            self.events += 1
            if node.tag == _STR:
                return node.value, 1
            if node.tag not in _KNOWN_TAGS:
                raise LimitError(
                    f"unsupported YAML tag {messages.shown(node.tag)}; use plain YAML values",
                    node.start_mark,
                )
            return _scalar(node), 1
        key = id(node)
        built = self._built.get(key)
        if built is not None:  # an alias: the same node reached again
            self.events += 1
            self.alias_expansion += built[1]
            if self.alias_expansion > self.limits.max_alias_expansion:
                raise LimitError(
                    f"YAML aliases expand to more than {self.limits.max_alias_expansion} nodes; "
                    "write the values out or use fewer anchors",
                    node.start_mark,
                )
            return built
        if key in self._in_progress:
            raise LimitError("recursive YAML alias: an anchor refers to itself", node.start_mark)
        if depth > self.limits.max_depth:
            raise LimitError(f"nesting deeper than {self.limits.max_depth} levels", node.start_mark)
        if node.tag not in _KNOWN_TAGS:
            raise LimitError(
                f"unsupported YAML tag {messages.shown(node.tag)}; use plain YAML values",
                node.start_mark,
            )
        self._in_progress.add(key)
        self.events += 2
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
        self.events += len(node.value)  # the keys, scalars not built through build()
        for key_node, value_node in node.value:
            if key_node.__class__ is not yaml.ScalarNode:
                raise LimitError("mapping keys must be plain scalars", key_node.start_mark)
            if key_node.tag == _STR:
                key = key_node.value
                if key == "<<":
                    raise LimitError("YAML merge keys (<<) are not supported", key_node.start_mark)
            else:
                scalar = _scalar(key_node)
                key = str(scalar).lower() if isinstance(scalar, bool) else str(scalar)
            if key in result:
                raise LimitError(f"duplicate key {messages.shown(key)}", key_node.start_mark)
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
            raise LimitError(f"{messages.shown(text)} is not a YAML 1.2 boolean", node.start_mark)
        return text.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        try:
            if text.startswith(("0o", "0x")):
                return int(text, 0)
            return int(text, 10)
        except ValueError as exc:
            raise LimitError(f"{messages.shown(text)} is not an integer", node.start_mark) from exc
    try:
        lowered = text.lower()
        if lowered.endswith(".nan"):
            return float("nan")
        return float(lowered.replace(".inf", "inf"))
    except ValueError as exc:
        raise LimitError(f"{messages.shown(text)} is not a number", node.start_mark) from exc


def parse_documents(
    text: bytes | str, path: str, limits: LoaderLimits, budget: NodeBudget | None = None
) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one file; problems carry ``path:line:col``.

    ``budget`` is the revision's node budget (the loader shares one across a revision's files);
    the file's nodes are taken from it, and a file that goes past it sets ``budget.exhausted``.
    """
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError as exc:
        return [], [Problem(path, 0, 0, "", f"cannot read file as UTF-8 YAML: {exc}")]
    size = len(data)
    if size > limits.max_file_bytes:
        return [], [
            Problem(path, 0, 0, "", f"file is {size} bytes; the limit is {limits.max_file_bytes}")
        ]
    budget = budget if budget is not None else NodeBudget(limits.max_nodes_per_revision)
    composed = _Composed()
    problem = _compose(data, path, limits, budget, composed)
    if problem is not None:  # the documents before it are kept, within the limits
        over = _charge(composed.events, path, limits, budget)
        if over is not None:
            return [], [problem, over]
        return composed.documents, [problem]
    problem = _charge(composed.events + 2, path, limits, budget)  # and the stream's start, end
    if problem is not None:
        return [], [problem]  # nothing of an over-limit file is kept
    # Documents that hold nothing (a trailing '---') are not definitions.
    return [d for d in composed.documents if d.value is not None], []


@dataclass
class _Composed:
    """What composing a file gave so far (kept when a later document fails)."""

    documents: list[Document] = field(default_factory=list)
    events: int = 0


def _charge(events: int, path: str, limits: LoaderLimits, budget: NodeBudget) -> Problem | None:
    """Take a composed file's nodes from the budget, or say which limit it went past."""
    if events > limits.max_nodes_per_file:
        return Problem(path, 0, 0, "", yamlscan.file_over_message(events, limits))
    if events > budget.remaining:
        budget.exhausted = True
        return Problem(path, 0, 0, "", budget.over_message(events))
    budget.used += events
    return None


def _compose(
    data: bytes, path: str, limits: LoaderLimits, budget: NodeBudget, composed: _Composed
) -> Problem | None:
    documents = composed.documents
    loader = None
    try:
        too_deep = yamlscan.nesting_problem(data, limits)
        if too_deep is not None:
            raise too_deep
        yamlscan.check_count(data, limits, budget)
        loader = _Yaml12Loader(data)
        while loader.check_node():
            if len(documents) >= limits.max_documents_per_file:
                message = f"more than {limits.max_documents_per_file} YAML documents in one file"
                return Problem(path, 0, 0, "", message)
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there was one
                break
            builder = _Builder(limits)
            try:
                value, _ = builder.build(node)
            finally:
                composed.events += builder.events + 2  # and the document's start and end
            documents.append(Document(value, len(documents), node))
    except LimitError as exc:
        line, column = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (0, 0)
        return Problem(path, line, column, "", exc.message)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return Problem(path, line, column, "", f"YAML syntax error: {message}")
    except yaml.reader.ReaderError as exc:
        line, column, message = yamlscan.reader_problem(data, exc)
        return Problem(path, line, column, "", message)
    except yaml.YAMLError as exc:
        return Problem(path, 0, 0, "", f"YAML error: {exc}")
    except (UnicodeDecodeError, ValueError) as exc:
        return Problem(path, 0, 0, "", f"cannot read file as UTF-8 YAML: {exc}")
    finally:
        if loader is not None:
            loader.dispose()
    return None
