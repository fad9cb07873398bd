"""``kubernetes.expand_pvc``: grow a PersistentVolumeClaim, never shrink it.

The new size is ``size``, or the current request times ``factor`` (rounded up to whole Gi),
capped by ``max_size``. The claim's StorageClass must allow expansion
(``allowVolumeExpansion: true``): the action reads it first and says so clearly instead of
letting the API server refuse.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, marker, objects, quantities
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.actions import k8s

ACTION = "kubernetes.expand_pvc"


async def expand(params: k8s.ExpandPvcParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, ACTION)
    ref = Ref("PersistentVolumeClaim", params.namespace, params.name)

    async def plan(pvc: Obj) -> Change:
        requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
        if "storage" not in requests:
            raise PermanentError(f"{ACTION}: {ref} requests no storage size")
        current_text = str(requests["storage"])
        current = quantities.parse(current_text, f"{ref} spec.resources.requests.storage")
        size_text = _new_size(params, ref, current)
        size = quantities.parse(size_text, "size")
        storage_class = str((pvc.get("spec") or {}).get("storageClassName") or "")
        output = {"previous_size": current_text, "storage_class": storage_class}
        if size == current:
            return Change(
                {},
                f"already {current_text}",
                output={**output, "size": current_text, "changed": False},
            )
        await _require_expandable(cluster, ref, storage_class)
        return Change(
            {"spec": {"resources": {"requests": {"storage": size_text}}}},
            f"storage request raised from {current_text} to {size_text}",
            output={**output, "size": size_text, "changed": True},
        )

    written = await marker.mutate(context, ACTION, ref, plan)
    return await marker.finish(context, written, "ReconcilerExpandedVolume")


def _new_size(params: k8s.ExpandPvcParams, ref: Ref, current: Decimal) -> str:
    if params.size is not None:
        text = params.size
    else:
        text = quantities.format_storage(current * Decimal(str(params.factor)))
    wanted = quantities.parse(text, "size")
    if params.max_size is not None and wanted > quantities.parse(params.max_size, "max_size"):
        text = params.max_size
        wanted = quantities.parse(text, "max_size")
    have = quantities.format_storage(current)
    if wanted < current:
        raise PermanentError(
            f"{ACTION}: {ref} requests {have}; {text} would shrink it, and a claim never shrinks"
        )
    if wanted == current and params.factor is not None:
        raise PermanentError(
            f"{ACTION}: {ref} already requests {have}, its max_size: it cannot grow further"
        )
    return text


async def _require_expandable(cluster: KubeCluster, ref: Ref, storage_class: str) -> None:
    if not storage_class:
        raise PermanentError(f"{ACTION}: {ref} has no StorageClass, so it cannot be expanded")
    try:
        found = await objects.read(cluster, Ref("StorageClass", None, storage_class))
    except errors.NotFound as exc:
        raise PermanentError(
            f"{ACTION}: {ref} uses StorageClass {storage_class}, which does not exist"
        ) from exc
    if not found.get("allowVolumeExpansion"):
        raise PermanentError(
            f"{ACTION}: {ref} uses StorageClass {storage_class}, which does not allow volume "
            "expansion (allowVolumeExpansion is not true): move the data to a bigger volume instead"
        )


async def check(params: k8s.ExpandPvcParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, "PersistentVolumeClaim", params.namespace, params.name)
