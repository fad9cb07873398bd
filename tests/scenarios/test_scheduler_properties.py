"""Property tests of the scheduler: random DAGs with random failures.

For every generated workflow: no step starts before its needs are terminal, phases only move
forward within one run of a step, every step ends terminal, and compensations run in the
reverse order of completion.
"""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from harness import Harness
from hypothesis import given
from hypothesis import strategies as st

from reconciler.engine.state import TERMINAL_PHASES, Phase

ORDER = {
    "pending": 0,
    "running": 1,
    "succeeded": 2,
    "failed": 2,
    "skipped": 2,
    "cancelled": 2,
    "compensated": 3,
}


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(2, 9))
    steps: list[dict[str, Any]] = []
    for index in range(count):
        step: dict[str, Any] = {"id": f"s{index}"}
        earlier = [f"s{i}" for i in range(index)]
        if earlier and draw(st.booleans()):
            step["needs"] = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))
        has_needs = bool(step.get("needs", earlier[-1:]))
        step["when"] = draw(
            st.sampled_from(
                ["success", "failure", "always"] if has_needs else ["success", "always"]
            )
        )
        if draw(st.integers(0, 4)) == 0:
            step["if"] = draw(st.sampled_from(["true", "false"]))
        fails = draw(st.integers(0, 3)) == 0
        step["action"] = "test.permanent" if fails else "test.mutate"
        step["with"] = {"n": index}
        if draw(st.booleans()):
            step["continue_on_failure"] = True
        if draw(st.booleans()):
            step["compensate"] = {"action": "test.record", "with": {"undo": index}}
        steps.append(step)
    return {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "random"},
        "spec": {"on_failure": draw(st.sampled_from(["none", "rollback"])), "steps": steps},
    }


def needs_of(workflow: dict[str, Any]) -> dict[str, list[str]]:
    steps = workflow["spec"]["steps"]
    return {s["id"]: s.get("needs", [steps[i - 1]["id"]] if i else []) for i, s in enumerate(steps)}


@given(workflows())
def test_random_dags_with_random_failures_keep_the_scheduler_invariants(
    workflow: dict[str, Any],
) -> None:
    harness = Harness()
    harness.load(yaml.safe_dump(workflow, sort_keys=False))
    execution = harness.run("random")
    timeline = asyncio.run(harness.store.timeline(execution.id))
    steps = [e for e in timeline if e["kind"] == "step"]

    # Every step ends terminal, and so does the execution.
    assert all(node.phase in TERMINAL_PHASES for node in execution.nodes.values())
    assert execution.finished

    # Phases only move forward within a run.
    for key in execution.nodes:
        seen = [ORDER[e["to"]] for e in steps if e["key"] == key]
        assert seen == sorted(seen), f"{key}: {[e['to'] for e in steps if e['key'] == key]}"

    # No step starts before its needs are terminal.
    position: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(steps):
        position.setdefault((entry["key"], entry["to"]), index)
    needs = needs_of(workflow)
    for key, deps in needs.items():
        started = position.get((key, "running"))
        if started is None:
            continue
        for dep in deps:
            finished = min(
                (
                    i
                    for (k, to), i in position.items()
                    if k == dep and to in {"succeeded", "failed", "skipped", "cancelled"}
                ),
                default=None,
            )
            assert finished is not None and finished < started, (
                f"{key} started before {dep} finished"
            )

    # Compensations run in the reverse order of completion.
    undone = [
        params["undo"] for action, _, params in harness.hooks.calls if action == "test.record"
    ]
    completed = sorted(
        (
            n
            for n in execution.nodes.values()
            if n.completed_seq is not None and n.compensation is not None
        ),
        key=lambda n: n.completed_seq or 0,
        reverse=True,
    )
    assert undone == [int(n.key[1:]) for n in completed]
    if workflow["spec"]["on_failure"] == "none" or not execution.failing:
        assert undone == []
    assert all(
        n.phase is Phase.COMPENSATED for n in completed if n.compensation["phase"] == "succeeded"
    )  # type: ignore[index]
