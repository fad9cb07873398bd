"""The API's view of one execution: steps in workflow order, attempts with their times, errors
that are current only while they are, and who approved."""

from __future__ import annotations

from reconciler.app.views import definition_order, execution_view
from reconciler.engine.state import Execution, Node, Phase

T = "2026-01-01T10:00:0{}.000000Z"


def _execution(*nodes: Node) -> Execution:
    execution = Execution(id="x-1", workflow="w", revision="r", params={})
    for node in nodes:
        execution.nodes[node.key] = node
    return execution


def test_steps_are_shown_in_workflow_order_with_iterations_by_index() -> None:
    children = {None: ("zeta", "loop", "alpha"), "loop": ("inner",)}
    order = definition_order(children)
    assert order == ["zeta", "loop", "inner", "alpha"]
    keys = ["alpha", "loop[10]/inner", "loop", "loop[2]/inner", "zeta"]
    nodes = [Node(key=k, step=k.split("/")[-1].split("[")[0]) for k in keys]
    view = execution_view(_execution(*nodes), [], [], order)
    assert [s["key"] for s in view["steps"]] == [
        "zeta",
        "loop",
        "loop[2]/inner",
        "loop[10]/inner",
        "alpha",
    ]


def test_without_the_workflow_steps_are_in_the_order_they_started() -> None:
    late = Node(key="a", step="a", started_at=T.format(5))
    early = Node(key="b", step="b", started_at=T.format(1))
    view = execution_view(_execution(late, Node(key="c", step="c"), early), [], [])
    assert [s["key"] for s in view["steps"]] == ["b", "a", "c"]


def test_a_step_that_succeeded_after_retries_shows_no_current_error_but_each_attempt() -> None:
    node = Node(
        key="flaky",
        step="flaky",
        phase=Phase.SUCCEEDED,
        attempts=2,
        started_at=T.format(0),
        finished_at=T.format(4),
        error="boom",
        error_kind="error",
        data={"attempt_started": T.format(3)},
    )
    timeline = [
        {
            "at": T.format(1),
            "kind": "retry",
            "key": "flaky",
            "run": 1,
            "attempt": 1,
            "started": T.format(0),
            "error": "boom",
            "after": 1.0,
        }
    ]
    (step,) = execution_view(_execution(node), timeline, [])["steps"]
    assert step["error"] is None and step["error_kind"] is None
    assert step["attempt_history"] == [
        {
            "attempt": 1,
            "started_at": T.format(0),
            "finished_at": T.format(1),
            "outcome": "failed",
            "error": "boom",
        },
        {
            "attempt": 2,
            "started_at": T.format(3),
            "finished_at": T.format(4),
            "outcome": "succeeded",
            "error": None,
        },
    ]


def test_a_failed_step_keeps_its_error() -> None:
    node = Node(key="a", step="a", phase=Phase.FAILED, attempts=1, error="no", error_kind="error")
    (step,) = execution_view(_execution(node), [], [])["steps"]
    assert step["error"] == "no"
    assert step["attempt_history"][-1]["error"] == "no"


def test_approvals_name_who_decided_with_their_comment() -> None:
    timeline = [
        {"at": T.format(2), "kind": "approval", "key": "ask", "decision": "approve",
         "by": "alice", "comment": "looked at the logs"},
        {"at": T.format(1), "kind": "approval", "key": None, "decision": "approve",
         "by": "bob", "comment": None, "gate": "circuit open"},
    ]  # fmt: skip
    view = execution_view(_execution(), timeline, [])
    assert view["approvals"] == [
        {"step": "ask", "decision": "approve", "by": "alice", "comment": "looked at the logs",
         "at": T.format(2)},
        {"step": None, "decision": "approve", "by": "bob", "comment": None, "at": T.format(1)},
    ]  # fmt: skip
