"""The JSON shapes of the API: executions in brief (lists) and in full (one execution).

Plain data from the engine's records; secrets were redacted before anything was recorded.
:meth:`reconciler.app.service.Service.execution` builds the full view; ``executions show``
and ``executions watch`` print it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from reconciler.engine.state import Execution, Node, Phase

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
# A step's error is current while it failed, was cancelled or waits to be tried again; once it
# succeeded (after retries), the error belongs to an earlier attempt and is shown there only.
_CURRENT_ERROR = {Phase.FAILED, Phase.CANCELLED}
_SEGMENT = re.compile(r"^(?P<step>.*?)(?:\[(?P<index>\d+)\])?$")


def summary(header: dict[str, Any]) -> dict[str, Any]:
    return {name: header.get(name) for name in SUMMARY_FIELDS}


def step_view(node: Node, timeline: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    current = node.phase in _CURRENT_ERROR or node.waiting == "backoff"
    view: dict[str, Any] = {
        "key": node.key,
        "step": node.step,
        "run": node.run,
        "phase": node.phase.value,
        "attempts": node.attempts,
        "started_at": node.started_at,
        "finished_at": node.finished_at,
        "output": node.output,
        "error": node.error if current else None,
        "error_kind": node.error_kind if current else None,
        "waiting": node.waiting,
        "wake_at": node.wake_at,
        "attempt_history": attempt_history(node, timeline),
    }
    for name in ("child", "approval", "compensation", "items"):
        value = getattr(node, name)
        if value is not None:
            view[name] = value
    for name in ("input", "message", "reason", "verify"):
        if name in node.data:
            view[name] = node.data[name]
    return view


def attempt_history(node: Node, timeline: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each attempt of this run of the step: ``{attempt, started_at, finished_at, outcome,
    error}``. Failed attempts that were retried come from the timeline's ``retry`` notes; the
    last attempt ends with the step (or is still running)."""
    attempts: list[dict[str, Any]] = []
    for entry in timeline:
        if entry.get("kind") != "retry" or entry.get("key") != node.key:
            continue
        if entry.get("run", node.run) != node.run or "attempt" not in entry:
            continue
        attempts.append(
            {
                "attempt": entry["attempt"],
                "started_at": entry.get("started"),
                "finished_at": entry["at"],
                "outcome": "failed",
                "error": entry.get("error"),
            }
        )
    if node.attempts > len(attempts):
        first = node.started_at if node.attempts == 1 else None
        last = {
            "attempt": node.attempts,
            "started_at": node.data.get("attempt_started", first),
            "finished_at": node.finished_at,
            "outcome": "running" if node.attempt_open else node.phase.value,
            "error": node.error if node.phase in _CURRENT_ERROR else None,
        }
        attempts.append(last)
    return attempts


def definition_order(children: dict[str | None, tuple[str, ...]]) -> list[str]:
    """Step ids in the order the workflow declares them, each group before its own steps."""
    order: list[str] = []

    def walk(parent: str | None) -> None:
        for step in children.get(parent, ()):
            order.append(step)
            walk(step)

    walk(None)
    return order


def _in_order(nodes: Sequence[Node], order: Sequence[str] | None) -> list[Node]:
    """Steps in workflow order (iterations of a ``for_each`` by index); without the workflow
    (its revision is not loaded), in the order they started, those not started yet last."""
    if order is None:
        return sorted(nodes, key=lambda n: (n.started_at is None, n.started_at or "", n.key))
    position = {step: index for index, step in enumerate(order)}

    def place(node: Node) -> list[tuple[int, int, str]]:
        # A key is ``fe[2]/child``: each segment is a step id, with the iteration's index.
        places = []
        for segment in node.key.split("/"):
            found = _SEGMENT.match(segment)
            assert found is not None  # the pattern matches any text
            step, index = found["step"], found["index"]
            places.append((position.get(step, len(position)), int(index or -1), step))
        return places

    return sorted(nodes, key=place)


def execution_view(
    execution: Execution,
    timeline: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    order: Sequence[str] | None = None,
) -> dict[str, Any]:
    header = execution.header()
    nodes = _in_order(list(execution.nodes.values()), order)
    return {
        **summary(header),
        "params": execution.params,
        "alert": execution.alert,
        "outputs": execution.outputs,
        "deadline": execution.deadline,
        "paused": execution.paused,
        "steps": [step_view(n, timeline) for n in nodes],
        "earlier_runs": [step_view(n, timeline) for n in execution.history],
        "approvals": approvals(timeline),
        "timeline": timeline,
        "decisions": decisions,
    }


def approvals(timeline: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who approved or rejected what, with their comment, in time order: the policy's gate
    (``step`` None) and each step that waited for a person."""
    return [
        {
            "step": e.get("key"),
            "decision": e.get("decision"),
            "by": e.get("by"),
            "comment": e.get("comment"),
            "at": e.get("at"),
        }
        for e in timeline
        if e.get("kind") == "approval"
    ]
