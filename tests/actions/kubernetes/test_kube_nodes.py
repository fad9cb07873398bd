"""Nodes: cordon, uncordon and drain (Eviction API, PodDisruptionBudgets respected until the
deadline, DELETE only with force, DaemonSet and mirror pods left, dry run, check)."""

from __future__ import annotations

import time

import pytest
from kubesim import MARKER, NS, app, create_stored, events_about, pods, ready, stored, writes

from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError, TemporaryError

DOWN = "ip-10-20-3-42.eu-west-1.compute.internal"  # NotReady; runs the recommendations pods
SPARE = "ip-10-20-1-88.eu-west-1.compute.internal"


def on(sim, node: str) -> list[str]:
    return sorted(
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in pods(sim)
        if p["spec"].get("nodeName") == node
    )


def pod_on(sim, node: str, name: str, **metadata: object) -> None:
    create_stored(
        sim,
        "Pod",
        NS,
        {
            "metadata": {"name": name, **metadata},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
        },
    )


def owned_by(kind: str, name: str) -> dict[str, object]:
    reference = {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": f"uid-{name}"}
    return {"ownerReferences": [{**reference, "controller": True}]}


def test_cordon_and_uncordon_mark_the_node_with_an_event_in_default(act, sim, check) -> None:
    output = act("kubernetes.cordon_node", {"name": SPARE})
    assert output == {
        "kind": "Node",
        "name": SPARE,
        "unschedulable": True,
        "changed": True,
        "dry_run": False,
        "marker": "exec-1/step/1",
        "event": output["event"],
    }
    node = stored(sim, "Node", None, SPARE)
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    (event,) = events_about(sim, SPARE)
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"]["kind"] == "Node" and "namespace" not in event["involvedObject"]
    assert event["reason"] == "ReconcilerCordoned"
    assert check("kubernetes.cordon_node", {"name": SPARE}) is CheckResult.DONE
    back = act("kubernetes.uncordon_node", {"name": SPARE}, step="uncordon")
    assert back["unschedulable"] is False and back["changed"] is True
    assert stored(sim, "Node", None, SPARE)["spec"]["unschedulable"] is False
    reasons = sorted(e["reason"] for e in events_about(sim, SPARE))
    assert reasons == ["ReconcilerCordoned", "ReconcilerUncordoned"]
    assert (
        stored(sim, "Node", None, SPARE)["metadata"]["annotations"][MARKER] == "exec-1/uncordon/1"
    )


def test_cordon_of_a_missing_node_is_permanent(act) -> None:
    with pytest.raises(PermanentError, match=r"^Node nope not found$"):
        act("kubernetes.cordon_node", {"name": "nope"})


def test_drain_cordons_and_evicts_every_pod_which_starts_elsewhere(act, sim, check) -> None:
    leaving = on(sim, DOWN)
    assert leaving, "the fixture runs pods on the NotReady node"
    before = len(sim.cluster.audit)
    params = {"name": DOWN, "timeout": "2s"}
    output = act("kubernetes.drain_node", params)
    assert sorted(output["evicted"]) == leaving and output["forced"] == []
    assert output["skipped"] == [] and output["blocked"] == []
    assert on(sim, DOWN) == []
    assert len(pods(sim, "prod-catalog", app("recommendations"))) == 2
    node = stored(sim, "Node", None, DOWN)
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    entries = sim.cluster.audit[before:]
    assert len(writes(entries, "evict", "pods")) == len(leaving)
    assert writes(entries, "delete", "pods") == []  # evicted, never deleted
    (event,) = events_about(sim, DOWN)
    assert (
        event["reason"] == "ReconcilerDrained"
        and f"{len(leaving)} pods evicted" in event["message"]
    )
    assert check("kubernetes.drain_node", params) is CheckResult.DONE


def test_a_pod_its_budget_protects_blocks_the_drain_until_the_deadline(act, sim, check) -> None:
    budget = stored(sim, "PodDisruptionBudget", NS, "payment-gateway")
    assert budget["status"]["disruptionsAllowed"] == 0  # one of its pods crash-loops
    protected = next(p for p in pods(sim, NS, app("payment-gateway")) if ready(p))
    node = protected["spec"]["nodeName"]
    key = f"{NS}/{protected['metadata']['name']}"
    before, started = len(sim.cluster.audit), time.monotonic()
    params = {"name": node, "timeout": "2s"}
    with pytest.raises(TemporaryError) as incomplete:
        act("kubernetes.drain_node", params)
    assert time.monotonic() - started >= 2.0
    message = str(incomplete.value)
    assert "not drained after 2s" in message and key in message and "PodDisruptionBudget" in message
    entries = sim.cluster.audit[before:]
    attempts = [
        e for e in writes(entries, "evict", "pods") if f"{e['namespace']}/{e['name']}" == key
    ]
    assert len(attempts) >= 2  # tried again until the deadline
    assert writes(entries, "delete", "pods") == []  # no force: never deleted
    assert on(sim, node) == [key] and stored(sim, "Node", None, node)["spec"]["unschedulable"]
    (event,) = events_about(sim, node)
    assert "incomplete: 1 pods remain" in event["message"]
    assert check("kubernetes.drain_node", params) is CheckResult.NOT_DONE


def test_with_force_a_pod_still_blocked_at_the_deadline_is_deleted(act, sim) -> None:
    protected = next(p for p in pods(sim, NS, app("payment-gateway")) if ready(p))
    node, name = protected["spec"]["nodeName"], protected["metadata"]["name"]
    before = len(sim.cluster.audit)
    output = act("kubernetes.drain_node", {"name": node, "timeout": "500ms", "force": True})
    assert output["forced"] == [f"{NS}/{name}"] and f"{NS}/{name}" not in output["evicted"]
    deleted = writes(sim.cluster.audit[before:], "delete", "pods")
    assert [(e["namespace"], e["name"]) for e in deleted] == [(NS, name)]
    assert on(sim, node) == []


def test_drain_leaves_daemonset_and_mirror_pods(act, sim) -> None:
    pod_on(sim, DOWN, "fluent-bit-x1", **owned_by("DaemonSet", "fluent-bit"))
    pod_on(
        sim,
        DOWN,
        "kube-proxy-static",
        annotations={"kubernetes.io/config.mirror": "abc"},
        ownerReferences=[
            {"apiVersion": "v1", "kind": "Node", "name": DOWN, "uid": "n", "controller": True}
        ],
    )
    output = act("kubernetes.drain_node", {"name": DOWN, "timeout": "2s"})
    reasons = {s["pod"]: s["reason"] for s in output["skipped"]}
    assert reasons[f"{NS}/fluent-bit-x1"].startswith("DaemonSet pod")
    assert reasons[f"{NS}/kube-proxy-static"].startswith("mirror pod")
    assert on(sim, DOWN) == [f"{NS}/fluent-bit-x1", f"{NS}/kube-proxy-static"]


def test_drain_refuses_before_changing_anything_when_a_pod_cannot_go(act, sim) -> None:
    pod_on(sim, SPARE, "debug")
    pod_on(
        sim,
        DOWN,
        "cache-0",
        **owned_by("ReplicaSet", "cache"),
    )
    with sim.cluster.lock:
        cache = next(p for p in sim.cluster.items("Pod", NS) if p["metadata"]["name"] == "cache-0")
        cache["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match="debug has no controller"):
        act("kubernetes.drain_node", {"name": SPARE})
    with pytest.raises(PermanentError, match="cache-0 has emptyDir volumes"):
        act("kubernetes.drain_node", {"name": DOWN})
    assert sim.cluster.audit[before:] == []
    output = act(
        "kubernetes.drain_node", {"name": DOWN, "delete_emptydir_data": True, "timeout": "2s"}
    )
    assert f"{NS}/cache-0" in output["evicted"]


def test_drain_in_dry_run_sends_every_call_as_a_dry_run_and_waits_for_nothing(act, sim) -> None:
    leaving = on(sim, DOWN)
    before = len(sim.cluster.audit)
    output = act("kubernetes.drain_node", {"name": DOWN}, dry_run=True)  # the default 5m deadline
    assert output["dry_run"] is True and output["event"] is None
    assert sorted(output["evicted"]) == leaving
    entries = sim.cluster.audit[before:]
    assert entries and all(e["dry_run"] for e in entries)
    assert on(sim, DOWN) == leaving
    assert not stored(sim, "Node", None, DOWN)["spec"].get("unschedulable")
    assert events_about(sim, DOWN) == []
