"""The scheduler's rules (SPEC §1.2), as pure functions over an execution's state.

:func:`advance` looks at the ``nodes`` map and does everything that needs no I/O: it
materialises the pending nodes of active containers, skips steps whose ``when`` is not met (a skip
passes on what happened upstream), completes groups, ``parallel`` blocks and ``for_each`` steps
whose children are all terminal, and returns the keys of the steps that are ready to start. The
shell evaluates their ``if`` and runs them. Nothing here reads a clock or a store.

Keys: a step's key is its id; inside iteration ``i`` of a ``for_each`` step ``fe`` the keys of
its ``do`` steps are prefixed ``fe[i]/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.definitions.workflow import Step
from reconciler.engine.state import Execution, Node, Phase
from reconciler.validation.compiled import CompiledWorkflow


@dataclass(frozen=True)
class Container:
    """A list of sibling steps being run: the top level, a group, or one for_each iteration."""

    parent: str | None  # key of the enclosing node (None: top level)
    prefix: str  # prefix of the children's keys
    scope: str | None  # step id whose children these are (None: top level)


def key_of(prefix: str, step_id: str) -> str:
    return f"{prefix}{step_id}"


def iteration_prefix(key: str, index: int) -> str:
    return f"{key}[{index}]/"


def prefix_of(key: str) -> str:
    """The prefix of a key (``fe[2]/`` for ``fe[2]/child``; ``""`` at the top)."""
    cut = key.rfind("/")
    return key[: cut + 1] if cut >= 0 else ""


def succeeded_like(node: Node, step: Step) -> bool:
    if node.phase in (Phase.SUCCEEDED, Phase.COMPENSATED):
        return True
    if node.phase is Phase.SKIPPED:
        return not node.skip_failure
    return node.phase is Phase.FAILED and step.continue_on_failure


def failed_like(node: Node) -> bool:
    """A need *failed*: it ended failed (continue_on_failure too: it counts both ways), was
    cancelled, or was skipped while one of its own needs had failed."""
    if node.phase in (Phase.FAILED, Phase.CANCELLED):
        return True
    return node.phase is Phase.SKIPPED and node.skip_failure


def fails_execution(node: Node, step: Step) -> bool:
    return node.phase is Phase.FAILED and not step.continue_on_failure


def is_failing(execution: Execution, workflow: CompiledWorkflow) -> bool:
    """Some step failed for good: no new ``when: success`` step may start."""
    return any(fails_execution(n, workflow.steps[n.step].step) for n in execution.nodes.values())


def advance(
    execution: Execution, workflow: CompiledWorkflow, now: datetime, *, hold: bool = False
) -> list[str]:
    """Apply every rule that needs no I/O; return the keys of steps ready to start, in order.

    Loops until nothing changes, so a skip or a completion that unblocks more is followed at once.
    ``hold`` (the kill switch): nothing is ready, as if the execution were paused.
    """
    while True:
        if not execution.failing and execution.has_failures:
            execution.failing = is_failing(execution, workflow)
        changed = False
        ready: list[str] = []
        for container in active_containers(execution, workflow):
            container_changed, container_ready = _advance_container(
                execution, workflow, container, now, hold
            )
            changed = changed or container_changed
            ready.extend(container_ready)
        changed = _complete_containers(execution, workflow, now) or changed
        if not changed:
            return ready


def active_containers(execution: Execution, workflow: CompiledWorkflow) -> list[Container]:
    """The top level, and the children of every running group, parallel block and iteration."""
    containers = [Container(None, "", None)]
    for node in list(execution.nodes.values()):
        if node.phase is not Phase.RUNNING:
            continue
        step = workflow.steps[node.step].step
        inner = prefix_of(node.key)
        if step.steps is not None or step.parallel is not None:
            containers.append(Container(node.key, inner, node.step))
        elif step.for_each is not None and node.items is not None:
            for index in _open_iterations(execution, workflow, node):
                containers.append(Container(node.key, iteration_prefix(node.key, index), node.step))
    return containers


def _open_iterations(execution: Execution, workflow: CompiledWorkflow, node: Node) -> list[int]:
    """Iterations that have started, plus new ones up to ``max_concurrency`` unfinished."""
    step = workflow.steps[node.step].step
    assert node.items is not None
    limit = step.max_concurrency or len(node.items) or 1
    children = workflow.children.get(node.step, ())
    started: list[int] = []
    unfinished = 0
    for index in range(len(node.items)):
        prefix = iteration_prefix(node.key, index)
        keys = [key_of(prefix, child) for child in children]
        if keys and keys[0] in execution.nodes:
            started.append(index)
            if not all(execution.nodes[k].terminal for k in keys if k in execution.nodes):
                unfinished += 1
        elif unfinished < limit and not execution.failing and not execution.cancel_requested:
            started.append(index)
            unfinished += 1
    return started


def _advance_container(
    execution: Execution,
    workflow: CompiledWorkflow,
    container: Container,
    now: datetime,
    hold: bool = False,
) -> tuple[bool, list[str]]:
    changed = False
    ready: list[str] = []
    nodes = execution.nodes
    prefix = container.prefix
    children = workflow.children.get(container.scope, ())
    # Keys are the ids at the top level (the common case): no string building per pass.
    keys = children if not prefix else tuple(prefix + child for child in children)
    pending: list[Node] = []
    running = 0
    for child, key in zip(children, keys, strict=True):
        node = nodes.get(key)
        if node is None:
            node = execution.add_node(Node(key=key, step=child, parent=container.parent))
            changed = True
        if node.phase is Phase.PENDING:
            pending.append(node)
        elif node.phase is Phase.RUNNING:
            running += 1
    if not pending:
        return changed, ready
    limit = _concurrency_limit(workflow, container)
    for node in pending:
        compiled = workflow.steps[node.step]
        needs = [nodes[prefix + dep] for dep in compiled.depends_on]
        if not all(n.terminal for n in needs):
            continue
        any_failed = any(failed_like(n) for n in needs)
        when = compiled.step.when
        if when == "success":
            allowed = all(succeeded_like(n, workflow.steps[n.step].step) for n in needs)
        elif when == "failure":
            allowed = any_failed
        else:
            allowed = True
        if execution.cancel_requested:
            execution.transition(
                node, Phase.CANCELLED, now, error="execution cancelled", error_kind="cancelled"
            )
            changed = True
        elif not allowed or (execution.failing and when == "success"):
            reason = (
                "a step failed: no new when: success step starts"
                if allowed
                else f"when: {when} not met"
            )
            execution.transition(
                node,
                Phase.SKIPPED,
                now,
                skip_failure=any_failed,
                data={**node.data, "reason": reason},
            )
            changed = True
        elif (
            not (execution.paused or hold)
            and execution.gate is None
            and (limit is None or running < limit)
        ):
            ready.append(node.key)
            running += 1
    return changed, ready


def _concurrency_limit(workflow: CompiledWorkflow, container: Container) -> int | None:
    if container.scope is None:
        return None
    step = workflow.steps[container.scope].step
    return step.max_concurrency if step.parallel is not None else None


def _complete_containers(execution: Execution, workflow: CompiledWorkflow, now: datetime) -> bool:
    """Finish running groups, parallel blocks and for_each steps whose children are all done."""
    changed = False
    for node in list(execution.nodes.values()):
        if node.phase is not Phase.RUNNING:
            continue
        step = workflow.steps[node.step].step
        children = workflow.children.get(node.step, ())
        if step.steps is not None or step.parallel is not None:
            prefix = prefix_of(node.key)
            kids = [execution.nodes.get(key_of(prefix, c)) for c in children]
            if all(k is not None and k.terminal for k in kids):
                done = [k for k in kids if k is not None]
                failed = any(fails_execution(k, workflow.steps[k.step].step) for k in done)
                _finish_container(execution, node, failed, {k.step: k.output for k in done}, now)
                changed = True
        elif step.for_each is not None and node.items is not None:
            rows = _iteration_rows(execution, node, children)
            if rows is not None:
                failed = any(
                    fails_execution(k, workflow.steps[k.step].step) for row in rows for k in row
                )
                _finish_container(
                    execution, node, failed, [{k.step: k.output for k in row} for row in rows], now
                )
                changed = True
    return changed


def _iteration_rows(
    execution: Execution, node: Node, children: tuple[str, ...]
) -> list[list[Node]] | None:
    """Every iteration's nodes, or None while some iteration has not started or finished.

    An execution that is failing or cancelled starts no new iteration: those never started count
    as done (their absence is the skip)."""
    assert node.items is not None
    rows: list[list[Node]] = []
    for index in range(len(node.items)):
        prefix = iteration_prefix(node.key, index)
        row = [execution.nodes.get(key_of(prefix, c)) for c in children]
        if row and row[0] is None and (execution.failing or execution.cancel_requested):
            continue
        if any(k is None or not k.terminal for k in row):
            return None
        rows.append([k for k in row if k is not None])
    return rows


def _finish_container(
    execution: Execution, node: Node, failed: bool, output: object, now: datetime
) -> None:
    if failed:
        execution.transition(
            node, Phase.FAILED, now, output=output, error="a nested step failed", error_kind="error"
        )
    else:
        execution.transition(node, Phase.SUCCEEDED, now, output=output)


def top_level_done(execution: Execution, workflow: CompiledWorkflow) -> bool:
    keys = workflow.children.get(None, ())
    return all(k in execution.nodes and execution.nodes[k].terminal for k in keys)


def nothing_running(execution: Execution) -> bool:
    return not any(n.phase is Phase.RUNNING for n in execution.nodes.values())


def compensation_order(execution: Execution, workflow: CompiledWorkflow) -> list[Node]:
    """Steps to compensate: those whose action completed and that have a ``compensate``, most
    recently completed first. Steps that never ran are not compensated."""
    candidates = [
        n
        for n in execution.nodes.values()
        if n.action_done
        and n.completed_seq is not None
        and workflow.steps[n.step].step.compensate is not None
        and n.phase in (Phase.SUCCEEDED, Phase.FAILED)
    ]
    return sorted(candidates, key=lambda n: n.completed_seq or 0, reverse=True)
