"""Deployments, StatefulSets and HPAs: scale, rollout restart, rollback, update_hpa.

Each is a :func:`marker.mutate` plan: a function from the object as read to the patch that
changes it. ``increase_resources`` lives in :mod:`.resources`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.actions.kubeops import marker, objects
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.actions import k8s

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH = "pod-template-hash"
SCALE_ACTIONS = {
    "Deployment": "kubernetes.scale_deployment",
    "StatefulSet": "kubernetes.scale_statefulset",
}


# -- scale ------------------------------------------------------------------------------------
async def scale(kind: str, params: k8s.ScaleParams, context: ActionContext) -> dict[str, Any]:
    action = SCALE_ACTIONS[kind]
    cluster = marker.require(context, action)
    ref = Ref(kind, params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        hpa = await _autoscaler_of(cluster, ref)
        if hpa is not None:
            spec = hpa.get("spec") or {}
            raise PermanentError(
                f"{action} refused: {ref} is scaled by HorizontalPodAutoscaler "
                f"{ref.namespace}/{hpa['metadata']['name']} (minReplicas "
                f"{spec.get('minReplicas', 1)}, maxReplicas {spec.get('maxReplicas')}); writing "
                "its replicas would fight the autoscaler: change the bounds with "
                "kubernetes.update_hpa instead"
            )
        before = int((obj.get("spec") or {}).get("replicas", 1))
        return Change(
            {"spec": {"replicas": params.replicas}},
            f"scaled from {before} to {params.replicas} replicas",
            output={
                "replicas": params.replicas,
                "previous_replicas": before,
                "changed": before != params.replicas,
            },
        )

    written = await marker.mutate(context, action, ref, plan)
    return await marker.finish(context, written, "ReconcilerScaled")


async def _autoscaler_of(cluster: Any, ref: Ref) -> Obj | None:
    """The autoscaling/v2 HPA in the namespace whose scaleTargetRef is this workload, if any."""
    hpas, _ = await objects.list_objects(cluster, "HorizontalPodAutoscaler", ref.namespace)
    for hpa in hpas:
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        group = str(target.get("apiVersion", "apps/v1")).split("/")[0]
        if target.get("kind") == ref.kind and target.get("name") == ref.name and group == "apps":
            return hpa
    return None


# -- rollout restart ----------------------------------------------------------------------------
async def restart(params: k8s.ObjectRef, context: ActionContext) -> dict[str, Any]:
    action = "kubernetes.restart_deployment"
    ref = Ref("Deployment", params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        _refuse_paused(obj, action)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Change(
            {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}},
            "rollout restart",
            output={"restarted_at": now},
        )

    written = await marker.mutate(context, action, ref, plan)
    return await marker.finish(context, written, "ReconcilerRestarted")


def _refuse_paused(deployment: Obj, action: str) -> None:
    if (deployment.get("spec") or {}).get("paused"):
        raise PermanentError(
            f"{action} refused: {Ref.to(deployment)} is paused (spec.paused): resume it first"
        )


# -- rollback -----------------------------------------------------------------------------------
async def rollback(params: k8s.RollbackParams, context: ActionContext) -> dict[str, Any]:
    action = "kubernetes.rollback_deployment"
    cluster = marker.require(context, action)
    ref = Ref("Deployment", params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        _refuse_paused(obj, action)
        history = await _revisions(cluster, obj)
        current = _current_revision(obj, history)
        target = _target_revision(ref, history, current, params.to_revision)
        template = _without_hash(history[target]["spec"]["template"])
        images = {
            str(c.get("name")): str(c.get("image"))
            for c in (template.get("spec") or {}).get("containers") or []
        }
        output = {"revision": target, "previous_revision": current, "images": images}
        if target == current:
            return Change(
                [],
                f"rollback skipped: the template already matches revision {target}",
                patch_type="json",
                output={**output, "changed": False},
            )
        return Change(
            [{"op": "replace", "path": "/spec/template", "value": template}],
            f"rolled back from revision {current} to revision {target}",
            patch_type="json",
            output={**output, "changed": True},
        )

    written = await marker.mutate(context, action, ref, plan)
    return await marker.finish(context, written, "ReconcilerRolledBack")


async def _revisions(cluster: Any, deployment: Obj) -> dict[int, Obj]:
    """The Deployment's ReplicaSets (those it controls) by revision number."""
    metadata = deployment["metadata"]
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
    sets, _ = await objects.list_objects(
        cluster, "ReplicaSet", metadata["namespace"], label_selector=selector
    )
    history: dict[int, Obj] = {}
    for rs in sets:
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("uid") == metadata.get("uid") and o.get("controller") for o in owners):
            continue
        revision = marker.annotations_of(rs).get(REVISION, "")
        if revision.isdigit():
            history[int(revision)] = rs
    return history


def _current_revision(deployment: Obj, history: dict[int, Obj]) -> int:
    """The revision whose template the Deployment runs now (else the newest one)."""
    template = _without_hash(deployment["spec"].get("template") or {})
    for revision, rs in history.items():
        if _without_hash(rs["spec"].get("template") or {}) == template:
            return revision
    annotated = marker.annotations_of(deployment).get(REVISION, "")
    return int(annotated) if annotated.isdigit() else max(history, default=0)


def _target_revision(ref: Ref, history: dict[int, Obj], current: int, wanted: int | None) -> int:
    if wanted is not None:
        if wanted not in history:
            known = ", ".join(map(str, sorted(history))) or "none"
            raise PermanentError(
                f"{ref} has no revision {wanted} to roll back to (revisions kept: {known})"
            )
        return wanted
    older = [r for r in history if r < current]
    if not older:
        raise PermanentError(f"{ref} has no revision before {current} to roll back to")
    return max(older)


def _without_hash(template: Obj) -> Obj:
    """A ReplicaSet's pod template as a Deployment holds it (no pod-template-hash label)."""
    clean = copy.deepcopy(template)
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH, None)
    return clean


# -- HPA bounds ---------------------------------------------------------------------------------
async def update_hpa(params: k8s.UpdateHpaParams, context: ActionContext) -> dict[str, Any]:
    action = "kubernetes.update_hpa"
    ref = Ref("HorizontalPodAutoscaler", params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        spec = obj.get("spec") or {}
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        new_low = params.min_replicas if params.min_replicas is not None else low
        new_high = params.max_replicas if params.max_replicas is not None else high
        if new_low > new_high:
            raise PermanentError(
                f"{action}: {ref} would get minReplicas {new_low} above maxReplicas {new_high}"
            )
        return Change(
            {"spec": {"minReplicas": new_low, "maxReplicas": new_high}},
            f"replica bounds changed from {low}..{high} to {new_low}..{new_high}",
            output={
                "min_replicas": new_low,
                "max_replicas": new_high,
                "previous_min_replicas": low,
                "previous_max_replicas": high,
                "changed": (low, high) != (new_low, new_high),
            },
        )

    written = await marker.mutate(context, action, ref, plan)
    return await marker.finish(context, written, "ReconcilerUpdatedHPA")


# -- checks -------------------------------------------------------------------------------------
async def check_scale(kind: str, params: k8s.ScaleParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, kind, params.namespace, params.name)


async def check_deployment(params: k8s.ObjectRef, context: ActionContext) -> CheckResult:
    return await marker.check(context, "Deployment", params.namespace, params.name)


async def check_hpa(params: k8s.UpdateHpaParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, "HorizontalPodAutoscaler", params.namespace, params.name)
