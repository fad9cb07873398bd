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
    """One dependency cycle as ``[a, b, c, a]``, or None. Unknown names are ignored."""
    cycles = find_cycles(graph)
    return cycles[0] if cycles else None


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """A cycle through every strongly connected component that has one (iterative Tarjan, so
    a chain of any length cannot exhaust the stack). Each cycle reads ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            deps = [d for d in graph.get(node, ()) if d in graph]
            if position < len(deps):
                work.append((node, position + 1))
                dep = deps[position]
                if dep not in index:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    order = {name: i for i, name in enumerate(graph)}
    return [_cycle_in(graph, min(c, key=order.__getitem__), set(c)) for c in components]


def _cycle_in(graph: Mapping[str, Sequence[str]], start: str, members: set[str]) -> list[str]:
    """A cycle from ``start`` back to itself inside one strongly connected component."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in graph.get(node, ()):
                if dep == start:
                    path = [start]
                    current = node
                    while current != start:
                        path.append(current)
                        current = parents[current]
                    return [start, *reversed(path[1:]), start]
                if dep in members and dep not in parents and dep != start:
                    parents[dep] = node
                    following.append(dep)
        frontier = following
    return [start, start]


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
