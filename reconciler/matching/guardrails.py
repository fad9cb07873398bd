"""Evaluating guardrail rules before a mutating action (SPEC §1.4).

A rule whose ``deny`` is true denies the action (``effect: deny``) or gates it on approval
(``effect: approve``). A rule that errors denies: guardrails fail closed. The ``cluster`` view
comes from a :class:`ClusterView` provider; :class:`StaticClusterView` serves fixed lists (plan,
tests without a cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from reconciler.errors import ExpressionError
from reconciler.expressions import templates
from reconciler.expressions.compiler import Activation, Scope
from reconciler.expressions.values import check_bounds, to_text
from reconciler.validation.compiled import CompiledRule

GUARDED_COLLECTIONS = ("nodes", "pods", "deployments", "statefulsets", "hpas", "pdbs")


class ClusterView(Protocol):
    """Read-only lists of raw Kubernetes objects for guardrail rules."""

    def snapshot(self) -> dict[str, list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class StaticClusterView:
    objects: Mapping[str, Sequence[dict[str, Any]]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {name: list(self.objects.get(name, ())) for name in GUARDED_COLLECTIONS}


@dataclass(frozen=True)
class RuleOutcome:
    guardrail: str
    rule: str
    effect: Literal["deny", "approve"]
    fired: bool
    message: str
    error: str | None = None


def action_view(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``action`` variable: name, params, namespace and target of the call."""
    namespace = params.get("namespace")
    object_name = params.get("name")
    target = f"{namespace}/{object_name}" if namespace and object_name else str(object_name or "")
    return {"name": name, "params": dict(params), "namespace": namespace or "", "target": target}


def evaluate(
    rules: Sequence[CompiledRule],
    action: str,
    params: Mapping[str, Any],
    *,
    alert: Mapping[str, Any],
    execution: Mapping[str, Any],
    workflow_params: Mapping[str, Any],
    cluster: ClusterView,
    history: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> list[RuleOutcome]:
    """Every applicable rule's outcome, in order; a rule that errors fires with effect deny."""
    applicable = [rule for rule in rules if rule.applies_to(action)]
    if not applicable:
        return []
    view = cluster.snapshot()
    try:
        check_bounds(view, "cluster")
        check_bounds(list(history), "history")
    except ExpressionError as exc:
        # Too much to hand to CEL safely: every rule that applies denies (fail closed), saying why.
        message = f"{exc.message}; narrow the cluster view or raise the expression limits"
        return [
            RuleOutcome(r.guardrail, r.rule.name, "deny", True, message, exc.message)
            for r in applicable
        ]
    activation = Activation(
        Scope.GUARDRAIL,
        {
            "action": action_view(action, params),
            "alert": dict(alert),
            "execution": dict(execution),
            "params": dict(workflow_params),
            "cluster": view,
            "history": [dict(h) for h in history],
            "now": now or datetime.now(UTC),
        },
    )
    outcomes = []
    for rule in applicable:
        name = rule.rule.name
        try:
            fired = rule.deny.evaluate(activation) is True
        except ExpressionError as exc:
            outcomes.append(
                RuleOutcome(
                    rule.guardrail,
                    name,
                    "deny",
                    True,
                    f"rule failed to evaluate (fail closed): {exc.message}",
                    exc.message,
                )
            )
            continue
        message = ""
        if fired:
            message = f"guardrail {rule.guardrail}/{name} fired"
            if rule.message is not None:
                try:
                    message = to_text(templates.render(rule.message, activation))
                except ExpressionError as exc:
                    message = f"{message} (its message failed: {exc.message})"
        outcomes.append(RuleOutcome(rule.guardrail, name, rule.rule.effect, fired, message))
    return outcomes
