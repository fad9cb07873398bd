"""Minimal controllers, run after every change so the cluster answers settled.

What they do (and no more; docs/sim.md): a Deployment's replicas and template make a
ReplicaSet per template (named by a hash of it, with a revision number) and pods for the current
one (a rollout restart or a rollback is a template change); a ReplicaSet or StatefulSet keeps
its number of pods (a deleted or evicted pod is replaced, on a schedulable node); cordoning
taints a node; PodDisruptionBudgets and workloads get their status; a PVC's capacity follows its
request; an HPA holds its target's replicas within its bounds; a Job runs to completion at once (one pod).
Validation refuses what the API
server would: shrinking a PVC, or growing one whose StorageClass does not allow it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from reconciler.sim import patches, selectors
from reconciler.sim.resources import BY_KIND, Resource

if TYPE_CHECKING:
    from reconciler.sim.cluster import Cluster, Obj

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' safe characters for generated names
CRASH = "sim.reconciler.dev/crash-looping"  # pod template annotation: its pods keep crashing
FAIL = "sim.reconciler.dev/fail"  # Job template annotation: its pod fails
REVISION = "deployment.kubernetes.io/revision"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def settle(cluster: Cluster) -> None:
    for step in (_hpas, _deployments, _replica_sets, _stateful_sets, _jobs, _nodes, _pvcs, _pdbs):
        step(cluster)


def validate(cluster: Cluster, resource: Resource, obj: Obj) -> None:
    from reconciler.sim.cluster import ApiError

    if resource.kind == "PersistentVolumeClaim":
        wanted = _quantity(_dig(obj, "spec", "resources", "requests", "storage"))
        key = (
            f"{resource.plural}.{resource.group}",
            obj["metadata"]["namespace"],
            obj["metadata"]["name"],
        )
        current = cluster.objects.get(key)
        had = _quantity(_dig(current, "spec", "resources", "requests", "storage")) if current else 0
        if current and wanted < had:
            raise ApiError(
                422,
                "Invalid",
                "spec.resources.requests.storage: Forbidden: field can not be less than previous value",
            )
        if current and wanted > had and not _expandable(cluster, obj):
            raise ApiError(
                403,
                "Forbidden",
                "only dynamically provisioned pvc can be resized and the storageclass that "
                "provisions the pvc must support resize",
            )


# -- workloads -------------------------------------------------------------------------------
def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:10])


def _owned_by(cluster: Cluster, kind: str, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        o
        for o in cluster.items(kind, owner["metadata"]["namespace"])
        if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or [])
    ]


def _reference(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _deployments(cluster: Cluster) -> None:
    for deployment in cluster.items("Deployment"):
        spec = deployment.get("spec", {})
        template = spec.get("template", {})
        wanted_hash = template_hash(_without_hash(template))
        sets = _owned_by(cluster, "ReplicaSet", deployment)
        current = next(
            (
                rs
                for rs in sets
                if template_hash(_without_hash(rs["spec"]["template"])) == wanted_hash
            ),
            None,
        )
        if current is None:
            current = _new_replica_set(cluster, deployment, template, wanted_hash)
        # A new template, or an old one restored (a rollback), becomes the newest revision.
        newest = max((_revision(rs) for rs in sets if rs is not current), default=0)
        if _revision(current) <= newest or _revision(current) == 0:
            current["metadata"].setdefault("annotations", {})[REVISION] = str(newest + 1)
            cluster.touch(BY_KIND["ReplicaSet"], current)
        replicas = int(spec.get("replicas", 1))
        older = [rs for rs in _owned_by(cluster, "ReplicaSet", deployment) if rs is not current]
        _roll(cluster, spec.get("strategy") or {}, replicas, current, older)
        _deployment_status(cluster, deployment, current, replicas)


def _deployment_status(cluster: Cluster, deployment: Obj, current: Obj, replicas: int) -> None:
    """Counts, the revision annotation, and the conditions ``kubectl rollout status`` reads: a
    rollout whose new pods all fail to get ready is past its progress deadline at once (the
    simulator has no clock to wait on)."""
    sets = _owned_by(cluster, "ReplicaSet", deployment)
    total = sum(int(rs.get("status", {}).get("replicas", 0)) for rs in sets)
    ready = sum(int(rs.get("status", {}).get("readyReplicas", 0)) for rs in sets)
    new_pods = int(current.get("status", {}).get("replicas", 0))
    new_ready = int(current.get("status", {}).get("readyReplicas", 0))
    name = current["metadata"]["name"]
    if new_ready >= replicas and total == new_pods:
        progressing = (
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
        )
    elif new_pods and not new_ready:
        progressing = (
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
        )
    else:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
    available = ready >= replicas - _count("25%", replicas, up=False)
    conditions: list[dict[str, Any]] = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
        },
        {
            "type": "Progressing",
            "status": progressing[0],
            "reason": progressing[1],
            "message": progressing[2],
        },
    ]
    for condition in conditions:  # times move only when a condition changes
        old: dict[str, Any] = next(
            (
                c
                for c in deployment.get("status", {}).get("conditions") or []
                if c.get("type") == condition["type"]
            ),
            {},
        )
        same = all(old.get(k) == condition[k] for k in ("status", "reason"))
        condition["lastTransitionTime"] = old.get("lastTransitionTime") if same else _now()
        condition["lastUpdateTime"] = old.get("lastUpdateTime") if same else _now()
    revision = _annotation(current, REVISION)
    annotations = deployment["metadata"].setdefault("annotations", {})
    if revision and annotations.get(REVISION) != revision:
        annotations[REVISION] = revision
        cluster.touch(BY_KIND["Deployment"], deployment)
    _set_status(
        cluster,
        deployment,
        {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": new_pods,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(replicas - ready, 0),
            "conditions": conditions,
        },
    )


def _roll(
    cluster: Cluster, strategy: dict[str, Any], replicas: int, current: Obj, older: list[Obj]
) -> None:
    """Move pods from older ReplicaSets to the current one as the Deployment controller does:
    never more than ``maxSurge`` extra pods, never fewer than ``maxUnavailable`` below the
    wanted ready count (defaults 25% each). A rollout whose new pods never get ready stays
    stuck with the old pods serving, as in a real cluster."""
    if strategy.get("type") == "Recreate":
        for rs in older:
            _scale(cluster, rs, 0)
        _scale(cluster, current, replicas)
        return
    rolling = strategy.get("rollingUpdate") or {}
    surge = _count(rolling.get("maxSurge", "25%"), replicas)
    unavailable = _count(rolling.get("maxUnavailable", "25%"), replicas, up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    for _ in range(4 * replicas + 4):  # each pass moves at least one pod, or stops
        moved = False
        old_total = sum(int(rs["spec"].get("replicas", 0)) for rs in older)
        wanted_new = min(replicas, replicas + surge - old_total)
        size = int(current["spec"].get("replicas", 0))
        if wanted_new > size or (not old_total and size != replicas):
            _scale(cluster, current, replicas if not old_total else wanted_new)
            moved = True
        for rs in older:  # old pods that are not ready serve nobody: they go first
            size = int(rs["spec"].get("replicas", 0))
            unhealthy = size - int(rs.get("status", {}).get("readyReplicas", 0))
            if unhealthy > 0:
                _scale(cluster, rs, size - unhealthy)
                moved = True
        ready = sum(int(rs.get("status", {}).get("readyReplicas", 0)) for rs in [current, *older])
        removable = ready - (replicas - unavailable)  # what may go without dropping too low
        for rs in sorted(older, key=_revision):  # oldest first
            size = int(rs["spec"].get("replicas", 0))
            take = min(size, removable)
            if take > 0:
                _scale(cluster, rs, size - take)
                removable -= take
                moved = True
        if not moved:
            return


def _scale(cluster: Cluster, rs: Obj, replicas: int) -> None:
    if rs["spec"].get("replicas") != replicas:
        rs["spec"]["replicas"] = replicas
        cluster.touch(BY_KIND["ReplicaSet"], rs)
        _replica_set(cluster, rs)


def _revision(rs: Obj) -> int:
    return int(_annotation(rs, REVISION) or 0)


def _without_hash(template: Any) -> Any:
    """A pod template as the Deployment holds it (ReplicaSets add the pod-template-hash label)."""
    clean = patches.without_nulls(template)  # kubectl rollout undo sends creationTimestamp: null
    (clean.get("metadata", {}).get("labels") or {}).pop("pod-template-hash", None)
    return clean


def _new_replica_set(cluster: Cluster, deployment: Obj, template: Obj, hash_: str) -> Obj:
    rs_template = json.loads(json.dumps(template))
    rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = hash_
    selector = json.loads(json.dumps(deployment["spec"].get("selector", {})))
    selector.setdefault("matchLabels", {})["pod-template-hash"] = hash_
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-{hash_}",
            "namespace": deployment["metadata"]["namespace"],
            "labels": {
                **(template.get("metadata", {}).get("labels") or {}),
                "pod-template-hash": hash_,
            },
            "ownerReferences": [_reference(deployment)],
            "annotations": {REVISION: "0"},
        },
        "spec": {"replicas": 0, "selector": selector, "template": rs_template},
    }
    resource = BY_KIND["ReplicaSet"]
    cluster._store(resource, cluster._complete(resource, rs))
    return rs


def _replica_sets(cluster: Cluster) -> None:
    for rs in cluster.items("ReplicaSet"):
        _replica_set(cluster, rs)


def _replica_set(cluster: Cluster, rs: Obj) -> None:
    pods = _owned_by(cluster, "Pod", rs)
    wanted = int(rs["spec"].get("replicas", 1))
    for pod in sorted(pods, key=ready)[: max(len(pods) - wanted, 0)]:  # not ready ones first
        cluster.remove("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
    for _ in range(wanted - len(pods)):
        suffix = template_hash([rs["metadata"]["uid"], next(cluster.serial)])[:5]
        _new_pod(cluster, rs, f"{rs['metadata']['name']}-{suffix}")
    _workload_status(cluster, rs, wanted)


def _stateful_sets(cluster: Cluster) -> None:
    for sts in cluster.items("StatefulSet"):
        wanted = int(sts.get("spec", {}).get("replicas", 1))
        name = sts["metadata"]["name"]
        pods = {p["metadata"]["name"]: p for p in _owned_by(cluster, "Pod", sts)}
        for index in range(wanted):
            if f"{name}-{index}" not in pods:
                _new_pod(cluster, sts, f"{name}-{index}")
        for pod_name in pods:
            if (
                not pod_name.removeprefix(f"{name}-").isdigit()
                or int(pod_name.removeprefix(f"{name}-")) >= wanted
            ):
                cluster.remove("Pod", sts["metadata"]["namespace"], pod_name)
        _workload_status(cluster, sts, wanted)


def _jobs(cluster: Cluster) -> None:
    """A new Job runs to completion at once: one pod, Succeeded (or Failed when its template
    carries ``sim.reconciler.dev/fail: "true"``), its log from ``sim.reconciler.dev/log``."""
    for job in cluster.items("Job"):
        if job.get("status", {}).get("conditions"):
            continue
        template = job.get("spec", {}).get("template", {})
        annotations = _dig(template, "metadata", "annotations") or {}
        failed = annotations.get(FAIL) == "true"
        name = job["metadata"]["name"]
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{template_hash([job['metadata']['uid']])[:5]}",
                "namespace": job["metadata"]["namespace"],
                "labels": {
                    **(_dig(template, "metadata", "labels") or {}),
                    "job-name": name,
                    "batch.kubernetes.io/job-name": name,
                },
                "annotations": dict(annotations),
                "ownerReferences": [_reference(job)],
            },
            "spec": json.loads(json.dumps(template.get("spec", {}))),
            "status": {"phase": "Failed" if failed else "Succeeded", "startTime": _now()},
        }
        resource = BY_KIND["Pod"]
        cluster._store(resource, cluster._complete(resource, pod))
        outcome = "Failed" if failed else "Complete"
        _set_status(
            cluster,
            job,
            {
                "startTime": _now(),
                **({"failed": 1} if failed else {"succeeded": 1, "completionTime": _now()}),
                "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": _now()}],
            },
        )


def _workload_status(cluster: Cluster, workload: Obj, wanted: int) -> None:
    pods = _owned_by(cluster, "Pod", workload)
    count = sum(ready(p) for p in pods)
    status = {
        "replicas": len(pods),
        "readyReplicas": count,
        "availableReplicas": count,
        "observedGeneration": workload["metadata"].get("generation", 1),
    }
    if workload["kind"] == "StatefulSet":
        status.update(currentReplicas=len(pods), updatedReplicas=len(pods))
    else:
        status["fullyLabeledReplicas"] = len(pods)
    _set_status(cluster, workload, status)


def _new_pod(cluster: Cluster, owner: Obj, name: str) -> None:
    template = owner["spec"].get("template", {})
    node = _schedule(cluster)
    crashing = (_dig(template, "metadata", "annotations") or {}).get(CRASH) == "true"
    containers = template.get("spec", {}).get("containers", [])
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **json.loads(json.dumps(template.get("metadata", {}))),
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "ownerReferences": [_reference(owner)],
        },
        "spec": {
            **json.loads(json.dumps(template.get("spec", {}))),
            **({"nodeName": node} if node else {}),
        },
        "status": _pod_status(containers, node is not None, crashing),
    }
    resource = BY_KIND["Pod"]
    cluster._store(resource, cluster._complete(resource, pod))


def _pod_status(containers: list[Any], scheduled: bool, crashing: bool) -> dict[str, Any]:
    if not scheduled:
        return {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        }
    running = not crashing
    statuses = []
    for container in containers:
        state: dict[str, Any] = (
            {"running": {"startedAt": _now()}}
            if running
            else {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off restarting failed container",
                }
            }
        )
        statuses.append(
            {
                "name": container.get("name", "main"),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": running,
                "restartCount": 0 if running else 5,
                "started": running,
                "state": state,
                **(
                    {}
                    if running
                    else {"lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
                ),
            }
        )
    ready = "True" if running else "False"
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ],
        "containerStatuses": statuses,
        "startTime": _now(),
    }


def _schedule(cluster: Cluster) -> str | None:
    """The schedulable, Ready node with the fewest pods."""
    candidates = [
        n
        for n in cluster.items("Node")
        if not n.get("spec", {}).get("unschedulable") and _node_ready(n)
    ]
    if not candidates:
        return None
    load: dict[str, int] = {str(n["metadata"]["name"]): 0 for n in candidates}
    for pod in cluster.items("Pod"):
        node = pod.get("spec", {}).get("nodeName")
        if node in load:
            load[node] += 1
    return min(load, key=lambda name: (load[name], name))


# -- nodes, storage, budgets, autoscalers ----------------------------------------------------
def _nodes(cluster: Cluster) -> None:
    for node in cluster.items("Node"):
        taints = node.setdefault("spec", {}).get("taints") or []
        has = any(t.get("key") == UNSCHEDULABLE_TAINT["key"] for t in taints)
        want = bool(node["spec"].get("unschedulable"))
        if want and not has:
            node["spec"]["taints"] = [*taints, dict(UNSCHEDULABLE_TAINT)]
            cluster.touch(BY_KIND["Node"], node)
        elif has and not want:
            node["spec"]["taints"] = [
                t for t in taints if t.get("key") != UNSCHEDULABLE_TAINT["key"]
            ]
            cluster.touch(BY_KIND["Node"], node)


def _pvcs(cluster: Cluster) -> None:
    for pvc in cluster.items("PersistentVolumeClaim"):
        requested = _dig(pvc, "spec", "resources", "requests", "storage")
        status = pvc.setdefault("status", {})
        if requested and _dig(status, "capacity", "storage") != requested:
            status.update(phase="Bound", capacity={"storage": requested})
            cluster.touch(BY_KIND["PersistentVolumeClaim"], pvc)


def _expandable(cluster: Cluster, pvc: Obj) -> bool:
    name = _dig(pvc, "spec", "storageClassName")
    classes = {c["metadata"]["name"]: c for c in cluster.items("StorageClass")}
    return bool(name in classes and classes[name].get("allowVolumeExpansion"))


def _pdbs(cluster: Cluster) -> None:
    for pdb in cluster.items("PodDisruptionBudget"):
        spec = pdb.get("spec", {})
        pods = [
            p
            for p in cluster.items("Pod", pdb["metadata"]["namespace"])
            if selectors.matches(spec.get("selector"), p["metadata"].get("labels") or {})
        ]
        healthy = sum(ready(p) for p in pods)
        if "minAvailable" in spec:
            desired = _count(spec["minAvailable"], len(pods))
        else:
            desired = len(pods) - _count(spec.get("maxUnavailable", 0), len(pods))
        _set_status(
            cluster,
            pdb,
            {
                "observedGeneration": pdb["metadata"].get("generation", 1),
                "currentHealthy": healthy,
                "desiredHealthy": desired,
                "expectedPods": len(pods),
                "disruptionsAllowed": max(healthy - desired, 0),
            },
        )


def _hpas(cluster: Cluster) -> None:
    for hpa in cluster.items("HorizontalPodAutoscaler"):
        spec = hpa.get("spec", {})
        ref = spec.get("scaleTargetRef", {})
        resource = BY_KIND.get(ref.get("kind", ""))
        key = (
            (f"{resource.plural}.{resource.group}", hpa["metadata"]["namespace"], ref.get("name"))
            if resource
            else None
        )
        target = cluster.objects.get(key) if key else None
        if target is None:
            continue
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        replicas = int(target.get("spec", {}).get("replicas", 1))
        bounded = min(max(replicas, low), high)
        if bounded != replicas:
            target["spec"]["replicas"] = bounded
            cluster.touch(resource, target)  # type: ignore[arg-type]
        _set_status(
            cluster,
            hpa,
            {**hpa.get("status", {}), "currentReplicas": bounded, "desiredReplicas": bounded},
        )


# -- helpers ---------------------------------------------------------------------------------
def _set_status(cluster: Cluster, obj: Obj, status: dict[str, Any]) -> None:
    if obj.get("status") != status:
        obj["status"] = status
        cluster.touch(BY_KIND[obj["kind"]], obj)


def ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    ) and not pod["metadata"].get("deletionTimestamp")


def _node_ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions") or []
    )


def _count(value: Any, total: int, up: bool = True) -> int:
    """A number or a percentage of ``total`` (rounded up, or down)."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * total
        return -(-share // 100) if up else share // 100
    return int(value)


def _annotation(obj: Obj, name: str) -> str | None:
    value = (obj["metadata"].get("annotations") or {}).get(name)
    return str(value) if value is not None else None


def _dig(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def _quantity(text: Any) -> int:
    """Bytes of a storage quantity (``10Gi``, ``500M``, ``1073741824``)."""
    if text is None:
        return 0
    value = str(text)
    for unit, factor in sorted(_UNITS.items(), key=lambda item: -len(item[0])):
        if value.endswith(unit):
            return int(float(value[: -len(unit)]) * factor)
    return int(float(value))


def _now() -> str:
    from reconciler.sim.cluster import now

    return now()
