"""Step dependency graphs: implicit order, ``needs``, cycles, topological order, upstream sets.

Pure functions over step lists, used by validation (errors), ``plan`` (order) and the engine
(readiness). A list of sibling steps is one graph: in a sequential list (top level, ``steps:``,
``do:``) a step without ``needs`` depends on the step before it; in ``parallel:`` it depends on
nothing. ``needs`` names siblings and replaces the implicit dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.definitions.workflow import Step


def dependencies(steps: Sequence[Step], *, sequential: bool = True) -> dict[str, list[str]]:
    """Each sibling's direct dependencies (unknown names kept; validation reports them)."""
    result: dict[str, list[str]] = {}
    previous: str | None = None
    for step in steps:
        if step.needs is not None:
            result[step.id] = list(step.needs)
        elif sequential and previous is not None:
            result[step.id] = [previous]
        else:
            result[step.id] = []
        previous = step.id
    return result


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, c, a]``, or None. Unknown names are ignored."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes ordered so each comes after its dependencies; ties keep the written order."""
    remaining = {node: [d for d in deps if d in graph] for node, deps in graph.items()}
    order: list[str] = []
    done: set[str] = set()
    while remaining:
        ready = [node for node, deps in remaining.items() if all(d in done for d in deps)]
        if not ready:  # a cycle: validation reports it; keep the rest in written order
            ready = list(remaining)
        for node in ready:
            order.append(node)
            done.add(node)
            del remaining[node]
    return order


def ancestors(graph: Mapping[str, Sequence[str]], node: str) -> set[str]:
    """Every sibling ``node`` transitively depends on."""
    seen: set[str] = set()
    pending = list(graph.get(node, ()))
    while pending:
        current = pending.pop()
        if current in seen or current not in graph:
            continue
        seen.add(current)
        pending.extend(graph.get(current, ()))
    return seen
