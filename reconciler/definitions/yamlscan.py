"""Checks on a YAML file's bytes before it is composed into nodes, and the node budget.

:func:`reconciler.definitions.yamldoc.parse_documents` calls these. Composing is what costs
memory (~300 bytes a node, ~100 MB for a 1 MiB flow list of one-letter items), so a file that
could hold more nodes than allowed is counted first, in C and without building Python objects,
and refused before composing. Deep nesting is refused before composing too (libyaml's composer
recurses). Files that are not UTF-8 text get a ``line:col`` computed from libyaml's byte offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.settings import LoaderLimits

# A file this small holds under one node a byte (``[[],[],...]`` gives ~44,000; measured ~13 MB
# composed), so it is composed at once and its nodes counted while building, which keeps
# ordinary repositories from paying for a second pass. Larger files are counted first.
COUNT_FIRST_BYTES = 64 * 1024

WHAT_TO_DO = "split the data into smaller files or leave generated data out of the repository"


class LimitError(Exception):
    """A bound was crossed; ``mark`` is where (None: the file as a whole)."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


@dataclass
class NodeBudget:
    """The YAML nodes one revision may still compose, shared by all its files in path order."""

    limit: int
    used: int = 0
    exhausted: bool = False  # the loader stops reading files once a file went past the limit

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def over_message(self, nodes: int) -> str:
        return (
            f"this file's {nodes} YAML nodes take the revision past {self.limit} "
            f"(max_nodes_per_revision; {self.used} used by the files before it); "
            f"files after it are not read; {WHAT_TO_DO}"
        )


def file_over_message(nodes: int, limits: LoaderLimits) -> str:
    return (
        f"{nodes} YAML nodes in one file; the limit is {limits.max_nodes_per_file} "
        f"(max_nodes_per_file; a mapping or sequence counts two); {WHAT_TO_DO}"
    )


def count_nodes(data: bytes) -> int:
    """The file's YAML events (a scalar or alias one, a mapping or sequence two, two a document
    and two the stream), counted by libyaml without building Python objects."""
    parser = yaml.CSafeLoader(data)
    try:
        count: int = parser.raw_parse()
    finally:
        parser.dispose()
    return count


def check_count(data: bytes, limits: LoaderLimits, budget: NodeBudget) -> None:
    """Refuse a large file whose nodes go past the file's or the revision's limit, before
    composing it (the caller checks the nesting depth first: raw parsing of deep flow nesting
    is quadratic in libyaml)."""
    if len(data) <= COUNT_FIRST_BYTES:
        return
    nodes = count_nodes(data)
    if nodes > limits.max_nodes_per_file:
        raise LimitError(file_over_message(nodes, limits))
    if nodes > budget.remaining:
        budget.exhausted = True
        raise LimitError(budget.over_message(nodes))


# Signs that a document may nest deeply: many flow brackets, or a long line holding a run of
# compact block indicators (``- - - -``, ``? ? ?``) or very deep indentation. Such runs need
# long lines, so only lines over 200 bytes are searched (a regex over the whole file costs more
# than the parse of a normal one).
_COMPACT_RUN = re.compile(rb"(?:[-?][ \t]+){100,}")
_LONG_LINE = 200


def nesting_problem(data: bytes, limits: LoaderLimits) -> LimitError | None:
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
                    return LimitError(
                        f"nesting deeper than {limits.max_depth} levels", event.start_mark
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        parser.dispose()
    return None


def reader_problem(data: bytes, exc: yaml.reader.ReaderError) -> tuple[int, int, str]:
    """``(line, column, message)`` of bytes libyaml cannot read as text. libyaml gives a byte
    offset; people and editors need a line and a column (in characters)."""
    offset = max(0, min(int(exc.position), len(data)))
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    if "control character" in str(exc.reason):
        character = exc.character
        code = character if isinstance(character, int) else ord(character or "\0")
        message = (
            f"control character U+{code:04X} is not allowed in YAML; "
            "is this a binary file? definitions are UTF-8 text"
        )
    else:
        found = f" (byte 0x{data[offset]:02x})" if offset < len(data) else ""
        message = f"not valid UTF-8{found}; is this a binary file? save definitions as UTF-8 text"
    return line, column, message
