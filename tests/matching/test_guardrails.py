"""Guardrail rules: deny, approve, applies_to, message templates, and failing closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.definitions.loader import DirectoryTree
from reconciler.matching import guardrails
from reconciler.validation import revision
from reconciler.validation.compiled import CompiledRule

REPO = Path(__file__).resolve().parents[1] / "fixtures" / "repos" / "matching"


@pytest.fixture(scope="module")
def rules() -> tuple[CompiledRule, ...]:
    outcome = revision.build([DirectoryTree(REPO)])
    assert outcome.revision is not None
    return outcome.revision.rules


def fired(
    rules: tuple[CompiledRule, ...],
    action: str,
    params: dict[str, object],
    nodes: list[dict[str, object]] | None = None,
) -> dict[str, guardrails.RuleOutcome]:
    outcomes = guardrails.evaluate(
        rules,
        action,
        params,
        alert={"labels": {}},
        execution={"id": "e1"},
        workflow_params={},
        cluster=guardrails.StaticClusterView({"nodes": nodes or []}),
    )
    return {o.rule: o for o in outcomes if o.fired}


def test_a_deny_rule_fires_with_its_rendered_message(rules: tuple[CompiledRule, ...]) -> None:
    result = fired(
        rules, "kubernetes.delete_pod", {"namespace": "kube-system", "name": "coredns-1"}
    )
    assert result["never-kube-system"].effect == "deny"
    assert result["never-kube-system"].message == "refusing kubernetes.delete_pod in kube-system"


def test_an_approve_rule_gates_instead_of_denying(rules: tuple[CompiledRule, ...]) -> None:
    result = fired(rules, "kubernetes.delete_pod", {"namespace": "prod-eu", "name": "web-1"})
    assert set(result) == {"prod-needs-approval"}
    assert result["prod-needs-approval"].effect == "approve"


def test_rules_see_the_cluster_view_and_respect_applies_to(rules: tuple[CompiledRule, ...]) -> None:
    cordoned = [
        {"metadata": {"name": "node-1"}, "spec": {"unschedulable": True}},
        {"metadata": {"name": "node-2"}, "spec": {}},
    ]
    assert "one-node-at-a-time" in fired(
        rules, "kubernetes.drain_node", {"name": "node-2"}, cordoned
    )
    assert "one-node-at-a-time" not in fired(
        rules, "kubernetes.drain_node", {"name": "node-2"}, cordoned[1:]
    )
    assert "one-node-at-a-time" not in fired(
        rules, "kubernetes.delete_pod", {"namespace": "a", "name": "b"}, cordoned
    )


def test_a_rule_that_errors_denies_fail_closed(rules: tuple[CompiledRule, ...]) -> None:
    # "broken" compares action.params.replicas, which this call does not have.
    result = fired(rules, "kubernetes.scale_deployment", {"namespace": "dev", "name": "web"})
    assert result["broken"].effect == "deny"
    assert result["broken"].error is not None
    assert "fail closed" in result["broken"].message


def test_action_view_names_namespace_and_target() -> None:
    view = guardrails.action_view(
        "kubernetes.scale_deployment", {"namespace": "prod", "name": "web", "replicas": 3}
    )
    assert view == {
        "name": "kubernetes.scale_deployment",
        "params": {"namespace": "prod", "name": "web", "replicas": 3},
        "namespace": "prod",
        "target": "prod/web",
    }
    assert (
        guardrails.action_view("kubernetes.cordon_node", {"name": "node-1"})["target"] == "node-1"
    )


def test_a_cluster_view_too_large_for_expressions_denies_with_the_reason(
    rules: tuple[CompiledRule, ...],
) -> None:
    pods = [{"metadata": {"name": f"p{i}"}} for i in range(3000)]
    outcomes = guardrails.evaluate(
        rules,
        "kubernetes.delete_pod",
        {"namespace": "dev", "name": "web"},
        alert={},
        execution={},
        workflow_params={},
        cluster=guardrails.StaticClusterView({"pods": pods}),
    )
    assert outcomes and all(o.fired and o.effect == "deny" for o in outcomes)
    assert "cluster.pods holds a list of 3000 items" in outcomes[0].message
