"""The cluster Kubernetes actions talk to: the official client's ``ApiClient`` and a name.

Built once by the service (``--cluster``) or per WorkflowTest (a simulated cluster), handed to
every action call in its :class:`~reconciler.actions.spec.ActionContext`. The client is
synchronous: :meth:`KubeCluster.run` calls it in a worker thread, so the event loop never
blocks on the network. The client is imported by the functions that build a cluster, not at
import: the commands that only read files never load it (SPEC §3).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.errors import InputError

if TYPE_CHECKING:
    import kubernetes

T = TypeVar("T")
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class KubeCluster:
    api: kubernetes.client.ApiClient
    name: str  # for status and errors: "in-cluster", "kubeconfig (context prod)", "sim:PATH"

    async def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(call, *args, **kwargs)

    def close(self) -> None:
        self.api.close()


def at_url(url: str, name: str) -> KubeCluster:
    """A cluster reached over plain HTTP without credentials (the simulated cluster)."""
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = url
    return KubeCluster(kubernetes.client.ApiClient(configuration), name)


def in_cluster() -> KubeCluster:
    import kubernetes

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_incluster_config(client_configuration=configuration)
    return KubeCluster(kubernetes.client.ApiClient(configuration), "in-cluster")


def from_kubeconfig(path: str | None = None, context: str | None = None) -> KubeCluster:
    import kubernetes

    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration
        )
        _, active = kubernetes.config.list_kube_config_contexts(config_file=path)
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise InputError(f"--cluster kubeconfig: {exc}") from exc
    return KubeCluster(
        kubernetes.client.ApiClient(configuration),
        f"kubeconfig (context {context or active.get('name', '?')})",
    )


def auto() -> KubeCluster | None:
    """In-cluster configuration if present, else a kubeconfig if one is found, else none."""
    if IN_CLUSTER_TOKEN.is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster()
    kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if any(Path(p).is_file() for p in kubeconfig.split(os.pathsep) if p):
        return from_kubeconfig()
    return None


# Guardrail rules' ``cluster`` collections and how to list each (SPEC §1.4).
_VIEW_CALLS = {
    "nodes": ("CoreV1Api", "list_node"),
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "deployments": ("AppsV1Api", "list_deployment_for_all_namespaces"),
    "statefulsets": ("AppsV1Api", "list_stateful_set_for_all_namespaces"),
    "hpas": ("AutoscalingV2Api", "list_horizontal_pod_autoscaler_for_all_namespaces"),
    "pdbs": ("PolicyV1Api", "list_pod_disruption_budget_for_all_namespaces"),
}


class ClusterView:
    """Guardrail rules' ``cluster`` view of a real cluster: one fetch of every collection per
    evaluation, kept for ``ttl`` seconds (a drain's many evictions share one)."""

    def __init__(self, cluster: KubeCluster, ttl: float = 5.0) -> None:
        self.cluster = cluster
        self.ttl = ttl
        self._fetched = -ttl
        self._objects: dict[str, list[dict[str, Any]]] = {name: [] for name in _VIEW_CALLS}

    async def refresh(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._fetched < self.ttl:
            return
        self._objects = await self.cluster.run(self._fetch)
        self._fetched = loop.time()

    def _fetch(self) -> dict[str, list[dict[str, Any]]]:
        import kubernetes

        objects = {}
        for name, (api, method) in _VIEW_CALLS.items():
            listed = getattr(getattr(kubernetes.client, api)(self.cluster.api), method)()
            objects[name] = self.cluster.api.sanitize_for_serialization(listed)["items"]
        return objects

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return self._objects
