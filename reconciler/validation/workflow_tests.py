"""Rules for WorkflowTests: the policies, workflows, actions and steps they name, and their CEL."""

from __future__ import annotations

import posixpath

from reconciler.actions.registry import Registry
from reconciler.definitions.loader import Located, Repository
from reconciler.definitions.workflow_test import ClusterFile, WorkflowTest
from reconciler.expressions.compiler import Scope
from reconciler.validation.context import BOOL_TYPES, DocumentContext


def fixture_path(test_path: str, relative: str) -> str:
    """Path of a cluster fixture, relative to the test's own file."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(test_path), relative))


def check_test(
    located: Located[WorkflowTest], repository: Repository, registry: Registry, ctx: DocumentContext
) -> None:
    spec = located.definition.spec
    if isinstance(spec.cluster, ClusterFile):
        wanted = fixture_path(located.path, spec.cluster.file)
        if repository.paths and wanted not in repository.paths:
            ctx.problem(
                ("spec", "cluster", "file"),
                f"cluster file {spec.cluster.file!r} not found (looked for {wanted})",
            )
    for name in spec.mocks:
        if name not in registry:
            ctx.problem(("spec", "mocks", name), f"mock for unknown action {name!r}")
    expect = spec.expect
    for index, execution in enumerate(expect.executions or []):
        path = ("spec", "expect", "executions", index)
        if execution.policy not in repository.policies:
            ctx.problem((*path, "policy"), f"unknown policy {execution.policy!r}")
        if execution.workflow is not None and execution.workflow not in repository.workflows:
            ctx.problem((*path, "workflow"), f"unknown workflow {execution.workflow!r}")
    _check_expected_steps(located, repository, ctx)
    for field in ("actions", "not_actions"):
        for index, action in enumerate(getattr(expect, field) or []):
            if action not in registry:
                ctx.problem(("spec", "expect", field, index), f"unknown action {action!r}")
    for index, source in enumerate(expect.cluster or []):
        ctx.expression(
            source, Scope.CLUSTER, ("spec", "expect", "cluster", index), returns=BOOL_TYPES
        )


def _check_expected_steps(
    located: Located[WorkflowTest], repository: Repository, ctx: DocumentContext
) -> None:
    """``expect.steps`` names steps of the first expected execution's workflow."""
    expect = located.definition.spec.expect
    if not expect.steps or not expect.executions:
        return
    first = expect.executions[0]
    policy = repository.policies.get(first.policy)
    name = first.workflow or (policy.definition.spec.workflow if policy else None)
    workflow = repository.workflows.get(name or "")
    if workflow is None:
        return
    known = {step.id for step, _ in workflow.definition.all_steps()}
    for step_id in expect.steps:
        if step_id not in known:
            ctx.problem(
                ("spec", "expect", "steps", step_id), f"workflow {name!r} has no step {step_id!r}"
            )
