"""Expressions against the params their workflow declares (the reported cases are in the fixture
tests/fixtures/invalid/undeclared_params.yaml): nothing that works at run time is rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.definitions.loader import DirectoryTree
from reconciler.expressions.compiler import Activation, Scope, compile_expression
from reconciler.validation import revision

PARAMS = {"namespace": "prod", "replicas": 3, "ratio": 0.5, "maybe": None, "dry": False}

# Each works at run time with PARAMS (checked below), so validation must accept it.
WORKING = [
    "params.replicas > 1.5",
    "params.replicas == 3.0",
    "params.maybe == null",
    "params.ratio + 1.0 > 1.0",
    "has(params.maybe)",
    "!has(params.replicas) || params.replicas > 0",
    'params["namespace"] == "prod"',
    "size(params) > 0",
    "[1, 2, 3].exists(n, n == params.replicas)",
    '"params.typo" != "x"',
    "string(params.replicas) == '3'",
    "params.dry ? false : true",
    "params.namespace.startsWith('pr')",
    "params.replicas in [1, 2, 3]",
]


def workflow(condition: str) -> str:
    return f"""\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {{name: typed}}
spec:
  params:
    namespace: {{type: string}}
    replicas: {{type: int, default: 3}}
    ratio: {{type: number, default: 0.5}}
    maybe: {{type: string, default: null}}
    dry: {{type: bool, default: false}}
  steps:
    - id: check
      if: {json.dumps(condition)}
      action: core.log
      with: {{message: {json.dumps("{{ " + condition + " }}")}}}
"""


@pytest.mark.parametrize("condition", WORKING)
def test_an_expression_that_works_at_run_time_validates(condition: str, tmp_path: Path) -> None:
    at_run_time = compile_expression(condition, Scope.STEP).evaluate(
        Activation(Scope.STEP, {"params": PARAMS, "steps": {}, "alert": {}, "execution": {}})
    )
    assert at_run_time is True
    (tmp_path / "wf.yaml").write_text(workflow(condition))
    outcome = revision.build([DirectoryTree(tmp_path)])
    assert outcome.ok, [str(p) for p in outcome.problems]


def test_a_typo_in_a_param_name_suggests_the_declared_one(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(workflow("params.replica > 1"))
    [message] = {p.message for p in revision.build([DirectoryTree(tmp_path)]).problems}
    assert "params.replica" in message and "did you mean params.replicas?" in message
    assert "(declared: dry, maybe, namespace, ratio, replicas)" in message


def test_a_subflow_reads_its_own_params_not_its_callers(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: parent}
spec:
  params: {who: {type: string}}
  steps: [{id: call, workflow: child, with: {name: "{{ params.who }}"}}]
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: child}
spec:
  params: {name: {type: string}}
  steps: [{id: hello, action: core.log, with: {message: "{{ params.who }}"}}]
"""
    )
    problems = revision.build([DirectoryTree(tmp_path)]).problems
    assert [(p.field, "params.who" in p.message) for p in problems] == [
        ("spec.steps[0].with.message", True)
    ]
