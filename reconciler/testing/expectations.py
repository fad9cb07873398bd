"""Checking a WorkflowTest's ``expect`` against what happened; every mismatch is reported."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.definitions.workflow_test import Expect
from reconciler.engine.state import Execution
from reconciler.errors import ExpressionError
from reconciler.expressions.compiler import Activation, Scope, compile_expression


def check(expect: Expect, started: list[Execution], calls: list[str]) -> list[str]:
    failures: list[str] = []
    if expect.executions is not None:
        failures.extend(_executions(expect, started))
    first = started[0] if started else None
    if expect.steps:
        if first is None:
            failures.append("expect.steps: no execution was started")
        else:
            failures.extend(_steps(expect.steps, first))
    if expect.actions is not None:
        failures.extend(_actions(expect.actions, calls, exact=expect.exact))
    for action in expect.not_actions or []:
        if action in calls:
            failures.append(
                f"expect.not_actions: {action} was called ({calls.count(action)} times)"
            )
    if expect.outputs:
        if first is None:
            failures.append("expect.outputs: no execution was started")
        else:
            failures.extend(_outputs(expect.outputs, first))
    return failures


def _executions(expect: Expect, started: list[Execution]) -> list[str]:
    wanted = expect.executions or []
    got = [f"{e.policy} -> {e.workflow} ({e.status.value})" for e in started]
    if len(wanted) != len(started):
        return [
            f"expect.executions: {len(wanted)} expected, {len(started)} started: {got or 'none'}"
        ]
    failures = []
    for index, (want, execution) in enumerate(zip(wanted, started, strict=True)):
        if want.policy != execution.policy:
            failures.append(
                f"expect.executions[{index}].policy: expected {want.policy}, got {execution.policy}"
            )
        if want.workflow is not None and want.workflow != execution.workflow:
            failures.append(
                f"expect.executions[{index}].workflow: expected {want.workflow}, got {execution.workflow}"
            )
        if want.status is not None and want.status != execution.status.value:
            why = f" ({execution.error})" if execution.error else ""
            failures.append(
                f"expect.executions[{index}].status: expected {want.status}, got {execution.status.value}{why}"
            )
    return failures


def _steps(wanted: Mapping[str, str], execution: Execution) -> list[str]:
    failures = []
    for step_id, phase in wanted.items():
        node = execution.nodes.get(step_id)
        if node is None:
            failures.append(
                f"expect.steps.{step_id}: expected {phase}, but the step never became ready"
            )
        elif node.phase.value != phase:
            why = f" ({node.error})" if node.error else ""
            failures.append(
                f"expect.steps.{step_id}: expected {phase}, got {node.phase.value}{why}"
            )
    return failures


def _actions(wanted: list[str], calls: list[str], *, exact: bool) -> list[str]:
    if exact:
        return (
            [] if wanted == calls else [f"expect.actions (exact): expected {wanted}, got {calls}"]
        )
    position = 0
    for action in wanted:
        try:
            position = calls.index(action, position) + 1
        except ValueError:
            return [f"expect.actions: {action} not called in order; calls were {calls}"]
    return []


def _outputs(wanted: dict[str, Any], execution: Execution) -> list[str]:
    failures = []
    for name, value in wanted.items():
        if name not in execution.outputs:
            failures.append(f"expect.outputs.{name}: missing; outputs were {execution.outputs}")
        elif execution.outputs[name] != value:
            failures.append(
                f"expect.outputs.{name}: expected {value!r}, got {execution.outputs[name]!r}"
            )
    return failures


def cluster(sources: list[str], state: dict[str, Any], now: datetime) -> list[str]:
    """``expect.cluster``: each CEL expression must hold over the final simulated state."""
    failures = []
    activation = Activation(Scope.CLUSTER, {**state, "now": now})
    for index, source in enumerate(sources):
        try:
            held = compile_expression(source, Scope.CLUSTER).evaluate(activation) is True
        except ExpressionError as exc:
            failures.append(f"expect.cluster[{index}]: {source}: {exc.message}")
            continue
        if not held:
            failures.append(f"expect.cluster[{index}]: does not hold: {source}")
    return failures
