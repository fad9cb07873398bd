"""The simulated cluster through the official client: reads, writes, patches, subresources,
controllers, dry runs, faults and the audit log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import kubernetes
import pytest
from kubernetes.client import AppsV1Api, CoreV1Api, PolicyV1Api
from kubernetes.client.exceptions import ApiException

from reconciler.sim.cluster import Fault
from reconciler.sim.server import SimulatedCluster

NS = "prod-checkout"


def ready_pods(core: CoreV1Api, app: str) -> list[str]:
    pods = core.list_namespaced_pod(NS, label_selector=f"app.kubernetes.io/name={app}").items
    return sorted(
        p.metadata.name
        for p in pods
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    )


def test_reads_parse_into_the_clients_models_with_selectors(api) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    deployment = apps.read_namespaced_deployment("checkout-api", NS)
    assert deployment.spec.template.spec.containers[0].name
    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=checkout-api")
    assert pods.items and all(
        p.metadata.labels["app.kubernetes.io/name"] == "checkout-api" for p in pods.items
    )
    node = pods.items[0].spec.node_name
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert on_node and all(p.spec.node_name == node for p in on_node)
    assert {n.metadata.name for n in core.list_node().items}
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", NS)
    assert missing.value.status == 404


def test_a_stale_update_conflicts_and_a_fresh_one_succeeds(api) -> None:
    core = CoreV1Api(api)
    created = core.create_namespaced_config_map(
        NS, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    fresh = core.read_namespaced_config_map("settings", NS)
    fresh.data = {"a": "2"}
    core.replace_namespaced_config_map("settings", NS, fresh)
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("settings", NS, created)  # an old resourceVersion
    assert conflict.value.status == 409
    assert core.read_namespaced_config_map("settings", NS).data == {"a": "2"}


def test_a_template_change_rolls_out_and_a_rollback_restores_the_old_replica_set(api) -> None:
    apps, core = AppsV1Api(api), CoreV1Api(api)
    before = apps.read_namespaced_deployment("checkout-api", NS)
    container = before.spec.template.spec.containers[0]
    old_pods = ready_pods(core, "checkout-api")
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": container.name, "image": "registry/checkout:v2"}]}
            }
        }
    }
    apps.patch_namespaced_deployment("checkout-api", NS, patch)  # strategic merge by name
    after = apps.read_namespaced_deployment("checkout-api", NS)
    assert after.spec.template.spec.containers[0].image == "registry/checkout:v2"
    assert after.spec.template.spec.containers[0].ports == container.ports  # merged, not replaced
    new_pods = ready_pods(core, "checkout-api")
    assert len(new_pods) == before.spec.replicas and not set(new_pods) & set(old_pods)
    sets = apps.list_namespaced_replica_set(
        NS, label_selector="app.kubernetes.io/name=checkout-api"
    ).items
    active = [rs for rs in sets if rs.spec.replicas]
    assert (
        len(active) == 1
        and active[0].spec.template.spec.containers[0].image == "registry/checkout:v2"
    )
    revision = int(active[0].metadata.annotations["deployment.kubernetes.io/revision"])
    # Rolling back: the previous template again, which brings back its ReplicaSet.
    apps.patch_namespaced_deployment(
        "checkout-api",
        NS,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": container.name, "image": container.image}]}
                }
            }
        },
    )
    sets = apps.list_namespaced_replica_set(
        NS, label_selector="app.kubernetes.io/name=checkout-api"
    ).items
    (restored,) = [rs for rs in sets if rs.spec.replicas]
    assert restored.spec.template.spec.containers[0].image == container.image
    assert int(restored.metadata.annotations["deployment.kubernetes.io/revision"]) == revision + 1


def test_the_scale_subresource_changes_pods_and_an_hpa_bounds_hold(api, sim) -> None:
    apps, core = AppsV1Api(api), CoreV1Api(api)
    apps.patch_namespaced_deployment_scale("checkout-api", NS, {"spec": {"replicas": 5}})
    scale = apps.read_namespaced_deployment_scale("checkout-api", NS)
    assert scale.spec.replicas == 5
    assert len(ready_pods(core, "checkout-api")) == 5
    hpas = (
        kubernetes.client.AutoscalingV2Api(api)
        .list_horizontal_pod_autoscaler_for_all_namespaces()
        .items
    )
    assert hpas, "the fixture has an HPA"
    hpa = hpas[0]
    target = hpa.spec.scale_target_ref.name
    apps.patch_namespaced_deployment_scale(
        target, hpa.metadata.namespace, {"spec": {"replicas": 1000}}
    )
    assert (
        apps.read_namespaced_deployment(target, hpa.metadata.namespace).spec.replicas
        == hpa.spec.max_replicas
    )


def test_eviction_honours_pod_disruption_budgets(api) -> None:
    core, policy = CoreV1Api(api), PolicyV1Api(api)
    # payment-gateway has a crash-looping pod: its budget (maxUnavailable 1) is used up.
    blocked = policy.read_namespaced_pod_disruption_budget("payment-gateway", NS)
    assert blocked.status.disruptions_allowed == 0
    pdb = policy.read_namespaced_pod_disruption_budget("checkout-api", NS)
    pods = ready_pods(core, "checkout-api")
    assert pdb.status.disruptions_allowed == len(pods) - 2  # minAvailable 2
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pods[0], "namespace": NS},
    }
    core.create_namespaced_pod_eviction(pods[0], NS, eviction)
    replaced = ready_pods(core, "checkout-api")
    assert pods[0] not in replaced and len(replaced) == len(pods)  # the ReplicaSet replaced it
    # With the budget used up (pods not ready), the next eviction is refused with 429.
    for name in replaced[: len(replaced) - 2]:
        core.patch_namespaced_pod_status(
            name, NS, {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        )
    replaced = ready_pods(core, "checkout-api")
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod_eviction(
            replaced[0], NS, {**eviction, "metadata": {"name": replaced[0], "namespace": NS}}
        )
    assert refused.value.status == 429 and "disruption budget" in refused.value.body


def test_dry_run_changes_nothing_and_deleted_owned_pods_come_back(api, sim) -> None:
    apps, core = AppsV1Api(api), CoreV1Api(api)
    apps.patch_namespaced_deployment_scale(
        "checkout-api", NS, {"spec": {"replicas": 9}}, dry_run="All"
    )
    before = ready_pods(core, "checkout-api")
    assert apps.read_namespaced_deployment("checkout-api", NS).spec.replicas != 9
    core.delete_namespaced_pod(before[0], NS)
    after = ready_pods(core, "checkout-api")
    assert before[0] not in after and len(after) == len(before)
    audit = [(e["verb"], e["resource"], e["dry_run"]) for e in sim.cluster.audit]
    assert ("patch", "deployments", True) in audit and ("delete", "pods", False) in audit


def test_cordon_taints_the_node_and_new_pods_avoid_it(api) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=checkout-api").items
    node = pods[0].spec.node_name
    core.patch_node(node, {"spec": {"unschedulable": True}})
    assert any(
        t.key == "node.kubernetes.io/unschedulable" for t in core.read_node(node).spec.taints
    )
    apps.patch_namespaced_deployment_scale(
        "checkout-api", NS, {"spec": {"replicas": len(pods) + 3}}
    )
    fresh = {
        p.metadata.name
        for p in core.list_namespaced_pod(
            NS, label_selector="app.kubernetes.io/name=checkout-api"
        ).items
    } - {p.metadata.name for p in pods}
    assert fresh and all(core.read_namespaced_pod(n, NS).spec.node_name != node for n in fresh)
    core.patch_node(node, {"spec": {"unschedulable": False}})
    assert not any(
        t.key == "node.kubernetes.io/unschedulable" for t in core.read_node(node).spec.taints or []
    )


def test_a_pvc_grows_only_where_its_class_allows_and_never_shrinks(api) -> None:
    core = CoreV1Api(api)
    (pvc,) = core.list_persistent_volume_claim_for_all_namespaces().items[:1]
    ns, name = pvc.metadata.namespace, pvc.metadata.name
    size = pvc.spec.resources.requests["storage"]
    with pytest.raises(ApiException) as shrink:
        core.patch_namespaced_persistent_volume_claim(
            name, ns, {"spec": {"resources": {"requests": {"storage": "1Mi"}}}}
        )
    assert shrink.value.status == 422
    core.patch_namespaced_persistent_volume_claim(
        name, ns, {"spec": {"resources": {"requests": {"storage": "900Gi"}}}}
    )
    grown = core.read_namespaced_persistent_volume_claim(name, ns)
    assert grown.status.capacity["storage"] == "900Gi" != size


def test_faults_are_served_once_and_logs_are_text(api, sim: SimulatedCluster) -> None:
    apps, core = AppsV1Api(api), CoreV1Api(api)
    sim.cluster.faults.append(Fault(code=500, verb="get", resource="deployments", times=1))
    with pytest.raises(ApiException) as failed:
        apps.read_namespaced_deployment("checkout-api", NS)
    assert failed.value.status == 500
    assert apps.read_namespaced_deployment("checkout-api", NS).metadata.name == "checkout-api"
    sim.cluster.faults.append(Fault(code=429, verb="patch", resource="deployments", retry_after=3))
    with pytest.raises(ApiException) as throttled:
        apps.patch_namespaced_deployment("checkout-api", NS, {"metadata": {"labels": {"x": "y"}}})
    assert throttled.value.status == 429 and throttled.value.headers["Retry-After"] == "3"
    pod = ready_pods(core, "checkout-api")[0]
    assert "simulated log line" in core.read_namespaced_pod_log(pod, NS)


def test_a_write_to_a_collection_or_a_create_on_an_object_answers_405(
    sim: SimulatedCluster,
) -> None:
    for method, path in [
        ("PATCH", f"/api/v1/namespaces/{NS}/pods"),
        ("PUT", f"/api/v1/namespaces/{NS}/pods"),
        ("DELETE", "/apis/apps/v1/deployments"),
        ("POST", f"/apis/apps/v1/namespaces/{NS}/deployments/checkout-api"),
    ]:
        request = urllib.request.Request(
            sim.url + path,
            data=b'{"metadata": {"labels": {"x": "y"}}}',
            method=method,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        with refused.value as answer:
            status = json.loads(answer.read())
        assert answer.code == 405, (method, path, status)
        assert status["reason"] == "MethodNotAllowed" and method in status["message"]
    assert sim.cluster.audit == []  # nothing was written
