"""What kubectl relies on, through the official client: dry runs sent in the body, discovery
(``pods/eviction``, short names), server-side tables, garbage collection, a rollback's template
(``creationTimestamp: null``), watches and the OpenAPI index."""

from __future__ import annotations

import json
import threading
from typing import Any

import kubernetes
import pytest
from kubernetes.client import AppsV1Api, CoreV1Api, V1DeleteOptions
from kubernetes.client.exceptions import ApiException

from reconciler.sim.server import SimulatedCluster

NS = "prod-checkout"
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1"


def raw(api: kubernetes.client.ApiClient, path: str, accept: str = "application/json") -> Any:
    """A GET through the official client's transport, answered as a plain dict."""
    response = api.call_api("GET", api.configuration.host + path, header_params={"Accept": accept})
    response.read()
    if response.status >= 400:
        raise ApiException(http_resp=response)
    return json.loads(response.data)


def pods_of(core: CoreV1Api, app: str) -> list[str]:
    selector = f"app.kubernetes.io/name={app}"
    return sorted(
        p.metadata.name for p in core.list_namespaced_pod(NS, label_selector=selector).items
    )


def test_a_dry_run_in_the_delete_options_body_deletes_nothing(api, sim: SimulatedCluster) -> None:
    core = CoreV1Api(api)
    pod = pods_of(core, "checkout-api")[0]
    core.delete_namespaced_pod(pod, NS, body=V1DeleteOptions(dry_run=["All"]))
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": NS},
        "deleteOptions": {"dryRun": ["All"]},
    }
    core.create_namespaced_pod_eviction(pod, NS, eviction)
    assert pod in pods_of(core, "checkout-api")
    dry = [(e["verb"], e["dry_run"]) for e in sim.cluster.audit]
    assert dry == [("delete", True), ("evict", True)]
    core.delete_namespaced_pod(pod, NS, body=V1DeleteOptions())
    assert pod not in pods_of(core, "checkout-api")


def test_discovery_lists_eviction_and_short_names(api) -> None:
    core = {r.name: r for r in CoreV1Api(api).get_api_resources().resources}
    eviction = core["pods/eviction"]
    assert (eviction.group, eviction.version, eviction.kind) == ("policy", "v1", "Eviction")
    assert "create" in eviction.verbs and "watch" in core["pods"].verbs
    apps = {r.name: r for r in AppsV1Api(api).get_api_resources().resources}
    shorts = {name: r.short_names for name, r in {**core, **apps}.items() if r.short_names}
    assert shorts["deployments"] == ["deploy"] and shorts["replicasets"] == ["rs"]
    assert shorts["pods"] == ["po"] and shorts["nodes"] == ["no"] and shorts["namespaces"] == ["ns"]
    assert apps["deployments/scale"].kind == "Scale" and "all" in apps["deployments"].categories


def test_get_as_a_table_shows_a_crash_looping_pods_status(api) -> None:
    table = raw(api, f"/api/v1/namespaces/{NS}/pods", TABLE)
    assert table["kind"] == "Table"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        *[(name, 0) for name in ("Name", "Ready", "Status", "Restarts", "Age")],
        *[(name, 1) for name in ("IP", "Node")],  # -o wide
    ]
    rows = {row["cells"][0]: row for row in table["rows"]}
    crashing = [name for name, row in rows.items() if row["cells"][2] == "CrashLoopBackOff"]
    assert crashing and rows[crashing[0]]["cells"][1] == "0/1"
    assert rows[crashing[0]]["object"]["metadata"]["namespace"] == NS
    one = raw(api, f"/apis/apps/v1/namespaces/{NS}/deployments/checkout-api", TABLE)
    assert [c["name"] for c in one["columnDefinitions"]][:4] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
    ]
    assert one["rows"][0]["cells"][1] == "3/3"


def test_deleting_a_deployment_takes_its_replica_sets_and_pods_unless_orphaned(api) -> None:
    apps, core = AppsV1Api(api), CoreV1Api(api)
    selector = "app.kubernetes.io/name=checkout-api"
    assert apps.list_namespaced_replica_set(NS, label_selector=selector).items
    apps.delete_namespaced_deployment(
        "checkout-api", NS, body=V1DeleteOptions(propagation_policy="Background")
    )
    assert not apps.list_namespaced_replica_set(NS, label_selector=selector).items
    assert not pods_of(core, "checkout-api")
    pods = pods_of(core, "storefront")
    apps.delete_namespaced_deployment(
        "storefront", NS, body=V1DeleteOptions(propagation_policy="Orphan")
    )
    kept = apps.list_namespaced_replica_set(
        NS, label_selector="app.kubernetes.io/name=storefront"
    ).items
    assert kept and all(not rs.metadata.owner_references for rs in kept)
    assert pods_of(core, "storefront") == pods  # the orphaned ReplicaSet still keeps them


def test_deleting_a_namespace_takes_what_is_in_it(api) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    core.delete_namespace(NS)
    assert not apps.list_namespaced_deployment(NS).items
    assert not core.list_namespaced_pod(NS).items


def test_a_rollback_with_a_null_creation_timestamp_revives_the_old_replica_set(api) -> None:
    apps = AppsV1Api(api)
    selector = "app.kubernetes.io/name=payment-gateway"
    before = {
        rs.metadata.name
        for rs in apps.list_namespaced_replica_set(NS, label_selector=selector).items
    }
    current = apps.read_namespaced_deployment("payment-gateway", NS).spec.template
    older = next(
        rs
        for rs in apps.list_namespaced_replica_set(NS, label_selector=selector).items
        if rs.spec.template.spec.containers[0].image != current.spec.containers[0].image
    )
    template = api.sanitize_for_serialization(older.spec.template)
    template["metadata"].pop("creationTimestamp", None)
    template["metadata"]["creationTimestamp"] = None  # as kubectl rollout undo sends it
    del template["metadata"]["labels"]["pod-template-hash"]
    apps.patch_namespaced_deployment(
        "payment-gateway", NS, [{"op": "replace", "path": "/spec/template", "value": template}]
    )
    sets = apps.list_namespaced_replica_set(NS, label_selector=selector).items
    assert {rs.metadata.name for rs in sets} == before  # no new ReplicaSet
    (active,) = [rs for rs in sets if rs.spec.replicas]
    assert active.metadata.name == older.metadata.name


def test_a_watch_streams_changes_from_a_lists_resource_version(api) -> None:
    apps = AppsV1Api(api)
    listed = apps.list_namespaced_deployment(NS)
    apps.patch_namespaced_deployment_scale("checkout-api", NS, {"spec": {"replicas": 5}})
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(
        apps.list_namespaced_deployment,
        NS,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=30,
    ):
        seen.append(
            (event["type"], event["object"].metadata.name, event["object"].status.ready_replicas)
        )
        if seen[-1] == ("MODIFIED", "checkout-api", 5):
            watch.stop()
    assert seen[-1] == ("MODIFIED", "checkout-api", 5)
    assert {name for _, name, _ in seen} == {"checkout-api"}  # other deployments did not change


def test_a_watch_without_a_version_starts_with_what_exists_and_hears_deletions(api) -> None:
    core = CoreV1Api(api)
    pods = pods_of(core, "checkout-api")
    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        core.list_namespaced_pod,
        NS,
        label_selector="app.kubernetes.io/name=checkout-api",
        timeout_seconds=30,
    )
    added = [next(stream)["object"].metadata.name for _ in pods]
    assert sorted(added) == pods
    deleter = threading.Thread(target=core.delete_namespaced_pod, args=(pods[0], NS))
    deleter.start()
    events = []
    for event in stream:
        events.append((event["type"], event["object"].metadata.name))
        if ("DELETED", pods[0]) in events and any(t == "ADDED" for t, _ in events):
            watch.stop()
    deleter.join()
    assert ("DELETED", pods[0]) in events


def test_a_watch_ends_after_its_timeout(api) -> None:
    watch = kubernetes.watch.Watch()
    events = list(watch.stream(CoreV1Api(api).list_node, resource_version="0", timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED"] * len(events) and events


def test_the_openapi_index_declares_field_validation_on_patch(api) -> None:
    index = raw(api, "/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    document = raw(api, url.split("?")[0])
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    with pytest.raises(ApiException) as missing:
        raw(api, "/openapi/v2")
    assert missing.value.status == 404


def test_a_budget_lets_an_unready_pod_go_and_refuses_without_retry_after(api) -> None:
    core = CoreV1Api(api)

    def evict(pod: str) -> None:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod}}
        core.create_namespaced_pod_eviction(pod, NS, body)

    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=payment-gateway")
    ready = {
        p.metadata.name: any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
        for p in pods.items
    }
    crashing = [name for name, is_ready in ready.items() if not is_ready]
    assert crashing, "the fixture has a crash-looping payment-gateway pod"
    serving = [name for name, is_ready in ready.items() if is_ready]
    with pytest.raises(ApiException) as refused:  # maxUnavailable 1, and one pod is not ready
        evict(serving[0])
    # client-go retries a 429 with Retry-After inside one call; kubectl drain retries itself
    assert refused.value.status == 429 and "Retry-After" not in (refused.value.headers or {})
    evict(crashing[0])  # the budget is met by the ready pods: an unready one may go
    assert crashing[0] not in pods_of(core, "payment-gateway")


def test_a_watch_ends_when_the_server_stops(api, sim: SimulatedCluster) -> None:
    watch = kubernetes.watch.Watch()
    stream = watch.stream(CoreV1Api(api).list_node, timeout_seconds=600)
    assert next(stream)["type"] == "ADDED"  # the stream is open
    sim.stop()
    rest = list(stream)  # ends now, not after 600 seconds
    assert all(event["type"] == "ADDED" for event in rest)
