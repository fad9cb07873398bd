"""Subresources of the simulated cluster: ``scale``, ``eviction`` (PodDisruptionBudgets honoured)
and a pod's ``log``. Called by the HTTP layer with the cluster's lock held."""

from __future__ import annotations

from typing import Any

from reconciler.sim import controllers, selectors
from reconciler.sim.cluster import ApiError, Cluster, Obj
from reconciler.sim.resources import BY_KIND, SCALABLE, Resource

LOG = "sim.reconciler.dev/log"  # pod annotation: the text its log answers


def scale_of(cluster: Cluster, resource: Resource, namespace: str, name: str) -> Obj:
    if resource.plural not in SCALABLE:
        raise ApiError(
            404,
            "NotFound",
            f"the server could not find the requested resource ({resource.plural}/scale)",
        )
    workload = cluster.get(resource, namespace, name)
    labels = (workload.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    metadata = workload["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": int(workload.get("spec", {}).get("replicas", 1))},
        "status": {
            "replicas": int(workload.get("status", {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def set_scale(
    cluster: Cluster, resource: Resource, namespace: str, name: str, replicas: Any, dry_run: bool
) -> Obj:
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError(
            422,
            "Invalid",
            f"spec.replicas: Invalid value: {replicas!r}: must be greater than or equal to 0",
        )
    cluster.patch(
        resource,
        namespace,
        name,
        {"spec": {"replicas": replicas}},
        "application/merge-patch+json",
        dry_run,
    )
    scale = scale_of(cluster, resource, namespace, name)
    if dry_run:
        scale["spec"]["replicas"] = replicas
    return scale


def evict(cluster: Cluster, namespace: str, name: str, dry_run: bool) -> Obj:
    pods = BY_KIND["Pod"]
    pod = cluster.get(pods, namespace, name)
    labels = pod["metadata"].get("labels") or {}
    for pdb in cluster.items("PodDisruptionBudget", namespace):
        if _blocks(pdb, pod) and selectors.matches(pdb.get("spec", {}).get("selector"), labels):
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            )  # no Retry-After, as the API server: client-go would retry inside one call
    cluster.delete(pods, namespace, name, dry_run)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _blocks(pdb: Obj, pod: Obj) -> bool:
    """Whether a budget refuses this eviction. As the API server: a pod that is not ready may go
    while the budget is met (``unhealthyPodEvictionPolicy`` IfHealthyBudget) or always
    (AlwaysAllow); a ready one needs a disruption left."""
    status = pdb.get("status", {})
    if not controllers.ready(pod):
        policy = pdb.get("spec", {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
        healthy = int(status.get("currentHealthy", 0)) >= int(status.get("desiredHealthy", 0))
        return not (policy == "AlwaysAllow" or healthy)
    return int(status.get("disruptionsAllowed", 0)) < 1


def log_of(cluster: Cluster, namespace: str, name: str, container: str | None) -> str:
    pod = cluster.get(BY_KIND["Pod"], namespace, name)
    text = (pod["metadata"].get("annotations") or {}).get(LOG)
    if text is not None:
        return str(text)
    names = [c.get("name", "") for c in pod.get("spec", {}).get("containers", [])]
    if container is not None and container not in names:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    crashing = (pod["metadata"].get("annotations") or {}).get(controllers.CRASH) == "true"
    line = "panic: simulated crash\n" if crashing else "simulated log line\n"
    return "".join(f"{c}: {line}" for c in ([container] if container else names))
