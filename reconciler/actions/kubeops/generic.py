"""``kubernetes.get``, ``kubernetes.list`` and ``kubernetes.patch``: any kind the RBAC grants.

``get`` answers the object itself (``steps.x.output.spec.replicas``), ``list`` its ``items``;
both redacted (:mod:`.redaction`). ``patch`` is a mutating action like the others: it refuses
ignored objects, carries the marker in the same patch, and records an Event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.actions.kubeops import marker, objects, redaction
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.actions import k8s


async def get(params: k8s.GetParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, "kubernetes.get")
    objects.require_grant("kubernetes.get", params.kind, "get")
    obj = await objects.read(cluster, Ref.of(params.kind, params.namespace, params.name))
    return dict(redaction.clean(obj))


async def list_(params: k8s.ListParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, "kubernetes.list")
    objects.require_grant("kubernetes.list", params.kind, "list")
    if params.namespace and not objects.KINDS[params.kind].namespaced:
        raise PermanentError(f"a {params.kind} is cluster-scoped: leave namespace out")
    items, token = await objects.list_objects(
        cluster,
        params.kind,
        params.namespace,
        label_selector=params.label_selector,
        field_selector=params.field_selector,
        limit=params.limit,
    )
    return {
        "kind": params.kind,
        "items": redaction.clean(items),
        "count": len(items),
        "truncated": token is not None,  # more than `limit` objects matched
    }


async def patch(params: k8s.PatchParams, context: ActionContext) -> dict[str, Any]:
    action = "kubernetes.patch"
    marker.require(context, action)
    objects.require_grant(action, params.kind, "patch")
    if (params.patch_type == "json") != isinstance(params.patch, list):
        raise PermanentError(
            "a json patch is a list of operations; strategic and merge patches are maps"
        )
    ref = Ref.of(params.kind, params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        return Change(
            params.patch, f"patched ({params.patch_type} patch)", patch_type=params.patch_type
        )

    written = await marker.mutate(context, action, ref, plan)
    return await marker.finish(
        context,
        written,
        "ReconcilerPatched",
        patch_type=params.patch_type,
        object=redaction.clean(written.after),
    )


async def check_patch(params: k8s.PatchParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, params.kind, params.namespace, params.name)
