"""Helpers of the Kubernetes action tests: a call's context, and the simulator's state."""

from __future__ import annotations

from typing import Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.spec import ActionContext
from reconciler.sim.resources import BY_KIND
from reconciler.sim.server import SimulatedCluster

NS = "prod-checkout"
MARKER = "reconciler.dev/last-action"


def context(cluster: KubeCluster | None, **overrides: Any) -> ActionContext:
    return ActionContext(
        overrides.pop("execution", "exec-1"),
        overrides.pop("step", "step"),
        overrides.pop("attempt", 1),
        cluster=cluster,
        **overrides,
    )


def stored(sim: SimulatedCluster, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
    """The simulator's copy of an object (not through the API: no audit, no faults)."""
    with sim.cluster.lock:
        found = [o for o in sim.cluster.items(kind, namespace) if o["metadata"]["name"] == name]
    assert found, f"{kind} {namespace}/{name} is not in the simulated cluster"
    return found[0]


def events_about(sim: SimulatedCluster, name: str) -> list[dict[str, Any]]:
    with sim.cluster.lock:
        return [
            e for e in sim.cluster.items("Event") if e.get("involvedObject", {}).get("name") == name
        ]


def writes(entries: list[dict[str, Any]], verb: str, resource: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["verb"] == verb and e["resource"] == resource]


def patch_stored(
    sim: SimulatedCluster, kind: str, namespace: str | None, name: str, body: dict[str, Any]
) -> None:
    """Change an object behind the API's back (a merge patch; the controllers react)."""
    with sim.cluster.lock:
        sim.cluster.patch(BY_KIND[kind], namespace, name, body, "application/merge-patch+json")


def create_stored(
    sim: SimulatedCluster, kind: str, namespace: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    with sim.cluster.lock:
        return sim.cluster.create(BY_KIND[kind], namespace, body)


def pods(
    sim: SimulatedCluster, namespace: str | None = None, labels: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    with sim.cluster.lock:
        return [
            p
            for p in sim.cluster.items("Pod", namespace)
            if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in (labels or {}).items()
            )
        ]


def app(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )
