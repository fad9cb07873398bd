"""A validated revision with every expression compiled: what the engine, matcher and ``plan`` use.

Built once per revision by :mod:`reconciler.validation.revision`; immutable afterwards, so a
running execution can keep the revision it started on while a newer one becomes active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.definitions.guardrail import GuardrailRule
from reconciler.definitions.loader import Located, Repository
from reconciler.definitions.policy import Policy
from reconciler.definitions.workflow import Step, Workflow
from reconciler.expressions.compiler import Expression, Scope
from reconciler.expressions.templates import Node

DocPath = tuple[str | int, ...]


@dataclass(frozen=True)
class CompiledStep:
    """One step with its place in the graph and its compiled expressions and templates."""

    step: Step
    path: DocPath
    parent: str | None
    depends_on: tuple[str, ...]
    scope: Scope
    upstream: frozenset[str]
    if_: Expression | None = None
    with_: Node = None
    for_each: Expression | None = None
    wait_until: Expression | None = None
    wait_until_with: Node = None
    verify: Expression | None = None
    verify_with: Node = None
    compensate_with: Node = None
    approval_message: Node = None
    decide_rules: tuple[tuple[Expression, str], ...] = ()
    decide_inputs: Node = None
    # Durations written as templates, by their path below the step (("retry", "backoff")):
    # rendered when the step starts (see reconciler.engine.durations).
    durations: dict[DocPath, Node] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.step.id


@dataclass(frozen=True)
class CompiledWorkflow:
    located: Located[Workflow]
    steps: dict[str, CompiledStep]
    children: dict[str | None, tuple[str, ...]]  # parent id (None: top level) -> child ids in order
    outputs: dict[str, Expression] = field(default_factory=dict)

    @property
    def definition(self) -> Workflow:
        return self.located.definition

    @property
    def path(self) -> str:
        return self.located.path

    def where(self, step_id: str, field: str) -> str:
        """``file:line:col: field`` of one field of a step, for runtime errors."""
        return self.located.where((*self.steps[step_id].path, field))

    @property
    def name(self) -> str:
        return self.definition.metadata.name

    def graph(self, parent: str | None) -> dict[str, list[str]]:
        """Sibling dependency graph of one list of steps."""
        return {sid: list(self.steps[sid].depends_on) for sid in self.children.get(parent, ())}


@dataclass(frozen=True)
class CompiledPolicy:
    located: Located[Policy]
    match: Expression
    params: dict[str, Node]
    target: Node

    @property
    def definition(self) -> Policy:
        return self.located.definition

    @property
    def name(self) -> str:
        return self.definition.metadata.name


@dataclass(frozen=True)
class CompiledRule:
    guardrail: str
    rule: GuardrailRule
    deny: Expression
    message: Node
    where: str = ""  # file:line of the rule, for errors

    def applies_to(self, action: str) -> bool:
        return self.rule.applies_to is None or action in self.rule.applies_to


@dataclass(frozen=True)
class Revision:
    """Everything one revision of the repository defines, ready to run."""

    repository: Repository
    workflows: dict[str, CompiledWorkflow]
    policies: tuple[CompiledPolicy, ...]  # highest priority first, then by name
    rules: tuple[CompiledRule, ...]
    expressions_compiled: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> dict[str, Located[Any]]:
        return dict(self.repository.tests)
