"""A compile-time estimate of the most an expression can build, and the refusal of those too big.

cel-expr-python evaluates an expression in one C++ call that holds the GIL and cannot be
interrupted: ``x.replace("a", "aaaaaaaaaa")`` chained ten times grows a 64 KiB label ten-billion
fold, and nothing stops it once started. :func:`check` is called by
:func:`~reconciler.expressions.compiler.compile_expression` on the checked tree
(:mod:`reconciler.expressions.checked`) and raises ExpressionError when, in the worst case,

- one value the expression builds (a string, list or map made by ``+``, ``replace``, ``join``,
  ``format``, ``strings.quote``, a comprehension, ...) would exceed ``max_built_bytes``; or
- all it builds, repeated by its loops, would exceed ``max_work_bytes``.

The worst case supposes every value the expression reads (``alert.labels.x``, a list of pods) is
as large as the input bounds allow: ``max_string_length`` in all, ``max_list_length`` items, and
loops as long as the library's iteration budget (10,000 iterations per evaluation). Values that
are only read (compared, indexed, passed through) cost nothing: the bound is on what is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.errors import ExpressionError
from reconciler.expressions.checked import Checked, Node
from reconciler.settings import ExpressionLimits

ITERATION_BUDGET = 10_000  # cel-expr-python stops an evaluation after this many loop iterations
MAX_NESTING = 5  # loops within loops; also keeps the estimate's own walk small (3 ** depth)
_SCALAR = 32  # bytes a number, bool, timestamp or duration can take as text


@dataclass(frozen=True, slots=True)
class Bound:
    """Upper bounds for one node: the size of its value (bytes, or items plus their bytes), how
    many items it can hold, and the bytes built while evaluating it once."""

    size: float
    count: float = 0.0
    work: float = 0.0


_ZERO = Bound(0.0)


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the walk is: the loop variables in scope, the iterations left, the loop depth."""

    names: dict[str, Bound]
    budget: int
    depth: int

    def bind(self, names: dict[str, Bound]) -> _Frame:
        return _Frame({**self.names, **names}, self.budget, self.depth)

    def inner(self, names: dict[str, Bound], budget: int) -> _Frame:
        return _Frame({**self.names, **names}, max(1, budget), self.depth + 1)


_BUILDING_ADD = {"add_string", "add_bytes", "add_list"}
_SCALAR_FUNCTIONS = {
    *(
        "_==_",
        "_!=_",
        "_<_",
        "_<=_",
        "_>_",
        "_>=_",
        "_&&_",
        "_||_",
        "!_",
        "@in",
        "@not_strictly_false",
    ),
    *("_-_", "_*_", "_/_", "_%_", "-_", "size", "contains", "startsWith", "endsWith", "matches"),
    *("has", "int", "uint", "double", "bool", "timestamp", "duration", "type", "indexOf"),
    *("lastIndexOf", "hasValue", "exists_one"),
}
_SAME_SIZE = {"lowerAscii", "upperAscii", "trim", "substring", "reverse", "charAt", "string"}


class _Estimate:
    """One walk over a checked tree, with the limits and where to point in the source."""

    def __init__(self, checked: Checked, source: str, limits: ExpressionLimits) -> None:
        self.checked = checked
        self.source = source
        self.limits = limits
        self.input = Bound(float(limits.max_string_length), float(limits.max_list_length))
        self.memo: dict[tuple[object, ...], Bound] = {}
        self.free: dict[int, tuple[tuple[str, ...], bool]] = {}

    def at(self, node: Node) -> str:
        offset = self.checked.offset(node.id)
        return f"at column {offset + 1}: " if offset is not None else ""

    def built(self, node: Node, bound: Bound, what: str) -> Bound:
        """A value built by ``node``: refuse it if it can exceed the size limit."""
        limit = self.limits.max_built_bytes
        if bound.size > limit:
            raise ExpressionError(
                f"{self.at(node)}{what} can build a value of about {_human(bound.size)} from "
                f"inputs of {_human(self.limits.max_string_length)}; the limit is {_human(limit)}. "
                "Bound it: take a substring() first, or build less"
            )
        return Bound(bound.size, bound.count, bound.work + bound.size)

    def walk(self, node: Node, frame: _Frame) -> Bound:
        """The bound of one node, memoized: a loop's body is walked three times per enclosing
        loop pass, and most of it does not depend on what changes between the passes."""
        if not frame.names:  # outside any loop each node is walked once: nothing to share
            return self._walk(node, frame)
        free, loops = self._free(node)
        key = (
            node.id,
            tuple(frame.names.get(name) for name in free),
            (frame.budget, frame.depth) if loops else None,
        )
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._walk(node, frame)
        return found

    def _free(self, node: Node) -> tuple[tuple[str, ...], bool]:
        """The identifiers a subtree names (sorted), and whether it holds a loop."""
        found = self.free.get(node.id)
        if found is None:
            names: set[str] = {node.name} if node.kind == "ident" else set()
            loops = node.kind == "comprehension"
            for child in (*node.children, *node.parts.values()):
                child_names, child_loops = self._free(child)
                names.update(child_names)
                loops = loops or child_loops
            found = self.free[node.id] = (tuple(sorted(names)), loops)
        return found

    def _walk(self, node: Node, frame: _Frame) -> Bound:
        if node.kind == "const":
            return Bound(float(len(node.text)) if node.text is not None else _SCALAR)
        if node.kind == "ident":
            return frame.names.get(node.name, self.input)
        if node.kind == "select":
            operand = self.walk(node.children[0], frame) if node.children else self.input
            return Bound(operand.size, operand.count, operand.work)
        if node.kind in ("list", "struct"):
            parts = [self.walk(child, frame) for child in node.children]
            size = sum(p.size for p in parts) + len(parts)
            literal = Bound(size, float(len(parts)), sum(p.work for p in parts))
            return self.built(node, literal, "this literal") if node.kind == "list" else literal
        if node.kind == "comprehension":
            return self.comprehension(node, frame)
        return self.call(node, frame)

    def call(self, node: Node, frame: _Frame) -> Bound:
        args = [self.walk(child, frame) for child in node.children]
        work = sum(a.work for a in args)
        overloads = set(self.checked.overloads.get(node.id, ()))
        name = node.name
        if name == "_+_" and overloads & _BUILDING_ADD:
            size = sum(a.size for a in args)
            return self.built(node, Bound(size, sum(a.count for a in args), work), "`+`")
        if name == "replace" and len(args) >= 3:
            return self.built(node, self.replace(node, args, work), "replace()")
        if name == "join" and args:
            separator = args[1].size if len(args) > 1 else 0.0
            size = args[0].size + args[0].count * separator
            return self.built(node, Bound(size, 0.0, work), "join()")
        if name == "split" and args:
            return self.built(node, Bound(args[0].size * 2 + 1, args[0].size + 1, work), "split()")
        if name == "format" and args:
            size = sum(a.size for a in args) * 2 + sum(a.count for a in args[1:]) * _SCALAR
            return self.built(node, Bound(size, 0.0, work), "format()")
        if name == "strings.quote" and args:
            return self.built(node, Bound(args[0].size * 6 + 2, 0.0, work), "strings.quote()")
        if name in _SAME_SIZE and args:
            return self.built(node, Bound(max(args[0].size, _SCALAR), 0.0, work), f"{name}()")
        if name in _SCALAR_FUNCTIONS or name.startswith(("math.", "get")) or not args:
            return Bound(_SCALAR, 0.0, work)  # a comparison, a size, a number, a bool, a time
        # Anything else (_?_:_, _[_], orValue, dyn, bytes, ...) is taken to be no larger than
        # its largest argument: a choice among them, a part or a conversion of one.
        largest = max(args, key=lambda a: a.size)
        return Bound(largest.size, largest.count, work)

    def replace(self, node: Node, args: list[Bound], work: float) -> Bound:
        subject, new = args[0], args[2]
        old = node.children[1]
        limit = node.children[3].integer if len(node.children) > 3 else None
        if limit is not None and 0 <= limit < 2**63:  # replace(old, new, n): at most n times
            return Bound(subject.size + limit * new.size, 0.0, work)
        if old.text:  # a literal: at most size/len(old) occurrences
            occurrences = subject.size / len(old.text)
            return Bound(subject.size + occurrences * max(0.0, new.size - len(old.text)), 0.0, work)
        # old may be empty: new is inserted between every two characters
        return Bound(subject.size + (subject.size + 1) * new.size, 0.0, work)

    def comprehension(self, node: Node, frame: _Frame) -> Bound:
        parts = node.parts
        if frame.depth >= MAX_NESTING:
            raise ExpressionError(
                f"{self.at(node)}loops are nested more than {MAX_NESTING} deep; nest fewer"
            )
        over = self.walk(parts["range"], frame) if "range" in parts else self.input
        init = self.walk(parts["init"], frame) if "init" in parts else _ZERO
        iterations = max(1, min(int(over.count), frame.budget))
        # What depends on the item adds up, over all iterations, to at most what the body
        # builds from one item as large as the whole range (inner loops may then take the whole
        # budget); what does not is repeated on every iteration (inner loops sharing the budget).
        full = frame.inner({node.name: over, node.accu: _ZERO}, frame.budget)
        empty = frame.inner({node.name: _ZERO, node.accu: _ZERO}, frame.budget)
        shared = frame.inner({node.name: _ZERO, node.accu: _ZERO}, frame.budget // iterations)
        step = self._body(parts, full)
        alone = self._body(parts, empty)
        repeated = self._body(parts, shared)
        size = max(init.size, step.size)  # exists(), all(): the step replaces the accumulator
        if self._accumulates(parts.get("step"), node.accu):  # map(), filter(): appends to it
            size = init.size + max(0.0, step.size - alone.size) + iterations * repeated.size
        work = over.work + init.work + max(0.0, step.work - alone.work)
        work += iterations * repeated.work
        accumulated = Bound(size, init.count + iterations, work)
        if work > self.limits.max_work_bytes:
            raise ExpressionError(
                f"{self.at(node)}this loop can build about {_human(work)} in all (up to "
                f"{iterations:,} iterations over inputs of "
                f"{_human(self.limits.max_string_length)}); the limit is "
                f"{_human(self.limits.max_work_bytes)}. Build strings outside the loop, or "
                "compare instead of building"
            )
        if "result" not in parts:
            return accumulated
        result = self.walk(parts["result"], frame.bind({node.accu: accumulated}))
        return Bound(result.size, result.count, work + result.work)

    def _accumulates(self, step: Node | None, accu: str) -> bool:
        """Whether a loop's step appends to its accumulator (``accu + [...]``)."""
        if step is None:
            return False
        if step.kind == "call" and step.name == "_+_":
            building = set(self.checked.overloads.get(step.id, ())) & _BUILDING_ADD
            if building and any(c.kind == "ident" and c.name == accu for c in step.children):
                return True
        return any(self._accumulates(child, accu) for child in step.children)

    def _body(self, parts: dict[str, Node], frame: _Frame) -> Bound:
        step = self.walk(parts["step"], frame) if "step" in parts else _ZERO
        condition = self.walk(parts["condition"], frame) if "condition" in parts else _ZERO
        return Bound(step.size, step.count, step.work + condition.work)


# Every construct the estimate counts as building, by how it is spelled (the macros all, exists,
# exists_one, map, filter and optMap expand to loops). A source without any builds nothing: it
# is not estimated, which spares most conditions (``==``, ``&&``, ``startsWith``) the decoding.
_MAY_BUILD = re.compile(
    r"[+\[{]|replace|join|split|format|quote|Ascii|trim|substring|reverse|charAt|string"
    r"|map|filter|exists|all|opt"
)


def may_build(source: str) -> bool:
    """False when ``source`` certainly builds nothing (then :func:`check` need not run)."""
    return _MAY_BUILD.search(source) is not None


def check(checked: Checked, source: str, limits: ExpressionLimits) -> Bound:
    """Estimate the worst case of one expression; raise ExpressionError (with the column and the
    reason) when it can build more than the limits allow."""
    estimate = _Estimate(checked, source, limits)
    bound = estimate.walk(checked.root, _Frame({}, ITERATION_BUDGET, 0))
    if bound.work > limits.max_work_bytes:
        raise ExpressionError(
            f"expression can build about {_human(bound.work)} in all from inputs of "
            f"{_human(limits.max_string_length)}; the limit is {_human(limits.max_work_bytes)}. "
            "Build less"
        )
    return bound


def _human(size: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{int(size)} bytes"
