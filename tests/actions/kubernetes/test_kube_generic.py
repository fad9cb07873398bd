"""kubernetes.get, list and patch: any kind the RBAC grants, redacted outputs, and patch as a
mutating action (marker in the same patch, ignore annotation, Event, dry run, check)."""

from __future__ import annotations

import pytest
from kubesim import MARKER, NS, app, events_about, patch_stored, pods, stored, writes

from reconciler.actions.kubeops.redaction import REDACTED
from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError
from reconciler.sim.server import SimulatedCluster

NODE = "ip-10-20-1-15.eu-west-1.compute.internal"


def test_get_answers_the_object_itself(act) -> None:
    deployment = act(
        "kubernetes.get", {"kind": "Deployment", "namespace": NS, "name": "checkout-api"}
    )
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 3
    node = act("kubernetes.get", {"kind": "Node", "name": NODE})
    assert any(c["type"] == "Ready" for c in node["status"]["conditions"])
    hpa = act(
        "kubernetes.get", {"kind": "HorizontalPodAutoscaler", "namespace": NS, "name": "storefront"}
    )
    assert hpa["spec"]["scaleTargetRef"]["name"] == "storefront"


def test_get_redacts_secret_looking_env_values_and_the_last_applied_configuration(
    act, sim: SimulatedCluster
) -> None:
    env = [
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {"name": "LOG_LEVEL", "value": "debug"},
    ]
    patch_stored(
        sim,
        "Deployment",
        NS,
        "checkout-api",
        {
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{hunter2}"},
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {"template": {"spec": {"containers": [{"name": "checkout-api", "env": env}]}}},
        },
    )
    deployment = act(
        "kubernetes.get", {"kind": "Deployment", "namespace": NS, "name": "checkout-api"}
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "DB_PASSWORD", "value": REDACTED},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {"name": "LOG_LEVEL", "value": "debug"},
    ]
    annotations = deployment["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/last-applied-configuration"] == REDACTED
    assert "managedFields" not in deployment["metadata"]
    assert "hunter2" not in str(deployment)


def test_get_refuses_a_kind_the_rbac_does_not_grant_before_calling(act, sim) -> None:
    sim.cluster.faults.clear()
    with pytest.raises(PermanentError, match="cannot get ConfigMap: reconciler's RBAC"):
        act("kubernetes.get", {"kind": "ConfigMap", "namespace": NS, "name": "settings"})


def test_get_says_when_a_kind_needs_a_namespace_or_has_none(act) -> None:
    with pytest.raises(PermanentError, match="a Pod is namespaced: set namespace"):
        act("kubernetes.get", {"kind": "Pod", "name": "x"})
    with pytest.raises(PermanentError, match="a Node is cluster-scoped"):
        act("kubernetes.get", {"kind": "Node", "namespace": NS, "name": NODE})


def test_get_of_a_missing_object_is_permanent(act) -> None:
    with pytest.raises(PermanentError, match=r"^Pod prod-checkout/nope not found$"):
        act("kubernetes.get", {"kind": "Pod", "namespace": NS, "name": "nope"})


def test_list_by_label_and_field_selectors_in_a_namespace_or_everywhere(act, sim) -> None:
    listed = act(
        "kubernetes.list",
        {"kind": "Pod", "namespace": NS, "label_selector": "app.kubernetes.io/name=checkout-api"},
    )
    expected = {p["metadata"]["name"] for p in pods(sim, NS, app("checkout-api"))}
    assert {p["metadata"]["name"] for p in listed["items"]} == expected
    assert listed["count"] == len(expected) and listed["truncated"] is False
    assert all(p["kind"] == "Pod" for p in listed["items"])
    on_node = act("kubernetes.list", {"kind": "Pod", "field_selector": f"spec.nodeName={NODE}"})
    assert on_node["count"] and {p["spec"]["nodeName"] for p in on_node["items"]} == {NODE}
    assert {p["metadata"]["namespace"] for p in on_node["items"]} > {NS}
    nodes = act("kubernetes.list", {"kind": "Node"})
    assert nodes["count"] == 4


def test_list_of_nothing_is_an_empty_answer_not_an_error(act) -> None:
    listed = act("kubernetes.list", {"kind": "Pod", "namespace": NS, "label_selector": "app=none"})
    assert listed == {"kind": "Pod", "items": [], "count": 0, "truncated": False}


def test_list_refuses_configmaps(act) -> None:
    with pytest.raises(PermanentError, match="cannot list ConfigMap"):
        act("kubernetes.list", {"kind": "ConfigMap", "namespace": NS})


def test_patch_carries_the_marker_in_the_same_patch_and_records_an_event(act, sim) -> None:
    before = len(sim.cluster.audit)
    output = act(
        "kubernetes.patch",
        {
            "kind": "Deployment",
            "namespace": NS,
            "name": "checkout-api",
            "patch": {"metadata": {"labels": {"tier": "web"}}},
        },
    )
    deployment = stored(sim, "Deployment", NS, "checkout-api")
    assert deployment["metadata"]["labels"]["tier"] == "web"
    assert deployment["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    (patch,) = writes(sim.cluster.audit[before:], "patch", "deployments")
    assert patch["content_type"].startswith("application/strategic-merge-patch+json")
    assert patch["body"]["metadata"]["labels"] == {"tier": "web"}
    assert patch["body"]["metadata"]["annotations"] == {MARKER: "exec-1/step/1"}
    assert output["object"]["metadata"]["labels"]["tier"] == "web"
    assert output["event"] and output["dry_run"] is False
    (event,) = events_about(sim, "checkout-api")
    assert event["reason"] == "ReconcilerPatched" and event["type"] == "Normal"


def test_patch_takes_merge_and_json_patches(act, sim) -> None:
    act(
        "kubernetes.patch",
        {
            "kind": "Node",
            "name": NODE,
            "patch": {"metadata": {"labels": {"pool": "spare"}}},
            "patch_type": "merge",
        },
    )
    act(
        "kubernetes.patch",
        {
            "kind": "HorizontalPodAutoscaler",
            "namespace": NS,
            "name": "storefront",
            "patch": [{"op": "replace", "path": "/spec/maxReplicas", "value": 6}],
            "patch_type": "json",
        },
        step="second",
    )
    assert stored(sim, "Node", None, NODE)["metadata"]["labels"]["pool"] == "spare"
    hpa = stored(sim, "HorizontalPodAutoscaler", NS, "storefront")
    assert hpa["spec"]["maxReplicas"] == 6
    assert hpa["metadata"]["annotations"][MARKER] == "exec-1/second/1"
    with pytest.raises(PermanentError, match="a json patch is a list of operations"):
        act("kubernetes.patch", {"kind": "Node", "name": NODE, "patch": {}, "patch_type": "json"})


def test_patch_in_dry_run_changes_nothing_and_records_no_event(act, sim) -> None:
    before = len(sim.cluster.audit)
    output = act(
        "kubernetes.patch",
        {"kind": "Node", "name": NODE, "patch": {"spec": {"unschedulable": True}}},
        dry_run=True,
    )
    assert output["dry_run"] is True and output["event"] is None
    assert output["object"]["spec"]["unschedulable"] is True  # what it would be
    (patch,) = writes(sim.cluster.audit[before:], "patch", "nodes")
    assert patch["dry_run"] is True
    node = stored(sim, "Node", None, NODE)
    assert not node["spec"].get("unschedulable") and MARKER not in node["metadata"]["annotations"]
    assert writes(sim.cluster.audit[before:], "create", "events") == []


def test_patch_refuses_an_ignored_object_and_kinds_it_may_not_patch(act, sim) -> None:
    patch_stored(
        sim, "Node", None, NODE, {"metadata": {"annotations": {"reconciler.dev/ignore": "true"}}}
    )
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match=r'refused: Node .* reconciler.dev/ignore: "true"'):
        act(
            "kubernetes.patch",
            {"kind": "Node", "name": NODE, "patch": {"spec": {"unschedulable": True}}},
        )
    with pytest.raises(PermanentError, match="cannot patch ReplicaSet"):
        act(
            "kubernetes.patch",
            {"kind": "ReplicaSet", "namespace": NS, "name": "x", "patch": {"spec": {}}},
        )
    assert sim.cluster.audit[before:] == []


def test_patch_check_finds_its_own_marker_only(act, check) -> None:
    params = {"kind": "Node", "name": NODE, "patch": {"metadata": {"labels": {"a": "b"}}}}
    assert check("kubernetes.patch", params) is CheckResult.NOT_DONE
    act("kubernetes.patch", params)
    assert check("kubernetes.patch", params) is CheckResult.DONE
    assert check("kubernetes.patch", params, attempt=2) is CheckResult.NOT_DONE
    missing = {**params, "name": "gone"}
    assert check("kubernetes.patch", missing) is CheckResult.UNKNOWN
