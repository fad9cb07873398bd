"""Rules for WorkflowTests: the policies, workflows, actions and steps they name, and their CEL."""

from __future__ import annotations

import posixpath

from reconciler.actions.registry import Registry
from reconciler.definitions.loader import Located, Repository
from reconciler.definitions.workflow import Workflow
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
                f"cluster file {spec.cluster.file!r} is not among the files read (looked for {wanted})",
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
    """``expect.steps`` and ``expect.outputs`` name steps and outputs of the first expected
    execution's workflow; ``approvals[].step`` names a step of a workflow the test can start."""
    spec = located.definition.spec
    expect = spec.expect
    workflows = [
        _expected_workflow(e.policy, e.workflow, repository) for e in expect.executions or []
    ]
    first = workflows[0] if workflows else None
    if first is not None:
        name = first.definition.metadata.name
        known = {step.id for step, _ in first.definition.all_steps()}
        for step_id in expect.steps or {}:
            if step_id not in known:
                ctx.problem(
                    ("spec", "expect", "steps", step_id),
                    f"workflow {name!r} has no step {step_id!r}",
                )
        for output in expect.outputs or {}:
            if output not in first.definition.spec.outputs:
                declared = ", ".join(sorted(first.definition.spec.outputs)) or "none"
                ctx.problem(
                    ("spec", "expect", "outputs", output),
                    f"workflow {name!r} has no output {output!r} (outputs: {declared})",
                )
    reachable = _reachable_steps([w for w in workflows if w is not None], repository)
    for index, approval in enumerate(spec.approvals):
        if approval.step is not None and workflows and approval.step not in reachable:
            ctx.problem(
                ("spec", "approvals", index, "step"),
                f"no step {approval.step!r} in the workflows this test starts (or their subflows)",
            )


def _expected_workflow(
    policy: str, workflow: str | None, repository: Repository
) -> Located[Workflow] | None:
    located = repository.policies.get(policy)
    name = workflow or (located.definition.spec.workflow if located else None)
    return repository.workflows.get(name or "")


def _reachable_steps(roots: list[Located[Workflow]], repository: Repository) -> set[str]:
    """Step ids of the given workflows and of every subflow they call."""
    found: set[str] = set()
    pending = list(roots)
    seen: set[str] = set()
    while pending:
        located = pending.pop()
        if located.definition.metadata.name in seen:
            continue
        seen.add(located.definition.metadata.name)
        for step, _ in located.definition.all_steps():
            found.add(step.id)
            if step.workflow and step.workflow in repository.workflows:
                pending.append(repository.workflows[step.workflow])
    return found
