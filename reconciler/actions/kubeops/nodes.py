"""Nodes: ``cordon_node``, ``uncordon_node`` and ``drain_node`` (kubectl drain's rules).

A drain checks the node's pods first (nothing is changed if one cannot go: a pod without a
controller unless ``force``, a pod with emptyDir data unless ``delete_emptydir_data``), cordons
the node (with the marker), then evicts every pod through the Eviction API, skipping DaemonSet
pods, mirror pods and pods marked ``reconciler.dev/ignore``. A refused eviction (429: a
PodDisruptionBudget allows no disruption now) is tried again every poll until ``timeout``;
evicted pods are waited for until they are gone. At the deadline, with ``force``, pods still
refused are deleted; otherwise the drain fails (TemporaryError) saying which pods stay. A pod is
never deleted without ``force``. In dry-run mode every eviction is sent once as a server-side
dry run and nothing is waited for.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, marker, objects
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.kubeops.pods import controller_of
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.definitions.durations import format_duration
from reconciler.errors import ActionError, PermanentError, TemporaryError

if TYPE_CHECKING:
    from reconciler.actions import k8s

DRAIN = "kubernetes.drain_node"
MIRROR = "kubernetes.io/config.mirror"


# -- cordon / uncordon ----------------------------------------------------------------------------
async def cordon(params: k8s.NodeRef, context: ActionContext) -> dict[str, Any]:
    written = await marker.mutate(
        context, "kubernetes.cordon_node", Ref("Node", None, params.name), _schedulable(False)
    )
    return await marker.finish(context, written, "ReconcilerCordoned")


async def uncordon(params: k8s.NodeRef, context: ActionContext) -> dict[str, Any]:
    written = await marker.mutate(
        context, "kubernetes.uncordon_node", Ref("Node", None, params.name), _schedulable(True)
    )
    return await marker.finish(context, written, "ReconcilerUncordoned")


def _schedulable(schedulable: bool) -> marker.Plan:
    async def plan(node: Obj) -> Change:
        before = bool((node.get("spec") or {}).get("unschedulable"))
        return Change(
            {"spec": {"unschedulable": not schedulable}},
            "marked schedulable (uncordoned)" if schedulable else "marked unschedulable (cordoned)",
            output={"unschedulable": not schedulable, "changed": before == schedulable},
        )

    return plan


async def check_node(params: k8s.NodeRef, context: ActionContext) -> CheckResult:
    return await marker.check(context, "Node", None, params.name)


# -- drain ----------------------------------------------------------------------------------------
@dataclass
class Progress:
    evicted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # pod -> why it stays
    blocked: dict[str, str] = field(default_factory=dict)  # pod -> the refusal, until evicted
    forced: list[str] = field(default_factory=list)
    terminating: list[str] = field(default_factory=list)  # evicted, not gone yet


def poll_interval(timeout: float) -> float:
    """About one second; shorter for short deadlines (tests), never busy."""
    return min(1.0, max(timeout / 10, 0.05))


async def drain(params: k8s.DrainParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, DRAIN)
    ref = Ref("Node", None, params.name)
    await objects.read(cluster, ref)  # a missing node is a clear 404 before anything else
    _refuse_blockers(params, await _pods_on(cluster, params.name))
    written = await marker.mutate(context, DRAIN, ref, _schedulable(False))
    progress = await _evict_all(cluster, params, context)
    incomplete = [*progress.blocked, *progress.terminating]
    summary = (
        f"drained: {len(progress.evicted)} pods evicted, {len(progress.forced)} deleted "
        f"(force), {len(progress.skipped)} skipped"
        + (
            f"; incomplete: {len(incomplete)} pods remain"
            if incomplete and not context.dry_run
            else ""
        )
    )
    written = marker.Written(written.before, written.after, Change({}, summary))
    result = await marker.finish(
        context,
        written,
        "ReconcilerDrained",
        unschedulable=True,
        evicted=progress.evicted,
        skipped=[{"pod": pod, "reason": why} for pod, why in progress.skipped.items()],
        forced=progress.forced,
        blocked=sorted(progress.blocked),
    )
    if incomplete and not context.dry_run:
        raise TemporaryError(_incomplete(params, progress))
    return result


async def _evict_all(
    cluster: KubeCluster, params: k8s.DrainParams, context: ActionContext
) -> Progress:
    timeout = params.timeout.total_seconds()
    deadline = context.clock.monotonic() + timeout
    progress = Progress()
    while True:
        for pod in await _leaving(cluster, params, progress):
            if _key(pod) not in progress.evicted:
                await _evict(cluster, pod, params, context.dry_run, progress)
        if context.dry_run:
            break  # a dry run evicts nothing: there is nothing to wait for
        # What is still on the node after this round: evicted pods not gone yet, refused ones,
        # and any that appeared meanwhile (tried in the next round).
        still = {_key(p) for p in await _leaving(cluster, params, progress)}
        progress.terminating = sorted(still & set(progress.evicted))
        for key in still - set(progress.evicted):
            progress.blocked.setdefault(key, f"{key} appeared on the node during the drain")
        remaining = deadline - context.clock.monotonic()
        if (not progress.blocked and not progress.terminating) or remaining <= 0:
            break
        await context.clock.sleep(min(poll_interval(timeout), remaining))
    if params.force and progress.blocked and not context.dry_run:
        for key in sorted(progress.blocked):
            namespace, name = key.split("/", 1)
            with contextlib.suppress(errors.NotFound):  # gone meanwhile
                await objects.delete_pod(
                    cluster,
                    Ref("Pod", namespace, name),
                    uid=None,
                    grace=params.grace_period_seconds,
                    dry_run=False,
                )
            progress.forced.append(key)
        progress.blocked.clear()
    return progress


async def _leaving(cluster: KubeCluster, params: k8s.DrainParams, progress: Progress) -> list[Obj]:
    """The node's pods that must go (recording those that stay); forgets refusals of pods gone."""
    pods = await _pods_on(cluster, params.name)
    _refuse_blockers(params, pods)  # a pod scheduled meanwhile follows the same rules
    leaving = []
    for pod in pods:
        why = _stays(pod)
        if why:
            progress.skipped[_key(pod)] = why
        else:
            leaving.append(pod)
    present = {_key(p) for p in leaving}
    progress.blocked = {k: v for k, v in progress.blocked.items() if k in present}
    return leaving


async def _evict(
    cluster: KubeCluster, pod: Obj, params: k8s.DrainParams, dry_run: bool, progress: Progress
) -> None:
    name = _key(pod)
    try:
        await objects.evict(
            cluster,
            Ref.to({**pod, "kind": "Pod"}),
            grace=params.grace_period_seconds,
            dry_run=dry_run,
        )
    except errors.TooManyRequests as exc:
        progress.blocked[name] = str(exc)
        return
    except errors.NotFound:
        pass  # gone meanwhile
    progress.blocked.pop(name, None)
    progress.evicted.append(name)


async def _pods_on(cluster: KubeCluster, node: str) -> list[Obj]:
    pods, _ = await objects.list_objects(
        cluster, "Pod", None, field_selector=f"spec.nodeName={node}"
    )
    return pods


def _key(pod: Obj) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def _stays(pod: Obj) -> str | None:
    """Why a pod is left on the node (None: it is evicted)."""
    metadata = pod.get("metadata") or {}
    if MIRROR in (metadata.get("annotations") or {}):
        return "mirror pod (a static pod the kubelet runs)"
    owner = controller_of(pod)
    if owner is not None and owner.get("kind") == "DaemonSet":
        return f"DaemonSet pod ({owner.get('name')})"
    if str(marker.annotations_of(pod).get(marker.IGNORE, "")).lower() == "true":
        return f'annotated {marker.IGNORE}: "true"'
    return None


def _refuse_blockers(params: k8s.DrainParams, pods: list[Obj]) -> None:
    problems = []
    for pod in pods:
        if _stays(pod):
            continue
        if controller_of(pod) is None and not params.force:
            problems.append(f"{_key(pod)} has no controller (nothing would start it again)")
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if any("emptyDir" in v for v in volumes) and not params.delete_emptydir_data:
            problems.append(f"{_key(pod)} has emptyDir volumes (their data would be lost)")
    if problems:
        raise PermanentError(
            f"{DRAIN} refused for node {params.name}: "
            + "; ".join(problems)
            + " (force: true evicts pods without a controller; delete_emptydir_data: true accepts"
            " losing emptyDir data)"
        )


def _incomplete(params: k8s.DrainParams, progress: Progress) -> str:
    parts = [
        f"{DRAIN}: node {params.name} is cordoned but not drained after {format_duration(params.timeout)}"
    ]
    if progress.blocked:
        parts.append(
            "evictions still refused by a PodDisruptionBudget (force: true deletes them at the "
            "deadline): " + "; ".join(progress.blocked[pod] for pod in sorted(progress.blocked))
        )
    if progress.terminating:
        parts.append("evicted but still terminating: " + ", ".join(progress.terminating))
    parts.append(f"evicted: {len(progress.evicted)}, skipped: {len(progress.skipped)}")
    return "; ".join(parts)


async def check_drain(params: k8s.DrainParams, context: ActionContext) -> CheckResult:
    """DONE when the node has this call's marker and no pod left to evict."""
    found = await marker.check(context, "Node", None, params.name)
    if found is not CheckResult.DONE:
        return found
    assert context.cluster is not None
    try:
        pods = await _pods_on(context.cluster, params.name)
    except ActionError:
        return CheckResult.UNKNOWN
    return CheckResult.NOT_DONE if any(not _stays(p) for p in pods) else CheckResult.DONE
