"""Property tests: generated valid workflows validate; cycles are always rejected; no input crashes."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.definitions.loader import MemoryTree
from reconciler.validation import revision

IDS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in {"in", "true", "false", "null"}
)


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid workflow: a DAG whose needs and expressions only name earlier steps."""
    ids = draw(st.lists(IDS, min_size=1, max_size=12, unique=True))
    steps: list[dict[str, Any]] = []
    for position, step_id in enumerate(ids):
        earlier = ids[:position]
        step: dict[str, Any] = {"id": step_id}
        if earlier and draw(st.booleans()):
            step["needs"] = draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))
        upstream = _upstream(steps, step, ids[:position])
        if upstream and draw(st.booleans()):
            step["if"] = f'steps.{draw(st.sampled_from(sorted(upstream)))}.status == "succeeded"'
        has_needs = bool(step["needs"]) if "needs" in step else position > 0
        step["when"] = draw(
            st.sampled_from(
                ["success", "failure", "always"] if has_needs else ["success", "always"]
            )
        )
        if draw(st.booleans()):
            step["action"] = "core.set"
            step["with"] = {"value": "{{ params.level + 1 }}", "name": "pod {{ params.pod }}"}
        else:
            step["action"] = "core.log"
            step["with"] = {"message": "{{ alert.labels.alertname }} on {{ params.pod }}"}
        if draw(st.booleans()):
            step["retry"] = {
                "limit": draw(st.integers(0, 5)),
                "backoff": f"{draw(st.integers(1, 90))}s",
            }
        steps.append(step)
    return {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "generated"},
        "spec": {
            "params": {"pod": {"type": "string"}, "level": {"type": "int", "default": 1}},
            "steps": steps,
        },
    }


def _upstream(previous: list[dict[str, Any]], step: dict[str, Any], earlier: list[str]) -> set[str]:
    graph = {s["id"]: s.get("needs", [earlier[i - 1]] if i else []) for i, s in enumerate(previous)}
    direct = step.get("needs", earlier[-1:] if earlier else [])
    seen: set[str] = set()
    pending = list(direct)
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(graph.get(current, []))
    return seen


def build(*documents: dict[str, Any]) -> revision.Outcome:
    text = yaml.safe_dump_all(documents, sort_keys=False)
    return revision.build([MemoryTree({"repo/workflow.yaml": text.encode()})])


@given(workflows())
def test_generated_valid_workflows_load_and_validate(workflow: dict[str, Any]) -> None:
    outcome = build(workflow)
    assert outcome.problems == []
    assert outcome.revision is not None
    compiled = outcome.revision.workflows["generated"]
    assert list(compiled.children[None]) == [s["id"] for s in workflow["spec"]["steps"]]


@given(workflows(), st.data())
def test_a_dependency_cycle_is_always_rejected(
    workflow: dict[str, Any], data: st.DataObject
) -> None:
    steps = workflow["spec"]["steps"]
    for step in steps:
        step.pop("if", None)  # keep the cycle the only problem
    length = data.draw(st.integers(1, len(steps)))
    cycle = steps[:length]
    # Each step of the cycle needs the next; the last needs the first.
    for index, step in enumerate(cycle):
        step["needs"] = [cycle[(index + 1) % length]["id"]]
    outcome = build(workflow)
    assert outcome.revision is None
    messages = [p.message for p in outcome.problems]
    assert any(m.startswith("dependency cycle: ") or "needs itself" in m for m in messages), (
        messages
    )


FIELD_NAMES = st.sampled_from(
    [
        "id",
        "action",
        "with",
        "needs",
        "when",
        "if",
        "steps",
        "parallel",
        "for_each",
        "do",
        "retry",
        "limit",
        "timeout",
        "verify",
        "compensate",
        "workflow",
        "match",
        "params",
        "type",
        "default",
        "rules",
        "deny",
        "expect",
        "alerts",
        "labels",
        "decide",
        "options",
        "wait",
        "wait_until",
        "expr",
        "approval",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["{{ params.x }}", "{{", "steps.a.output", "30s", "core.log", "a"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELD_NAMES, inner, max_size=5),
    max_leaves=30,
)


@given(st.sampled_from(["Workflow", "Policy", "Guardrail", "WorkflowTest", "Settings"]), VALUES)
def test_random_definitions_never_raise_only_report_problems(kind: str, spec: Any) -> None:
    document = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "random"},
        "spec": spec,
    }
    outcome = build(document)
    assert outcome.ok == (outcome.revision is not None)


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_random_bytes_never_raise_only_report_problems(data: bytes) -> None:
    outcome = revision.build([MemoryTree({"random.yaml": data})])
    for problem in outcome.problems:
        assert problem.path == "random.yaml"
