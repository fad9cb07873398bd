"""Rules for Policies and Guardrails: CEL, the workflow named, its params, actions named."""

from __future__ import annotations

import difflib

from reconciler.actions.registry import Registry
from reconciler.definitions.guardrail import Guardrail
from reconciler.definitions.loader import Located, Repository
from reconciler.definitions.policy import Policy
from reconciler.expressions.compiler import Scope
from reconciler.validation.compiled import CompiledPolicy, CompiledRule
from reconciler.validation.context import BOOL_TYPES, DocumentContext
from reconciler.validation.params import check_params


def check_policy(
    located: Located[Policy], repository: Repository, ctx: DocumentContext
) -> CompiledPolicy | None:
    spec = located.definition.spec
    match = ctx.expression(spec.match, Scope.MATCH, ("spec", "match"), returns=BOOL_TYPES)
    params = {
        name: ctx.template(value, Scope.MATCH, ("spec", "params", name))
        for name, value in spec.params.items()
    }
    target = ctx.template(spec.target, Scope.MATCH, ("spec", "target")) if spec.target else None
    workflow = repository.workflows.get(spec.workflow)
    if workflow is None:
        hint = difflib.get_close_matches(spec.workflow, sorted(repository.workflows), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        ctx.problem(("spec", "workflow"), f"unknown workflow {spec.workflow!r}{suggestion}")
    else:
        for name, message in check_params(
            workflow.definition.spec.params, spec.params, params, spec.workflow
        ):
            ctx.problem(("spec", "params", name) if name else ("spec", "params"), message)
    if spec.guardrails.min_confidence is not None:
        pass  # accepted now; effectiveness tracking (a later issue) makes it bite
    if match is None:
        return None
    return CompiledPolicy(located, match, params, target)


def check_guardrail(
    located: Located[Guardrail], registry: Registry, ctx: DocumentContext
) -> list[CompiledRule]:
    rules: list[CompiledRule] = []
    seen: set[str] = set()
    name = located.definition.metadata.name
    for index, rule in enumerate(located.definition.spec.rules):
        path = ("spec", "rules", index)
        if rule.name in seen:
            ctx.problem((*path, "name"), f"duplicate rule name {rule.name!r} in guardrail {name!r}")
        seen.add(rule.name)
        for n, action in enumerate(rule.applies_to or []):
            spec = registry.get(action)
            if spec is not None and not spec.mutating:
                ctx.problem(
                    (*path, "applies_to", n),
                    f"{action} does not mutate; rules run only before mutating actions",
                )
            if action not in registry:
                hint = difflib.get_close_matches(action, registry.names(), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                ctx.problem((*path, "applies_to", n), f"unknown action {action!r}{suggestion}")
        deny = ctx.expression(rule.deny, Scope.GUARDRAIL, (*path, "deny"), returns=BOOL_TYPES)
        message = (
            ctx.template(rule.message, Scope.GUARDRAIL, (*path, "message"))
            if rule.message
            else None
        )
        if deny is not None:
            rules.append(CompiledRule(name, rule, deny, message, located.where(path)))
    return rules
