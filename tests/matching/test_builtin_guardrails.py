"""The built-in denials (matching.guardrails.Builtin): protected namespaces and shell Jobs,
refused before any repository rule, each naming the setting that allows it; through the
engine's gate as the service and `reconciler test` use it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.engine.gates import GuardrailHooks
from reconciler.engine.state import Execution, Node
from reconciler.matching import guardrails
from reconciler.settings import ServiceSettings


def denial(builtin: guardrails.Builtin, action: str, **params: Any) -> str | None:
    outcomes = guardrails.evaluate(
        (),
        action,
        params,
        alert={},
        execution={},
        workflow_params={},
        cluster=guardrails.StaticClusterView(),
        builtin=builtin,
    )
    assert all(o.fired and o.effect == "deny" for o in outcomes)
    return outcomes[0].message if outcomes else None


@pytest.mark.parametrize("namespace", ["kube-system", "reconciler"])
def test_protected_namespaces_are_refused_by_default_naming_the_setting(namespace: str) -> None:
    message = denial(
        guardrails.DEFAULT_BUILTIN, "kubernetes.restart_deployment", namespace=namespace, name="x"
    )
    assert message is not None
    assert f"namespace {namespace} is protected" in message
    assert "allow_protected_namespaces" in message
    assert "RECONCILER_ALLOW_PROTECTED_NAMESPACES" in message
    prod = denial(guardrails.DEFAULT_BUILTIN, "kubernetes.restart_deployment", namespace="prod")
    assert prod is None


def test_the_settings_move_or_lift_the_protection() -> None:
    own = guardrails.Builtin.from_settings(ServiceSettings(own_namespace="ops-reconciler"))
    assert denial(own, "kubernetes.delete_pod", namespace="ops-reconciler", name="p")
    assert denial(own, "kubernetes.delete_pod", namespace="kube-system", name="p")
    assert denial(own, "kubernetes.delete_pod", namespace="reconciler", name="p") is None
    allowed = guardrails.Builtin.from_settings(ServiceSettings(allow_protected_namespaces=True))
    assert denial(allowed, "kubernetes.delete_pod", namespace="kube-system", name="p") is None
    # Cluster-scoped actions have no namespace: nothing to protect there.
    assert denial(guardrails.DEFAULT_BUILTIN, "kubernetes.cordon_node", name="n1") is None


def test_shell_jobs_are_off_unless_enabled_and_only_in_listed_namespaces() -> None:
    off = denial(
        guardrails.DEFAULT_BUILTIN, "shell", command=["id"], image="busybox", namespace="ops"
    )
    assert off is not None and "shell_jobs_enabled" in off
    assert "RECONCILER_SHELL_JOBS_ENABLED" in off and "shell_job_namespaces" in off
    on = guardrails.Builtin.from_settings(
        ServiceSettings(shell_jobs_enabled=True, shell_job_namespaces="ops, batch")
    )
    assert on.shell_job_namespaces == ("ops", "batch")
    assert denial(on, "shell", command=["id"], image="busybox", namespace="ops") is None
    elsewhere = denial(on, "shell", command=["id"], image="busybox", namespace="prod")
    assert elsewhere is not None
    assert "namespace prod is not in shell_job_namespaces" in elsewhere
    # Without a namespace the Job would run in `default`, which is not listed.
    assert "namespace default" in str(denial(on, "shell", command=["id"], image="busybox"))
    # A listed namespace that is protected stays protected.
    kube = guardrails.Builtin.from_settings(
        ServiceSettings(shell_jobs_enabled=True, shell_job_namespaces="kube-system")
    )
    assert "is protected" in str(
        denial(kube, "shell", command=["id"], image="b", namespace="kube-system")
    )
    # shell without image: runs in reconciler's pod, not as a Job.
    assert denial(guardrails.DEFAULT_BUILTIN, "shell", command=["id"]) is None


def test_enabling_shell_jobs_without_namespaces_is_refused() -> None:
    with pytest.raises(ValueError, match="shell_jobs_enabled needs shell_job_namespaces"):
        ServiceSettings(shell_jobs_enabled=True)


def gate(hooks: GuardrailHooks, action: str, params: dict[str, Any], mutating: bool = True) -> Any:
    execution = Execution(id="e1", workflow="w", policy="p", revision="r", alert={}, params={})
    node = Node(key="s", step="s")
    return asyncio.run(hooks.before_action(execution, node, action, params, mutating))


def test_the_engine_gate_denies_before_the_repository_s_rules() -> None:
    hooks = GuardrailHooks(lambda execution: ())
    denied = gate(hooks, "kubernetes.scale_deployment", {"namespace": "kube-system", "name": "d"})
    assert denied.decision == "deny"
    assert denied.message.startswith("reconciler/protected-namespaces: ")
    # Reads are not gated.
    read = gate(hooks, "kubernetes.get", {"namespace": "kube-system"}, mutating=False)
    assert read.decision == "allow"
    hooks.builtin = guardrails.Builtin(protected_namespaces=())
    assert gate(hooks, "kubernetes.scale_deployment", {"namespace": "kube-system"}).decision == (
        "allow"
    )
