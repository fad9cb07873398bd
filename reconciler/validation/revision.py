"""Validate and compile a whole repository into a :class:`Revision`, or list every problem.

The entry point of validation: ``reconciler validate``, ``plan``, ``test`` and (later) the Git
reconcile loop call :func:`build`. A revision is produced only when there are no problems, so
an invalid revision can never replace the last good one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.actions.registry import Registry, default_registry
from reconciler.definitions import loader, messages, yamldoc
from reconciler.definitions.loader import Located, Repository, Tree
from reconciler.definitions.workflow import Workflow
from reconciler.errors import Problem
from reconciler.expressions import compiler, references, templates
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
    with loader.collector_paused():
        repository, problems = loader.load(trees, limits)
        outcome = compile_repository(repository, problems, registry or default_registry())
    if outcome.revision is None:
        # An invalid revision is never used again: what only it holds (its new files' parses,
        # its workflows' checks) goes now, not when later revisions push it out of the caches.
        loader.forget(repository)
        _forget_workflows(repository)
        gc.collect()
    return outcome


def clear_caches() -> None:
    """Forget every cache a load fills (parsed files, compiled expressions and templates), so
    the next build is a cold start."""
    _workflow_cache.clear()
    loader.clear_cache()
    yamldoc.clear_cache()
    compiler.clear_cache()
    templates.clear_cache()
    references.clear_cache()


@dataclass(frozen=True)
class _CheckedWorkflow:
    """A workflow's check, reusable while the same definitions are loaded again."""

    inputs: tuple[object, ...]  # what the check read: the definition, its subflows, the registry
    compiled: CompiledWorkflow
    problems: tuple[Problem, ...]
    count: int


# Checked workflows by id() of their definition: the loader hands out the same definition object
# for an unchanged file, so a new revision re-checks only the workflows it changed (or whose
# subflows changed). ``inputs`` holds the objects themselves, so an id is never reused wrongly.
_workflow_cache: dict[int, _CheckedWorkflow] = {}


def _check_workflow(
    located: Located[Workflow], repository: Repository, registry: Registry
) -> tuple[CompiledWorkflow, tuple[Problem, ...], int]:
    definition = located.definition
    called = sorted({step.workflow for step, _ in definition.all_steps() if step.workflow})
    subflows = tuple(
        (name, repository.workflows[name].definition if name in repository.workflows else None)
        for name in called
    )
    inputs = (definition, located.path, subflows, registry)
    cached = _workflow_cache.get(id(definition))
    if cached is not None and _same(cached.inputs, inputs):
        return cached.compiled, cached.problems, cached.count
    found: list[Problem] = []
    ctx = DocumentContext(located, found)
    compiled = WorkflowChecker(located, repository, registry, ctx).check()
    entry = _CheckedWorkflow(inputs, compiled, tuple(found), ctx.compiled)
    if len(_workflow_cache) >= 10_000:
        _workflow_cache.clear()
    _workflow_cache[id(definition)] = entry
    return entry.compiled, entry.problems, entry.count


def _forget_workflows(repository: Repository) -> None:
    for located in repository.workflows.values():
        _workflow_cache.pop(id(located.definition), None)


def _keep_only(repository: Repository) -> None:
    """The workflow cache holds the last build's workflows only, as the loader's file cache."""
    current = {id(located.definition) for located in repository.workflows.values()}
    for key in [key for key in _workflow_cache if key not in current]:
        del _workflow_cache[key]


def _same(cached: tuple[object, ...], current: tuple[object, ...]) -> bool:
    definition, path, subflows, registry = cached
    new_definition, new_path, new_subflows, new_registry = current
    assert isinstance(subflows, tuple) and isinstance(new_subflows, tuple)
    return (
        definition is new_definition
        and path == new_path
        and registry is new_registry
        and len(subflows) == len(new_subflows)
        and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(subflows, new_subflows, strict=True))
    )


def compile_repository(
    repository: Repository, problems: list[Problem], registry: Registry
) -> Outcome:
    compiled_count = 0
    workflows: dict[str, CompiledWorkflow] = {}
    for name, workflow in repository.workflows.items():
        compiled, found, count = _check_workflow(workflow, repository, registry)
        workflows[name] = compiled
        problems.extend(found)
        compiled_count += count
    _keep_only(repository)
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
    problems = sorted({messages.clipped(problem) for problem in problems})
    if problems:
        return Outcome(repository, None, problems)
    policies.sort(key=lambda p: (-p.definition.spec.priority, p.name))
    revision = Revision(repository, workflows, tuple(policies), tuple(rules), compiled_count)
    return Outcome(repository, revision, [])


def _check_subflow_cycles(
    repository: Repository, workflows: dict[str, CompiledWorkflow], problems: list[Problem]
) -> None:
    """A workflow must not call itself, directly or through other workflows (every cycle)."""
    calls: dict[str, list[str]] = {}
    where: dict[tuple[str, str], tuple[str | int, ...]] = {}
    for name in workflows:
        located = repository.workflows[name]
        for step, path in located.definition.all_steps():
            if step.workflow:
                calls.setdefault(name, []).append(step.workflow)
                where.setdefault((name, step.workflow), path)
        calls.setdefault(name, [])
    for cycle in graph.find_cycles(calls):
        message = f"workflows call each other in a cycle: {' -> '.join(cycle)}"
        path = where[(cycle[0], cycle[1])]
        problems.append(repository.workflows[cycle[0]].problem((*path, "workflow"), message))
