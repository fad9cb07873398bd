"""The JSON shapes of the API: executions in brief (lists) and in full (one execution).

Plain data from the engine's records; secrets were redacted before anything was recorded.
"""

from __future__ import annotations

from typing import Any

from reconciler.engine.state import Execution, Node

SUMMARY_FIELDS = (
    "id",
    "workflow",
    "policy",
    "target",
    "mode",
    "status",
    "reason",
    "revision",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "parent",
)


def summary(header: dict[str, Any]) -> dict[str, Any]:
    return {name: header.get(name) for name in SUMMARY_FIELDS}


def step_view(node: Node) -> dict[str, Any]:
    view: dict[str, Any] = {
        "key": node.key,
        "step": node.step,
        "run": node.run,
        "phase": node.phase.value,
        "attempts": node.attempts,
        "started_at": node.started_at,
        "finished_at": node.finished_at,
        "output": node.output,
        "error": node.error,
        "error_kind": node.error_kind,
        "waiting": node.waiting,
        "wake_at": node.wake_at,
    }
    for name in ("child", "approval", "compensation", "items"):
        value = getattr(node, name)
        if value is not None:
            view[name] = value
    for name in ("input", "message", "reason", "verify"):
        if name in node.data:
            view[name] = node.data[name]
    return view


def _started(node: Node) -> tuple[bool, str, str]:
    """Steps in the order they started; those not started yet last."""
    return (node.started_at is None, node.started_at or "", node.key)


def execution_view(
    execution: Execution, timeline: list[dict[str, Any]], decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    header = execution.header()
    return {
        **summary(header),
        "params": execution.params,
        "alert": execution.alert,
        "outputs": execution.outputs,
        "deadline": execution.deadline,
        "paused": execution.paused,
        "steps": [step_view(n) for n in sorted(execution.nodes.values(), key=_started)],
        "earlier_runs": [step_view(n) for n in execution.history],
        "timeline": timeline,
        "decisions": decisions,
    }
