"""The kubernetes.* catalogue: every action implemented, with its flags, a check when it
mutates, the kind table complete, and one clear error when no cluster is configured."""

from __future__ import annotations

import asyncio
import re
import typing

import kubernetes
import pytest
from kubesim import context

from reconciler.actions import k8s
from reconciler.actions.kubeops import objects
from reconciler.actions.registry import default_registry
from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError

# Minimal valid parameters of every action.
PARAMS: dict[str, dict[str, object]] = {
    "get": {"kind": "Pod", "namespace": "a", "name": "b"},
    "list": {"kind": "Pod"},
    "patch": {"kind": "Pod", "namespace": "a", "name": "b", "patch": {}},
    "scale_deployment": {"namespace": "a", "name": "b", "replicas": 1},
    "scale_statefulset": {"namespace": "a", "name": "b", "replicas": 1},
    "restart_deployment": {"namespace": "a", "name": "b"},
    "delete_pod": {"namespace": "a", "name": "b"},
    "rollback_deployment": {"namespace": "a", "name": "b"},
    "increase_resources": {"namespace": "a", "name": "b", "factor": 1.5},
    "update_hpa": {"namespace": "a", "name": "b", "max_replicas": 3},
    "cordon_node": {"name": "n"},
    "uncordon_node": {"name": "n"},
    "drain_node": {"name": "n"},
    "expand_pvc": {"namespace": "a", "name": "b", "size": "2Gi"},
    "wait_ready": {"kind": "Pod", "namespace": "a", "name": "b"},
    "collect_diagnostics": {"namespace": "a", "name": "b"},
    "quarantine_pod": {"namespace": "a", "name": "b"},
}
# (mutating, idempotent), as declared before the implementations landed.
FLAGS = {
    "get": (False, True),
    "list": (False, True),
    "patch": (True, False),
    "scale_deployment": (True, True),
    "scale_statefulset": (True, True),
    "restart_deployment": (True, False),
    "delete_pod": (True, False),
    "rollback_deployment": (True, False),
    "increase_resources": (True, False),
    "update_hpa": (True, True),
    "cordon_node": (True, True),
    "uncordon_node": (True, True),
    "drain_node": (True, True),
    "expand_pvc": (True, False),
    "wait_ready": (False, True),
    "collect_diagnostics": (False, True),
    "quarantine_pod": (True, True),
}


def test_every_kubernetes_action_is_implemented_with_its_flags_and_a_check_when_it_mutates() -> (
    None
):
    actions = {a.name.removeprefix("kubernetes."): a for a in k8s.ACTIONS}
    assert set(actions) == set(FLAGS)
    for name, action in actions.items():
        assert action.implemented and action.dry_run and action.needs_cluster, name
        assert (action.mutating, action.idempotent) == FLAGS[name], name
        assert (action.check is not None) == action.mutating, name


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_without_a_cluster_every_action_fails_saying_it_needs_one(name: str) -> None:
    action = default_registry().get(f"kubernetes.{name}")
    assert action is not None
    params = action.params.model_validate(PARAMS[name])
    expected = f"no cluster configured: kubernetes.{name} needs a Kubernetes cluster (--cluster)"
    with pytest.raises(PermanentError, match=f"^{re.escape(expected)}$"):
        asyncio.run(action.call(params, context(None)))
    if action.check is not None:
        assert asyncio.run(action.check(params, context(None))) is CheckResult.UNKNOWN


def test_the_kind_table_covers_every_kind_with_real_client_methods() -> None:
    assert set(objects.KINDS) == set(typing.get_args(k8s.Kind))
    api = kubernetes.client.ApiClient()
    try:
        for kind, table in objects.KINDS.items():
            for verb in ("read", "list", "patch"):
                assert callable(table.method(api, verb)), (kind, verb)
            assert callable(table.method(api, "list", everywhere=True)), kind
    finally:
        api.close()
