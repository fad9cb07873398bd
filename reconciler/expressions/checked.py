"""The checked syntax tree of a compiled CEL expression, read from the library's serialized form.

cel-expr-python exposes no tree, but ``Expression.serialize()`` returns a ``google.protobuf.Any``
holding a ``cel.expr.CheckedExpr`` (cel-spec ``checked.proto`` and ``syntax.proto``). This module
decodes the few fields :mod:`reconciler.expressions.cost` needs with a small protobuf wire-format
reader: the node tree, the overloads the checker chose for each call, and each node's offset in
the source. Field numbers are those of cel-spec; they are part of its wire contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Buffer = memoryview  # slices of a memoryview are not copies, and the tree nests deep


def _varint(data: Buffer, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, at


def _fields(data: Buffer) -> list[tuple[int, int | Buffer]]:
    """(field number, value) pairs of one message: varints as int, length-delimited as views."""
    found: list[tuple[int, int | Buffer]] = []
    at, end = 0, len(data)
    while at < end:
        key = data[at]  # one-byte varints are the rule here: a fast path for them
        key, at = (key, at + 1) if key < 0x80 else _varint(data, at)
        wire = key & 7
        value: int | Buffer
        if wire == 0 or wire == 2:
            size = data[at]
            size, at = (size, at + 1) if size < 0x80 else _varint(data, at)
            if wire == 0:
                value = size
            else:
                value, at = data[at : at + size], at + size
        elif wire in (1, 5):  # fixed 64 / 32 bits (doubles, floats): skipped, never needed
            width = 8 if wire == 1 else 4
            value, at = data[at : at + width], at + width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        found.append((key >> 3, value))
    return found


def _bytes(pairs: list[tuple[int, int | Buffer]], number: int) -> Buffer | None:
    for key, value in pairs:
        if key == number and isinstance(value, memoryview):
            return value
    return None


def _int(pairs: list[tuple[int, int | Buffer]], number: int) -> int:
    for key, value in pairs:
        if key == number and isinstance(value, int):
            return value
    return 0


@dataclass(frozen=True, slots=True)
class Node:
    """One node: ``kind`` is const, ident, select, call, list, struct or comprehension."""

    id: int
    kind: str
    name: str = ""  # ident name, select field, call function, comprehension iter_var
    text: str | None = None  # a string constant's value
    integer: int | None = None  # an int constant's value
    children: tuple[Node, ...] = ()  # select: operand; call: target then args; list: elements
    accu: str = ""  # comprehension: the accumulator's name
    # comprehension parts: iter_range, accu_init, loop_condition, loop_step, result
    parts: dict[str, Node] = field(default_factory=dict)


_COMPREHENSION = {2: "range", 4: "init", 5: "condition", 6: "step", 7: "result"}


def _node(data: Buffer) -> Node:
    pairs = _fields(data)
    node_id = _int(pairs, 2)
    for number, value in pairs:
        if not isinstance(value, memoryview):
            continue
        if number == 3:
            return _constant(node_id, value)
        if number == 4:
            return Node(node_id, "ident", name=_text(_bytes(_fields(value), 1)))
        if number == 5:
            inner = _fields(value)
            operand = _bytes(inner, 1)
            children = (_node(operand),) if operand is not None else ()
            return Node(node_id, "select", name=_text(_bytes(inner, 2)), children=children)
        if number == 6:
            inner = _fields(value)
            target = [_node(v) for k, v in inner if k == 1 and isinstance(v, memoryview)]
            args = [_node(v) for k, v in inner if k == 3 and isinstance(v, memoryview)]
            name = _text(_bytes(inner, 2))
            return Node(node_id, "call", name=name, children=(*target, *args))
        if number == 7:
            elements = [_node(v) for k, v in _fields(value) if k == 1 and isinstance(v, memoryview)]
            return Node(node_id, "list", children=tuple(elements))
        if number == 8:
            return Node(node_id, "struct", children=_entries(value))
        if number == 9:
            return _comprehension(node_id, value)
    return Node(node_id, "const")


def _constant(node_id: int, data: Buffer) -> Node:
    pairs = _fields(data)
    text = _bytes(pairs, 6)
    if text is None:
        text = _bytes(pairs, 7)  # bytes_value
    if text is not None:
        return Node(node_id, "const", text=_text(text))
    integer = next((v for k, v in pairs if k in (3, 4) and isinstance(v, int)), None)
    return Node(node_id, "const", integer=integer)


def _entries(data: Buffer) -> tuple[Node, ...]:
    """Keys and values of a map or message literal, flattened."""
    found: list[Node] = []
    for number, entry in _fields(data):
        if number != 2 or not isinstance(entry, memoryview):
            continue
        for key, value in _fields(entry):
            if key in (3, 4) and isinstance(value, memoryview):
                found.append(_node(value))
    return tuple(found)


def _comprehension(node_id: int, data: Buffer) -> Node:
    pairs = _fields(data)
    parts = {
        _COMPREHENSION[k]: _node(v)
        for k, v in pairs
        if k in _COMPREHENSION and isinstance(v, memoryview)
    }
    return Node(
        node_id,
        "comprehension",
        name=_text(_bytes(pairs, 1)),
        accu=_text(_bytes(pairs, 3)),
        parts=parts,
    )


def _text(data: Buffer | None) -> str:
    return bytes(data).decode("utf-8", "replace") if data is not None else ""


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked expression: its root and the overloads the checker chose for each call."""

    root: Node
    overloads: dict[int, tuple[str, ...]]
    source_info: Buffer = field(default_factory=lambda: memoryview(b""))

    def offset(self, node_id: int) -> int | None:
        """Where a node starts in the source (0-based), decoded only when an error needs it."""
        for number, entry in _fields(self.source_info):
            if number == 4 and isinstance(entry, memoryview):
                pairs = _fields(entry)
                if _int(pairs, 1) == node_id:
                    return _int(pairs, 2)
        return None


def read(serialized: bytes) -> Checked:
    """Decode ``Expression.serialize()``; raise ValueError if it is not a CheckedExpr."""
    wrapper = _fields(memoryview(serialized))
    type_url = _text(_bytes(wrapper, 1))
    payload = _bytes(wrapper, 2)
    if not type_url.endswith("cel.expr.CheckedExpr") or payload is None:
        raise ValueError(f"not a checked CEL expression: {type_url!r}")
    checked = _fields(payload)
    root = _bytes(checked, 4)
    if root is None:
        raise ValueError("checked CEL expression without a tree")
    overloads: dict[int, tuple[str, ...]] = {}
    for number, entry in checked:
        if number == 2 and isinstance(entry, memoryview):
            pairs = _fields(entry)
            reference = _fields(_bytes(pairs, 2) or memoryview(b""))
            ids = tuple(_text(v) for k, v in reference if k == 3 and isinstance(v, memoryview))
            overloads[_int(pairs, 1)] = ids
    return Checked(_node(root), overloads, _bytes(checked, 5) or memoryview(b""))
