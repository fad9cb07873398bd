"""Validate and compile a whole repository into a :class:`Revision`, or list every problem.

The entry point of validation: ``reconciler validate``, ``plan``, ``test`` and (later) the Git
reconcile loop call :func:`build`. A revision is produced only when there are no problems, so
an invalid revision can never replace the last good one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.actions.registry import Registry, default_registry
from reconciler.definitions import loader
from reconciler.definitions.loader import Repository, Tree
from reconciler.errors import Problem
from reconciler.settings import DEFAULT, LoaderLimits
from reconciler.validation import graph
from reconciler.validation.compiled import CompiledPolicy, CompiledRule, CompiledWorkflow, Revision
from reconciler.validation.context import DocumentContext
from reconciler.validation.policies import check_guardrail, check_policy
from reconciler.validation.workflow_tests import check_test
from reconciler.validation.workflows import WorkflowChecker


@dataclass
class Outcome:
    """What validating a repository gave: a revision if valid, and every problem found."""

    repository: Repository
    revision: Revision | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def build(
    trees: Iterable[Tree], registry: Registry | None = None, limits: LoaderLimits = DEFAULT.loader
) -> Outcome:
    """Load, validate and compile; the revision is None if anything is wrong."""
    repository, problems = loader.load(trees, limits)
    return compile_repository(repository, problems, registry or default_registry())


def compile_repository(
    repository: Repository, problems: list[Problem], registry: Registry
) -> Outcome:
    compiled_count = 0
    workflows: dict[str, CompiledWorkflow] = {}
    for name, workflow in repository.workflows.items():
        ctx = DocumentContext(workflow, problems)
        workflows[name] = WorkflowChecker(workflow, repository, registry, ctx).check()
        compiled_count += ctx.compiled
    _check_subflow_cycles(repository, workflows, problems)
    policies: list[CompiledPolicy] = []
    for located_policy in repository.policies.values():
        ctx = DocumentContext(located_policy, problems)
        policy = check_policy(located_policy, repository, ctx)
        compiled_count += ctx.compiled
        if policy is not None:
            policies.append(policy)
    rules: list[CompiledRule] = []
    for guardrail in repository.guardrails.values():
        ctx = DocumentContext(guardrail, problems)
        rules.extend(check_guardrail(guardrail, registry, ctx))
        compiled_count += ctx.compiled
    for test in repository.tests.values():
        ctx = DocumentContext(test, problems)
        check_test(test, repository, registry, ctx)
        compiled_count += ctx.compiled
    problems = sorted(set(problems))
    if problems:
        return Outcome(repository, None, problems)
    policies.sort(key=lambda p: (-p.definition.spec.priority, p.name))
    revision = Revision(repository, workflows, tuple(policies), tuple(rules), compiled_count)
    return Outcome(repository, revision, [])


def _check_subflow_cycles(
    repository: Repository, workflows: dict[str, CompiledWorkflow], problems: list[Problem]
) -> None:
    """A workflow must not call itself, directly or through other workflows."""
    calls = {
        name: sorted({s.step.workflow for s in wf.steps.values() if s.step.workflow})
        for name, wf in workflows.items()
    }
    cycle = graph.find_cycle(calls)
    if cycle:
        caller = workflows[cycle[0]]
        step = next(s for s in caller.steps.values() if s.step.workflow == cycle[1])
        message = f"workflows call each other in a cycle: {' -> '.join(cycle)}"
        problems.append(repository.workflows[cycle[0]].problem((*step.path, "workflow"), message))
