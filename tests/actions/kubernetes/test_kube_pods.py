"""Pods: delete_pod (marked, then deleted with a uid precondition; its controller replaces it)
and quarantine_pod (relabelled out of its Service and controller, kept running)."""

from __future__ import annotations

import pytest
from kubesim import MARKER, NS, app, create_stored, events_about, patch_stored, pods, stored, writes

from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError


def a_pod(sim, name: str = "checkout-api") -> str:
    return sorted(p["metadata"]["name"] for p in pods(sim, NS, app(name)))[0]


def test_delete_pod_marks_then_deletes_it_and_its_replicaset_replaces_it(act, sim, check) -> None:
    victim = a_pod(sim)
    uid = stored(sim, "Pod", NS, victim)["metadata"]["uid"]
    before = len(sim.cluster.audit)
    params = {"namespace": NS, "name": victim, "grace_period_seconds": 5}
    output = act("kubernetes.delete_pod", params)
    assert output["owner"]["kind"] == "ReplicaSet" and output["grace_period_seconds"] == 5
    entries = sim.cluster.audit[before:]
    assert [(e["verb"], e["resource"]) for e in entries] == [
        ("patch", "pods"),
        ("delete", "pods"),
        ("create", "events"),
    ]
    assert entries[0]["body"]["metadata"]["annotations"] == {MARKER: "exec-1/step/1"}
    assert entries[1]["body"] == {"preconditions": {"uid": uid}, "gracePeriodSeconds": 5}
    remaining = {p["metadata"]["name"] for p in pods(sim, NS, app("checkout-api"))}
    assert victim not in remaining and len(remaining) == 3
    (event,) = events_about(sim, victim)
    assert event["reason"] == "ReconcilerDeletedPod"
    assert check("kubernetes.delete_pod", params) is CheckResult.DONE


def test_delete_pod_in_dry_run_keeps_the_pod(act, sim) -> None:
    victim = a_pod(sim)
    before = len(sim.cluster.audit)
    output = act("kubernetes.delete_pod", {"namespace": NS, "name": victim}, dry_run=True)
    assert output["dry_run"] is True and output["event"] is None
    assert [(e["verb"], e["dry_run"]) for e in sim.cluster.audit[before:]] == [
        ("patch", True),
        ("delete", True),
    ]
    assert MARKER not in (stored(sim, "Pod", NS, victim)["metadata"].get("annotations") or {})


def test_delete_pod_refuses_a_pod_nothing_would_start_again(act, sim, check) -> None:
    create_stored(
        sim,
        "Pod",
        NS,
        {
            "metadata": {"name": "debug"},
            "spec": {"containers": [{"name": "sh", "image": "busybox"}]},
        },
    )
    with pytest.raises(PermanentError, match="has no controller"):
        act("kubernetes.delete_pod", {"namespace": NS, "name": "debug"})
    assert stored(sim, "Pod", NS, "debug")
    assert (
        check("kubernetes.delete_pod", {"namespace": NS, "name": "debug"}) is CheckResult.NOT_DONE
    )


def test_quarantine_removes_the_owners_selector_labels_and_marks_the_pod(act, sim, check) -> None:
    victim = "orders-worker-84c6d9f7b8-tn5vw"
    params = {"namespace": NS, "name": victim}
    labels = stored(sim, "Pod", NS, victim)["metadata"]["labels"]
    output = act("kubernetes.quarantine_pod", params)
    assert output["removed_labels"] == {
        "app.kubernetes.io/name": labels["app.kubernetes.io/name"],
        "pod-template-hash": labels["pod-template-hash"],
    }
    now = stored(sim, "Pod", NS, victim)["metadata"]
    assert now["labels"]["reconciler.dev/quarantined"] == "true"
    assert (
        "app.kubernetes.io/name" not in now["labels"] and "pod-template-hash" not in now["labels"]
    )
    assert now["labels"]["app.kubernetes.io/part-of"] == "shop"  # not a selector label
    assert now["annotations"][MARKER] == "exec-1/step/1"
    (event,) = events_about(sim, victim)
    assert event["reason"] == "ReconcilerQuarantined"
    assert check("kubernetes.quarantine_pod", params) is CheckResult.DONE
    again = act("kubernetes.quarantine_pod", params, step="again")
    assert again["changed"] is False and again["removed_labels"] == {}


def test_quarantine_with_labels_that_select_nothing_is_an_error(act, sim) -> None:
    victim = a_pod(sim)
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match="none of the labels to remove"):
        act(
            "kubernetes.quarantine_pod",
            {"namespace": NS, "name": victim, "remove_labels": ["app", "tier"]},
        )
    assert writes(sim.cluster.audit[before:], "patch", "pods") == []


def test_quarantine_of_an_ignored_pod_is_refused(act, sim) -> None:
    victim = a_pod(sim)
    patch_stored(
        sim, "Pod", NS, victim, {"metadata": {"annotations": {"reconciler.dev/ignore": "true"}}}
    )
    with pytest.raises(PermanentError, match=r"reconciler\.dev/ignore"):
        act("kubernetes.quarantine_pod", {"namespace": NS, "name": victim})
    assert "reconciler.dev/quarantined" not in stored(sim, "Pod", NS, victim)["metadata"]["labels"]
