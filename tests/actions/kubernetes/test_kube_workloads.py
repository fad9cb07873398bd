"""Deployments, StatefulSets and HPAs: scale (never against an HPA), rollout restart, rollback,
increase_resources and update_hpa, with their markers, Events, dry runs and checks."""

from __future__ import annotations

import pytest
from kubesim import MARKER, NS, app, events_about, patch_stored, pods, stored, writes

from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError
from reconciler.sim.server import SimulatedCluster

SCALE = {"namespace": NS, "name": "checkout-api", "replicas": 5}


def template(sim: SimulatedCluster, namespace: str, name: str) -> dict:
    return stored(sim, "Deployment", namespace, name)["spec"]["template"]


# -- scale ------------------------------------------------------------------------------------------
def test_scale_sets_replicas_with_the_marker_in_the_same_patch_and_an_event(act, sim) -> None:
    before = len(sim.cluster.audit)
    output = act("kubernetes.scale_deployment", SCALE)
    assert output == {
        "kind": "Deployment",
        "namespace": NS,
        "name": "checkout-api",
        "replicas": 5,
        "previous_replicas": 3,
        "changed": True,
        "dry_run": False,
        "marker": "exec-1/step/1",
        "event": output["event"],
    }
    deployment = stored(sim, "Deployment", NS, "checkout-api")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    assert len(pods(sim, NS, app("checkout-api"))) == 5
    (patch,) = writes(sim.cluster.audit[before:], "patch", "deployments")
    assert patch["body"]["spec"] == {"replicas": 5}
    assert patch["body"]["metadata"]["annotations"] == {MARKER: "exec-1/step/1"}
    assert patch["body"]["metadata"]["resourceVersion"]  # written only over what was read
    (event,) = events_about(sim, "checkout-api")
    assert event["metadata"]["name"] == output["event"] and event["metadata"]["namespace"] == NS
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["involvedObject"]["uid"] == deployment["metadata"]["uid"]
    assert event["reason"] == "ReconcilerScaled" and event["type"] == "Normal"
    assert event["source"] == {"component": "reconciler"}
    assert "scaled from 3 to 5 replicas" in event["message"]
    assert "execution exec-1" in event["message"] and "step step" in event["message"]


def test_scale_in_dry_run_is_sent_as_a_server_side_dry_run_and_changes_nothing(act, sim) -> None:
    before = len(sim.cluster.audit)
    output = act("kubernetes.scale_deployment", SCALE, dry_run=True)
    assert output["dry_run"] is True and output["event"] is None and output["replicas"] == 5
    entries = sim.cluster.audit[before:]
    assert [(e["verb"], e["resource"], e["dry_run"]) for e in entries] == [
        ("patch", "deployments", True)
    ]
    deployment = stored(sim, "Deployment", NS, "checkout-api")
    assert (
        deployment["spec"]["replicas"] == 3 and MARKER not in deployment["metadata"]["annotations"]
    )
    assert events_about(sim, "checkout-api") == []


def test_scale_refuses_a_workload_an_hpa_scales_and_names_the_hpa(act, sim) -> None:
    hpa = stored(sim, "HorizontalPodAutoscaler", NS, "storefront")
    target = hpa["spec"]["scaleTargetRef"]["name"]
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError) as refused:
        act("kubernetes.scale_deployment", {"namespace": NS, "name": target, "replicas": 9})
    message = str(refused.value)
    assert f"HorizontalPodAutoscaler {NS}/storefront" in message
    assert "kubernetes.update_hpa" in message
    assert sim.cluster.audit[before:] == []


def test_scale_statefulset(act, sim) -> None:
    output = act(
        "kubernetes.scale_statefulset",
        {"namespace": "prod-data", "name": "postgres", "replicas": 2},
    )
    assert output["previous_replicas"] == 1 and output["kind"] == "StatefulSet"
    statefulset = stored(sim, "StatefulSet", "prod-data", "postgres")
    assert statefulset["spec"]["replicas"] == 2
    assert statefulset["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    (event,) = events_about(sim, "postgres")
    assert (
        event["involvedObject"]["kind"] == "StatefulSet" and event["reason"] == "ReconcilerScaled"
    )
    assert {p["metadata"]["name"] for p in pods(sim, "prod-data")} >= {"postgres-0", "postgres-1"}


def test_scale_of_a_missing_deployment_is_permanent(act) -> None:
    with pytest.raises(PermanentError, match="Deployment prod-checkout/nope not found"):
        act("kubernetes.scale_deployment", {**SCALE, "name": "nope"})


def test_an_ignored_object_is_refused_and_left_alone(act, sim) -> None:
    patch_stored(
        sim,
        "Deployment",
        NS,
        "checkout-api",
        {"metadata": {"annotations": {"reconciler.dev/ignore": "true"}}},
    )
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match=r"refused: Deployment prod-checkout/checkout-api has"):
        act("kubernetes.scale_deployment", SCALE)
    with pytest.raises(PermanentError, match=r"reconciler\.dev/ignore"):
        act("kubernetes.restart_deployment", {"namespace": NS, "name": "checkout-api"})
    assert sim.cluster.audit[before:] == []


def test_the_same_call_run_again_changes_nothing_more_and_records_its_event_once(act, sim) -> None:
    first = act("kubernetes.scale_deployment", SCALE)
    again = act("kubernetes.scale_deployment", SCALE)  # same execution, step and attempt
    assert again["changed"] is False and again["event"] == first["event"]
    assert len(events_about(sim, "checkout-api")) == 1


def test_after_a_crash_check_tells_whether_the_scale_landed(act, check, sim) -> None:
    assert check("kubernetes.scale_deployment", SCALE) is CheckResult.NOT_DONE
    act("kubernetes.scale_deployment", SCALE)
    # The engine crashed before recording the step: on resume, the marker answers.
    assert check("kubernetes.scale_deployment", SCALE) is CheckResult.DONE
    assert check("kubernetes.scale_deployment", SCALE, execution="exec-2") is CheckResult.NOT_DONE
    assert check("kubernetes.scale_deployment", {**SCALE, "name": "nope"}) is CheckResult.UNKNOWN


# -- restart ----------------------------------------------------------------------------------------
def test_restart_sets_restarted_at_on_the_pod_template(act, sim) -> None:
    old = {p["metadata"]["name"] for p in pods(sim, NS, app("checkout-api"))}
    output = act("kubernetes.restart_deployment", {"namespace": NS, "name": "checkout-api"})
    annotations = template(sim, NS, "checkout-api")["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == output["restarted_at"]
    assert stored(sim, "Deployment", NS, "checkout-api")["metadata"]["annotations"][MARKER]
    assert not old & {p["metadata"]["name"] for p in pods(sim, NS, app("checkout-api"))}
    (event,) = events_about(sim, "checkout-api")
    assert event["reason"] == "ReconcilerRestarted"


def test_restart_refuses_a_paused_deployment(act, sim) -> None:
    patch_stored(sim, "Deployment", NS, "checkout-api", {"spec": {"paused": True}})
    with pytest.raises(PermanentError, match="is paused"):
        act("kubernetes.restart_deployment", {"namespace": NS, "name": "checkout-api"})


# -- rollback ---------------------------------------------------------------------------------------
def test_rollback_restores_the_previous_revisions_template(act, sim, check) -> None:
    params = {"namespace": "prod-catalog", "name": "catalog-api"}
    output = act("kubernetes.rollback_deployment", params)
    assert (output["previous_revision"], output["revision"]) == (5, 4)
    image = "registry.example.com/shop/catalog-api:5.1.4"
    assert output["images"] == {"catalog-api": image}
    restored = template(sim, "prod-catalog", "catalog-api")
    assert restored["spec"]["containers"][0]["image"] == image
    assert "pod-template-hash" not in restored["metadata"]["labels"]
    assert check("kubernetes.rollback_deployment", params) is CheckResult.DONE
    (event,) = events_about(sim, "catalog-api")
    assert "rolled back from revision 5 to revision 4" in event["message"]


def test_rollback_to_a_named_revision_and_to_one_that_is_not_kept(act, sim) -> None:
    params = {"namespace": NS, "name": "payment-gateway"}
    output = act("kubernetes.rollback_deployment", {**params, "to_revision": 11})
    assert output["revision"] == 11 and output["changed"] is True
    image = template(sim, NS, "payment-gateway")["spec"]["containers"][0]["image"]
    assert image.endswith(":2.8.1")
    with pytest.raises(PermanentError, match=r"no revision 3 to roll back to \(revisions kept: "):
        act("kubernetes.rollback_deployment", {**params, "to_revision": 3}, step="again")


def test_rollback_without_history_is_permanent(act) -> None:
    with pytest.raises(PermanentError, match="has no revision before 4"):
        act("kubernetes.rollback_deployment", {"namespace": NS, "name": "checkout-api"})


# -- increase_resources -----------------------------------------------------------------------------
def test_increase_resources_multiplies_requests_and_limits_within_the_caps(act, sim) -> None:
    output = act(
        "kubernetes.increase_resources",
        {"namespace": NS, "name": "checkout-api", "factor": 1.5, "max_memory": "700Mi"},
    )
    (container,) = template(sim, NS, "checkout-api")["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "375m", "memory": "576Mi"},
        "limits": {"cpu": "1500m", "memory": "700Mi"},
    }
    assert container["ports"]  # a strategic merge by container name: the rest stays
    report = output["containers"]["checkout-api"]
    assert report["previous_limits"] == {"memory": "512Mi", "cpu": "1"}
    (event,) = events_about(sim, "checkout-api")
    assert "memory limit 512Mi -> 700Mi" in event["message"]


def test_increase_resources_sets_an_explicit_limit_but_never_lowers_one(act, sim) -> None:
    params = {"namespace": NS, "name": "checkout-api", "memory": "1Gi"}
    act("kubernetes.increase_resources", params)
    limits = template(sim, NS, "checkout-api")["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"memory": "1Gi", "cpu": "1"}
    with pytest.raises(PermanentError, match="only raises"):
        act("kubernetes.increase_resources", {**params, "memory": "256Mi"}, step="lower")
    again = act("kubernetes.increase_resources", params, step="same")
    assert again["changed"] is False


def test_increase_resources_at_its_ceiling_or_for_an_unknown_container_is_permanent(act) -> None:
    base = {"namespace": NS, "name": "checkout-api", "factor": 2.0}
    with pytest.raises(PermanentError, match="nothing to raise"):
        act("kubernetes.increase_resources", {**base, "max_memory": "384Mi", "max_cpu": "250m"})
    with pytest.raises(
        PermanentError, match=r"has no container 'sidecar' \(it has: checkout-api\)"
    ):
        act("kubernetes.increase_resources", {**base, "container": "sidecar"})


def test_increase_resources_check_after_a_crash(act, check) -> None:
    params = {"namespace": NS, "name": "checkout-api", "factor": 1.5}
    assert check("kubernetes.increase_resources", params) is CheckResult.NOT_DONE
    act("kubernetes.increase_resources", params)
    assert check("kubernetes.increase_resources", params) is CheckResult.DONE


# -- update_hpa -------------------------------------------------------------------------------------
def test_update_hpa_changes_its_bounds_and_the_workload_follows(act, sim, check) -> None:
    params = {"namespace": NS, "name": "storefront", "max_replicas": 8, "min_replicas": 6}
    output = act("kubernetes.update_hpa", params)
    assert (output["previous_min_replicas"], output["previous_max_replicas"]) == (2, 4)
    hpa = stored(sim, "HorizontalPodAutoscaler", NS, "storefront")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (6, 8)
    assert stored(sim, "Deployment", NS, "storefront")["spec"]["replicas"] == 6
    assert check("kubernetes.update_hpa", params) is CheckResult.DONE
    (event,) = events_about(sim, "storefront")
    assert event["reason"] == "ReconcilerUpdatedHPA" and "2..4 to 6..8" in event["message"]


def test_update_hpa_refuses_a_minimum_above_the_maximum(act, sim) -> None:
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match="minReplicas 5 above maxReplicas 4"):
        act("kubernetes.update_hpa", {"namespace": NS, "name": "storefront", "min_replicas": 5})
    assert sim.cluster.audit[before:] == []
