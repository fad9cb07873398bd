"""The simulated cluster's state as expressions see it: ``expect.cluster`` of a WorkflowTest
(every collection, plus ``objects``) and the ``cluster`` of Guardrail rules (a subset).

Collections are lists of raw objects; ``objects.<collection>`` maps ``namespace/name`` (``name``
for cluster-scoped kinds) to the object, e.g. ``objects.deployments["prod/web"]``."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.sim.cluster import Cluster

COLLECTIONS = {
    "pods": "Pod",
    "nodes": "Node",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "jobs": "Job",
    "hpas": "HorizontalPodAutoscaler",
    "pvcs": "PersistentVolumeClaim",
    "pdbs": "PodDisruptionBudget",
    "services": "Service",
    "configmaps": "ConfigMap",
    "events": "Event",
    "namespaces": "Namespace",
}


def collections(cluster: Cluster, names: tuple[str, ...] | None = None) -> dict[str, list[Any]]:
    with cluster.lock:
        return {
            name: copy.deepcopy(cluster.items(kind))
            for name, kind in COLLECTIONS.items()
            if names is None or name in names
        }


def state(cluster: Cluster) -> dict[str, Any]:
    """Every collection, and ``objects`` keyed by ``namespace/name``."""
    lists = collections(cluster)
    objects = {name: {_key(obj): obj for obj in items} for name, items in lists.items()}
    return {**lists, "objects": objects}


def _key(obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


class SimulatedView:
    """A Guardrail rules' ``cluster`` view of a simulated cluster (read at each evaluation)."""

    def __init__(self, cluster: Cluster, names: tuple[str, ...]) -> None:
        self.cluster = cluster
        self.names = names

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return collections(self.cluster, self.names)
