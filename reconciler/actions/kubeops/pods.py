"""Pods: ``delete_pod`` (its controller starts a new one) and ``quarantine_pod``.

``delete_pod`` marks the pod, then deletes it with a uid precondition (only the pod it read);
a pod without a controller is refused, since nothing would bring it back. ``quarantine_pod``
removes the labels that tie the pod to its controller and Services (the owner's selector labels
unless ``remove_labels`` says which) and sets ``reconciler.dev/quarantined: "true"``: the pod
keeps running for inspection, receives no traffic, and its controller starts a replacement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, marker, objects
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import ActionError, PermanentError, TemporaryError

if TYPE_CHECKING:
    from reconciler.actions import k8s

DELETE = "kubernetes.delete_pod"
QUARANTINE = "kubernetes.quarantine_pod"
OWNER_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet")  # whose selectors quarantine reads


def controller_of(obj: Obj) -> dict[str, Any] | None:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((o for o in owners if o.get("controller")), None)


# -- delete -------------------------------------------------------------------------------------
async def delete(params: k8s.DeletePodParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, DELETE)
    ref = Ref("Pod", params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        owner = controller_of(obj)
        if owner is None:
            raise PermanentError(
                f"{DELETE} refused: {ref} has no controller, so nothing would start it again; "
                "delete it by hand if that is what you want"
            )
        return Change(
            {},
            f"deleted pod (its {owner.get('kind')} {owner.get('name')} starts a new one)",
            output={"owner": {"kind": owner.get("kind"), "name": owner.get("name")}},
        )

    written = await marker.mutate(context, DELETE, ref, plan)
    uid = (written.before.get("metadata") or {}).get("uid")
    try:
        await objects.delete_pod(
            cluster, ref, uid=uid, grace=params.grace_period_seconds, dry_run=context.dry_run
        )
    except errors.NotFound:
        pass  # gone already: what this action wanted
    except errors.Conflict as exc:
        raise TemporaryError(f"{DELETE}: {ref} was replaced before it was deleted") from exc
    return await marker.finish(
        context, written, "ReconcilerDeletedPod", grace_period_seconds=params.grace_period_seconds
    )


async def check_delete(params: k8s.DeletePodParams, context: ActionContext) -> CheckResult:
    """DONE when the pod is gone or going with this call's marker; NOT_DONE when it stays."""
    if context.cluster is None:
        return CheckResult.UNKNOWN
    try:
        pod = await objects.read(context.cluster, Ref("Pod", params.namespace, params.name))
    except errors.NotFound:
        return CheckResult.DONE
    except ActionError:
        return CheckResult.UNKNOWN
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    ours = marker.annotations_of(pod).get(marker.MARKER) == context.marker
    return CheckResult.DONE if ours and deleting else CheckResult.NOT_DONE


# -- quarantine ---------------------------------------------------------------------------------
async def quarantine(params: k8s.QuarantineParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, QUARANTINE)
    ref = Ref("Pod", params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        if labels.get(params.label) == "true":
            return Change(
                {},
                f"already quarantined ({params.label}=true)",
                output={"label": params.label, "removed_labels": {}, "changed": False},
            )
        names = params.remove_labels
        if names is None:
            names = await _selector_labels(cluster, obj)
        removed = {k: labels[k] for k in names if k in labels and k != params.label}
        if not removed:
            raise PermanentError(
                f"{QUARANTINE}: none of the labels to remove ({', '.join(names) or 'none'}) is on "
                f"{ref}: relabelling it would not take it out of its Service"
            )
        return Change(
            {"metadata": {"labels": {**dict.fromkeys(removed), params.label: "true"}}},
            f"quarantined: removed labels {', '.join(sorted(removed))}; set {params.label}=true",
            output={"label": params.label, "removed_labels": removed, "changed": True},
        )

    written = await marker.mutate(context, QUARANTINE, ref, plan)
    return await marker.finish(context, written, "ReconcilerQuarantined")


async def _selector_labels(cluster: KubeCluster, pod: Obj) -> list[str]:
    """The label keys the pod's controller selects it by (they tie it to its Services too)."""
    ref = Ref.to(pod)
    owner = controller_of(pod)
    if owner is None or owner.get("kind") not in OWNER_KINDS:
        what = f"its controller is a {owner.get('kind')}" if owner else "it has no controller"
        raise PermanentError(
            f"{QUARANTINE}: {ref}: {what}; say which labels to remove with remove_labels"
        )
    controller = await objects.read(
        cluster, Ref(str(owner["kind"]), ref.namespace, str(owner["name"]))
    )
    selector = (controller.get("spec") or {}).get("selector") or {}
    keys = list(selector.get("matchLabels") or {})
    keys += [e["key"] for e in selector.get("matchExpressions") or [] if e.get("key") not in keys]
    return keys


async def check_quarantine(params: k8s.QuarantineParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, "Pod", params.namespace, params.name)
