"""Guardrail rules (kind ``Guardrail``) as gates before every mutating action (SPEC §1.4).

A fired rule with ``effect: deny`` fails the step; ``effect: approve`` makes it wait for a
person. Rules come from the execution's own revision, so a running execution keeps the
guardrails it started with. The service and ``reconciler test`` both plug this in; the
``cluster`` view comes from a provider: the live cluster (``actions.kube.ClusterView``), a
simulated one, or an empty static view. Before the rules, ``builtin`` denies what reconciler
refuses itself (protected namespaces, shell Jobs): see :class:`guardrails.Builtin`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.engine.hooks import ALLOW, Gate, Hooks
from reconciler.engine.state import Execution, Node
from reconciler.matching import guardrails
from reconciler.validation.compiled import CompiledRule

RulesFor = Callable[[Execution], Sequence[CompiledRule]]


class GuardrailHooks(Hooks):
    def __init__(
        self,
        rules_for: RulesFor,
        cluster: guardrails.ClusterView | None = None,
        builtin: guardrails.Builtin = guardrails.DEFAULT_BUILTIN,
    ) -> None:
        self.rules_for = rules_for
        self.cluster = cluster or guardrails.StaticClusterView()
        # What reconciler refuses itself; the service sets it from its settings.
        self.builtin = builtin

    async def before_action(
        self,
        execution: Execution,
        node: Node,
        action: str,
        params: Mapping[str, Any],
        mutating: bool,
    ) -> Gate:
        if not mutating:
            return ALLOW
        refresh = getattr(self.cluster, "refresh", None)
        if refresh is not None:  # a live cluster: fetched off the event loop, then evaluated
            try:
                await refresh()
            except Exception as exc:  # fail closed: no view, no mutation
                return Gate("deny", f"guardrails could not read the cluster: {exc}")
        outcomes = guardrails.evaluate(
            self.rules_for(execution),
            action,
            params,
            alert=execution.alert,
            execution={
                "id": execution.id,
                "workflow": execution.workflow,
                "policy": execution.policy,
                "target": execution.target,
            },
            workflow_params=execution.params,
            cluster=self.cluster,
            builtin=self.builtin,
        )
        return gate_of(outcomes)


def gate_of(outcomes: Sequence[guardrails.RuleOutcome]) -> Gate:
    """The first fired deny wins over any approve; no fired rule allows."""
    for effect in ("deny", "approve"):
        fired = [o for o in outcomes if o.fired and o.effect == effect]
        if fired:
            first = fired[0]
            return Gate(effect, f"{first.guardrail}/{first.rule}: {first.message}")
    return ALLOW
