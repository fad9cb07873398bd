"""The kinds the simulated cluster serves: where each lives in the REST API, and its list kind.

One table, read by the server (to route a path) and the cluster (to key objects)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES = (
    Resource("Namespace", "", "v1", "namespaces", namespaced=False),
    Resource("Node", "", "v1", "nodes", namespaced=False),
    Resource("Pod", "", "v1", "pods", namespaced=True),
    Resource("Event", "", "v1", "events", namespaced=True),
    Resource("ConfigMap", "", "v1", "configmaps", namespaced=True),
    Resource("Service", "", "v1", "services", namespaced=True),
    Resource("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", namespaced=True),
    Resource("Deployment", "apps", "v1", "deployments", namespaced=True),
    Resource("ReplicaSet", "apps", "v1", "replicasets", namespaced=True),
    Resource("StatefulSet", "apps", "v1", "statefulsets", namespaced=True),
    Resource("DaemonSet", "apps", "v1", "daemonsets", namespaced=True),
    Resource("Job", "batch", "v1", "jobs", namespaced=True),
    Resource(
        "HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", namespaced=True
    ),
    Resource("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", namespaced=True),
    Resource("StorageClass", "storage.k8s.io", "v1", "storageclasses", namespaced=False),
)

BY_KIND = {r.kind: r for r in RESOURCES}
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
SCALABLE = {"deployments", "statefulsets", "replicasets"}


def of_object(obj: dict[str, object]) -> Resource | None:
    """The resource of a manifest, if the simulator serves its kind and version."""
    resource = BY_KIND.get(str(obj.get("kind", "")))
    if resource is None or obj.get("apiVersion") != resource.api_version:
        return None
    return resource
