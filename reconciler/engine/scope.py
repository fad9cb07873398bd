"""What expressions see while a step runs: ``alert``, ``params``, ``steps``, ``execution``,
``now``, and ``item``/``index`` inside a for_each iteration.

``steps.<id>`` resolves to the nearest instance: inside iteration ``fe[2]/`` the ``do`` siblings
of that iteration, outside it the step itself. Times are RFC 3339 strings (cel-expr-python takes
timestamps only as top-level variables).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from reconciler.engine.state import Execution, Node
from reconciler.expressions.compiler import Activation, Scope
from reconciler.validation.compiled import CompiledWorkflow

_ITERATION = re.compile(r"^(?P<key>.*)\[(?P<index>\d+)\]/$")


def step_view(node: Node) -> dict[str, Any]:
    return {
        "output": node.output if node.output is not None else {},
        "status": node.phase.value,
        "attempts": node.attempts,
        "error": node.error or "",
        "started_at": node.started_at or "",
        "finished_at": node.finished_at or "",
    }


def steps_view(execution: Execution, workflow: CompiledWorkflow, prefix: str) -> dict[str, Any]:
    """Every step id mapped to its nearest instance as seen from keys under ``prefix``."""
    view: dict[str, Any] = {}
    prefixes = _enclosing_prefixes(prefix)
    for step_id in workflow.steps:
        for candidate in prefixes:
            node = execution.nodes.get(f"{candidate}{step_id}")
            if node is not None:
                view[step_id] = step_view(node)
                break
        else:
            view[step_id] = {
                "output": {},
                "status": "pending",
                "attempts": 0,
                "error": "",
                "started_at": "",
                "finished_at": "",
            }
    return view


def _enclosing_prefixes(prefix: str) -> list[str]:
    """``a[1]/b[2]/`` -> [``a[1]/b[2]/``, ``a[1]/``, ``""``]."""
    found = [prefix]
    while prefix:
        cut = prefix.rstrip("/").rfind("/")
        prefix = prefix[: cut + 1] if cut >= 0 else ""
        found.append(prefix)
    return found


def iteration_of(execution: Execution, prefix: str) -> tuple[Any, int] | None:
    """``(item, index)`` of the innermost for_each iteration a prefix belongs to."""
    match = _ITERATION.match(prefix)
    if not match:
        return None
    owner = execution.nodes.get(match.group("key"))
    index = int(match.group("index"))
    if owner is None or owner.items is None or index >= len(owner.items):
        return None
    return owner.items[index], index


def execution_view(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "workflow": execution.workflow,
        "revision": execution.revision,
        "started_at": execution.started_at or execution.created_at,
        "policy": execution.policy,
        "target": execution.target,
        "mode": execution.mode,
    }


def activation(
    execution: Execution,
    workflow: CompiledWorkflow,
    prefix: str,
    now: datetime,
    *,
    output: Any = None,
    polling: bool = False,
) -> Activation:
    """The activation for expressions of a step whose key starts with ``prefix``."""
    data: dict[str, Any] = {
        "alert": execution.alert,
        "params": execution.params,
        "steps": steps_view(execution, workflow, prefix),
        "execution": execution_view(execution),
        "now": now,
    }
    iteration = iteration_of(execution, prefix)
    if iteration is not None:
        data["item"], data["index"] = iteration
    if polling:
        data["output"] = output if output is not None else {}
    scope = _scope(iteration is not None, polling)
    return Activation(scope, data)


def _scope(in_for_each: bool, polling: bool) -> Scope:
    if polling:
        return Scope.FOR_EACH_POLL if in_for_each else Scope.POLL
    return Scope.FOR_EACH if in_for_each else Scope.STEP


def outputs_activation(
    execution: Execution, workflow: CompiledWorkflow, now: datetime
) -> Activation:
    return Activation(
        Scope.OUTPUTS,
        {
            "alert": execution.alert,
            "params": execution.params,
            "steps": steps_view(execution, workflow, ""),
            "execution": execution_view(execution),
            "now": now,
        },
    )
