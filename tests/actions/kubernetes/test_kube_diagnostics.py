"""collect_diagnostics: describe-like state, owners, pods, events and logs; size-limited and
redacted."""

from __future__ import annotations

import json

import pytest
from kubesim import NS, app, create_stored, patch_stored, pods, ready

from reconciler.actions.kubeops.redaction import REDACTED
from reconciler.errors import PermanentError

LOG = "sim.reconciler.dev/log"  # the simulator answers a pod's log with this annotation


def crashing_pod(sim) -> dict:
    return next(p for p in pods(sim, NS, app("payment-gateway")) if not ready(p))


def test_a_pods_diagnostics_hold_its_state_owners_events_and_log(act, sim) -> None:
    pod = crashing_pod(sim)
    name = pod["metadata"]["name"]
    lines = [f"line {i}: connecting to db" for i in range(20)]
    lines.append("panic: Authorization: Bearer s3cr3t.t0ken")
    patch_stored(sim, "Pod", NS, name, {"metadata": {"annotations": {LOG: "\n".join(lines)}}})
    create_stored(
        sim,
        "Event",
        NS,
        {
            "metadata": {"name": f"{name}.1"},
            "involvedObject": {"kind": "Pod", "name": name, "namespace": NS},
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "type": "Warning",
            "lastTimestamp": "2025-11-21T09:38:00Z",
        },
    )
    output = act(
        "kubernetes.collect_diagnostics", {"namespace": NS, "name": name, "previous": True}
    )
    assert output["object"]["metadata"]["name"] == name
    assert "Ready=False" in " ".join(output["conditions"])
    assert [o["kind"] for o in output["owners"]] == ["ReplicaSet", "Deployment"]
    assert output["owners"][1]["name"] == "payment-gateway"
    (summary,) = output["pods"]
    assert summary["ready"] is False and summary["containers"][0]["reason"] == "CrashLoopBackOff"
    assert [(e["reason"], e["type"]) for e in output["events"]] == [("BackOff", "Warning")]
    (log,) = output["logs"]
    assert log["container"] == "payment-gateway" and log["previous"] is True
    assert log["text"].startswith("line 0") and log["truncated"] is False
    assert "s3cr3t" not in log["text"] and "Bearer ***" in log["text"]


def test_diagnostics_stay_within_max_bytes_keeping_the_end_of_each_log(act, sim) -> None:
    pod = crashing_pod(sim)
    text = "\n".join(f"{i:06d} " + "x" * 90 for i in range(2000)) + "\nthe last line"
    patch_stored(
        sim, "Pod", NS, pod["metadata"]["name"], {"metadata": {"annotations": {LOG: text}}}
    )
    output = act(
        "kubernetes.collect_diagnostics",
        {"namespace": NS, "name": pod["metadata"]["name"], "max_bytes": 8192},
    )
    assert len(json.dumps(output).encode()) <= 8192
    (log,) = output["logs"]
    assert log["truncated"] is True and output["truncated"] is True
    assert log["text"].endswith("the last line") and log["text"][0].isdigit()  # whole lines


def test_secret_values_are_redacted_and_secret_references_kept_unresolved(act, sim) -> None:
    pod = crashing_pod(sim)
    container = {
        "name": "payment-gateway",
        "image": "registry.example.com/shop/payment-gateway:2.9.0",
        "env": [
            {"name": "STRIPE_API_KEY", "value": "sk_live_123"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "REGION", "value": "eu-west-1"},
        ],
    }
    patch_stored(
        sim,
        "Pod",
        NS,
        pod["metadata"]["name"],
        {
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "sk_live_123"}
            },
            "spec": {"containers": [container]},
        },
    )
    before = len(sim.cluster.audit)
    output = act(
        "kubernetes.collect_diagnostics",
        {"namespace": NS, "name": pod["metadata"]["name"], "include_logs": False},
    )
    assert "sk_live_123" not in json.dumps(output)
    env = output["object"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "STRIPE_API_KEY", "value": REDACTED}
    assert env[1] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}},
    }
    assert env[2]["value"] == "eu-west-1"
    assert output["logs"] == [] and sim.cluster.audit[before:] == []  # reads only


def test_a_deployments_diagnostics_list_its_pods_troubled_first(act, sim) -> None:
    output = act(
        "kubernetes.collect_diagnostics",
        {"kind": "Deployment", "namespace": NS, "name": "orders-worker", "include_logs": False},
    )
    assert output["owners"] == [] and output["pod_count"] == 2
    assert [p["ready"] for p in output["pods"]] == [False, True]
    assert any(
        c.startswith("Available=False (MinimumReplicasUnavailable)") for c in output["conditions"]
    )


def test_a_nodes_diagnostics_hold_its_pods_and_its_events(act, sim) -> None:
    node = "ip-10-20-3-42.eu-west-1.compute.internal"
    act("kubernetes.cordon_node", {"name": node})
    output = act(
        "kubernetes.collect_diagnostics", {"kind": "Node", "name": node, "include_logs": False}
    )
    assert {p["name"][: len("recommendations")] for p in output["pods"]} == {"recommendations"}
    assert [e["reason"] for e in output["events"]] == ["ReconcilerCordoned"]
    assert (
        "Ready=Unknown (NodeStatusUnknown): Kubelet stopped posting node status."
        in output["conditions"]
    )


def test_diagnostics_of_a_kind_not_granted_or_a_missing_object_fail(act) -> None:
    with pytest.raises(PermanentError, match="cannot get ConfigMap"):
        act("kubernetes.collect_diagnostics", {"kind": "ConfigMap", "namespace": NS, "name": "x"})
    with pytest.raises(PermanentError, match=r"^Pod prod-checkout/nope not found$"):
        act("kubernetes.collect_diagnostics", {"namespace": NS, "name": "nope"})
