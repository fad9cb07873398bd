"""wait_ready: ready objects answer at once; others are polled until the timeout; states no
wait can fix fail at once."""

from __future__ import annotations

import pytest
from kubesim import NS, app, create_stored, pods, ready

from reconciler.actions.kubeops import readiness
from reconciler.errors import PermanentError, TemporaryError

FAST = {"timeout": "300ms", "interval": "50ms"}


def test_ready_objects_answer_at_once(act) -> None:
    for kind, namespace, name in [
        ("Deployment", NS, "checkout-api"),
        ("StatefulSet", "prod-data", "postgres"),
        ("Node", None, "ip-10-20-1-15.eu-west-1.compute.internal"),
    ]:
        output = act(
            "kubernetes.wait_ready", {"kind": kind, "namespace": namespace, "name": name, **FAST}
        )
        assert output["ready"] is True and output["waited_seconds"] < 0.3, kind


def test_a_ready_pod_and_a_completed_job(act, sim) -> None:
    pod = next(p for p in pods(sim, NS, app("checkout-api")) if ready(p))
    params = {"kind": "Pod", "namespace": NS, "name": pod["metadata"]["name"], **FAST}
    assert act("kubernetes.wait_ready", params)["ready"] is True
    create_stored(sim, "Job", NS, job("migrate"))
    done = act("kubernetes.wait_ready", {"kind": "Job", "namespace": NS, "name": "migrate", **FAST})
    assert done["ready"] is True


def test_not_ready_within_the_timeout_is_temporary_and_says_what_is_missing(act, sim) -> None:
    crashing = next(p for p in pods(sim, NS, app("payment-gateway")) if not ready(p))
    with pytest.raises(TemporaryError, match=r"not ready after 300ms: Ready is not True"):
        act(
            "kubernetes.wait_ready",
            {"kind": "Pod", "namespace": NS, "name": crashing["metadata"]["name"], **FAST},
        )
    with pytest.raises(TemporaryError, match="not ready after 300ms"):
        act(
            "kubernetes.wait_ready",
            {"kind": "Node", "name": "ip-10-20-3-42.eu-west-1.compute.internal", **FAST},
        )


def test_a_deployment_short_of_available_replicas_is_not_ready(act) -> None:
    # orders-worker: one of its two pods lost its broker and crash-loops. (The simulator reports
    # a stuck rollout such as payment-gateway's as complete: its Deployment status counts every
    # pod as updated, so that case cannot be shown here.)
    with pytest.raises(
        TemporaryError,
        match=r"orders-worker not ready after 300ms: 1 of 2 updated replicas available",
    ):
        act(
            "kubernetes.wait_ready",
            {"kind": "Deployment", "namespace": NS, "name": "orders-worker", **FAST},
        )


def test_a_failed_job_and_a_missing_object_fail_at_once(act, sim) -> None:
    create_stored(sim, "Job", NS, job("broken", fail=True))
    with pytest.raises(PermanentError, match="Job prod-checkout/broken failed"):
        act(
            "kubernetes.wait_ready",
            {"kind": "Job", "namespace": NS, "name": "broken", "timeout": "1m"},
        )
    with pytest.raises(PermanentError, match="not found"):
        act(
            "kubernetes.wait_ready",
            {"kind": "Deployment", "namespace": NS, "name": "nope", "timeout": "1m"},
        )


def job(name: str, fail: bool = False) -> dict:
    annotations = {"sim.reconciler.dev/fail": "true"} if fail else {}
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}],
                },
            }
        },
    }


def deployment(generation: int = 3, **status: object) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "generation": generation},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 3, **status},
    }


def test_rollout_rules_on_deployment_states() -> None:
    rule = readiness.READY["Deployment"]
    assert rule(deployment(replicas=4, updatedReplicas=1, availableReplicas=3)) == (
        "1 of 3 replicas updated"
    )
    assert rule(deployment(replicas=4, updatedReplicas=3, availableReplicas=3)) == (
        "1 old replicas pending termination"
    )
    assert "has not seen generation 4" in str(rule(deployment(generation=4)))
    assert rule(deployment(replicas=3, updatedReplicas=3, availableReplicas=3)) is None
    stuck = deployment(
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    )
    with pytest.raises(PermanentError, match="exceeded its progress deadline"):
        rule(stuck)
