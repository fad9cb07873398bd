"""Garbage collection in the simulated cluster: what goes with a deleted object.

Called by :meth:`reconciler.sim.cluster.Cluster.delete` with the lock held, before the
controllers settle. Objects whose ``metadata.ownerReferences`` name the deleted object go with it
(and what they own, in turn), as background deletion does, unless another owner they name is
still there; with ``propagationPolicy: Orphan`` they stay and lose that reference instead. A
deleted Namespace takes every object in it. There is no graceful period: objects go at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sim.resources import RESOURCES

if TYPE_CHECKING:
    from reconciler.sim.cluster import Cluster, Obj

ORPHAN = "Orphan"
POLICIES = ("Background", "Foreground", ORPHAN)


def policy(query: dict[str, str], options: Any) -> str:
    """The propagation policy a DELETE asks for (query, then DeleteOptions body); Background by
    default. Foreground is served as Background: objects go at once either way."""
    options = options if isinstance(options, dict) else {}
    chosen = query.get("propagationPolicy") or options.get("propagationPolicy")
    if chosen is None and (
        options.get("orphanDependents") is True or query.get("orphanDependents") == "true"
    ):
        chosen = ORPHAN
    return str(chosen) if chosen in POLICIES else "Background"


def collect(cluster: Cluster, deleted: Obj, propagation: str) -> None:
    """Delete (or orphan) what ``deleted`` owned, recursively; empty a deleted Namespace."""
    if deleted.get("kind") == "Namespace":
        name = deleted["metadata"]["name"]
        for resource in RESOURCES:
            if resource.namespaced:
                for obj in cluster.items(resource.kind, name):
                    cluster.remove(resource.kind, name, obj["metadata"]["name"])
        return
    uid = deleted["metadata"].get("uid")
    namespace = deleted["metadata"].get("namespace")
    for resource in RESOURCES:
        for obj in cluster.items(resource.kind):
            if namespace and obj["metadata"].get("namespace") != namespace:
                continue  # owners of namespaced objects live in the same namespace
            references = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == uid for ref in references):
                continue
            others = [ref for ref in references if ref.get("uid") != uid]
            if propagation == ORPHAN or any(_exists(cluster, ref) for ref in others):
                obj["metadata"]["ownerReferences"] = others
                if not others:
                    del obj["metadata"]["ownerReferences"]
                cluster.touch(resource, obj)
                continue
            meta = obj["metadata"]
            cluster.remove(resource.kind, meta.get("namespace"), meta["name"])
            collect(cluster, obj, propagation)


def _exists(cluster: Cluster, reference: dict[str, Any]) -> bool:
    uid = reference.get("uid")
    return any(obj["metadata"].get("uid") == uid for obj in cluster.objects.values())
