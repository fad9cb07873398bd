"""``kubernetes.collect_diagnostics``: what ``kubectl describe`` and ``kubectl logs`` would show.

For one object of a readable kind: the object itself (redacted), its conditions, its owner chain
(a pod's ReplicaSet and Deployment, say), its pods (a workload's by its selector, a node's by
``spec.nodeName``), the recent events about all of them, and container logs (``tail_lines``,
optionally of the previous instance) of the pods most likely to explain a problem (not ready
first). The whole answer stays under ``max_bytes``: logs share what the rest leaves, each keeping
its end; anything cut is marked ``truncated``. Secrets are never read; env values whose names
look secret are redacted, and logs go through :func:`reconciler.errors.sanitize`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import marker, objects, redaction
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext
from reconciler.errors import ActionError, sanitize

if TYPE_CHECKING:
    from reconciler.actions import k8s

ACTION = "kubernetes.collect_diagnostics"
MAX_OWNERS = 4
MAX_PODS = 20  # summarised
MAX_EVENTS = 50
LOGGED_PODS = 3
EVENT_PODS = 5  # pods whose events are gathered besides the object's and its owners'
WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


async def collect(params: k8s.DiagnosticsParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, ACTION)
    objects.require_grant(ACTION, params.kind, "get")
    ref = Ref.of(params.kind, params.namespace, params.name)
    obj = await objects.read(cluster, ref)
    owners = await _owner_chain(cluster, obj)
    pods = await _pods_of(cluster, obj)
    pods.sort(key=lambda p: (_pod_ready(p), _key(p)))  # the troubled ones first
    involved = [obj, *[o for o in owners if "error" not in o], *pods[:EVENT_PODS]]
    answer: dict[str, Any] = {
        **marker.identity(ref),
        "object": redaction.clean(obj),
        "conditions": _conditions(obj),
        "owners": [_summary(o) if "error" not in o else o for o in owners],
        "pods": [_pod_summary(p) for p in pods[:MAX_PODS]],
        "pod_count": len(pods),
        "events": await _events(cluster, involved),
        "logs": [],
        "truncated": False,
    }
    logged = [obj] if params.kind == "Pod" else pods[:LOGGED_PODS]
    logs = await _logs(cluster, logged, params) if params.include_logs else []
    return _bounded(answer, logs, params.max_bytes)


# -- gathering ------------------------------------------------------------------------------------
async def _owner_chain(cluster: KubeCluster, obj: Obj) -> list[Obj]:
    """The controllers above the object (pod → ReplicaSet → Deployment), as far as readable."""
    chain: list[Obj] = []
    current = obj
    for _ in range(MAX_OWNERS):
        owner = next(
            (
                o
                for o in (current.get("metadata") or {}).get("ownerReferences") or []
                if o.get("controller")
            ),
            None,
        )
        if owner is None:
            break
        kind, name = str(owner.get("kind")), str(owner.get("name"))
        namespace = (current.get("metadata") or {}).get("namespace")
        if kind not in objects.KINDS or not objects.KINDS[kind].namespaced:
            chain.append({"kind": kind, "name": name, "error": "not a kind reconciler reads"})
            break
        try:
            current = await objects.read(cluster, Ref(kind, namespace, name))
        except ActionError as exc:
            chain.append({"kind": kind, "name": name, "error": str(exc)})
            break
        chain.append(current)
    return chain


async def _pods_of(cluster: KubeCluster, obj: Obj) -> list[Obj]:
    ref = Ref.to(obj)
    if ref.kind == "Pod":
        return [obj]
    if ref.kind == "Node":
        pods, _ = await objects.list_objects(
            cluster, "Pod", None, field_selector=f"spec.nodeName={ref.name}"
        )
        return pods
    if ref.kind not in WORKLOADS:
        return []
    selector = label_selector((obj.get("spec") or {}).get("selector") or {})
    if not selector:
        return []  # an empty selector would select every pod of the namespace
    pods, _ = await objects.list_objects(cluster, "Pod", ref.namespace, label_selector=selector)
    return pods


def label_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector object as the ``labelSelector`` query string."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(str(operator), f"{key}")
        )
    return ",".join(terms)


async def _events(cluster: KubeCluster, involved: list[Obj]) -> list[dict[str, Any]]:
    found: dict[str, Obj] = {}
    for obj in involved:
        ref = Ref.to(obj)
        selector = f"involvedObject.kind={ref.kind},involvedObject.name={ref.name}"
        try:
            events, _ = await objects.list_objects(
                cluster, "Event", ref.namespace, field_selector=selector, limit=MAX_EVENTS
            )
        except ActionError:
            continue  # events are evidence, not a requirement
        for event in events:
            found[str((event.get("metadata") or {}).get("uid") or id(event))] = event
    ordered = sorted(found.values(), key=_event_time)[-MAX_EVENTS:]
    return [
        {
            "time": _event_time(e),
            "type": e.get("type"),
            "reason": e.get("reason"),
            "object": f"{(e.get('involvedObject') or {}).get('kind')}/{(e.get('involvedObject') or {}).get('name')}",
            "message": sanitize(str(e.get("message") or "")),
            "count": e.get("count") or 1,
        }
        for e in ordered
    ]


def _event_time(event: Obj) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


async def _logs(
    cluster: KubeCluster, pods: list[Obj], params: k8s.DiagnosticsParams
) -> list[dict[str, Any]]:
    logs = []
    for pod in pods:
        ref = Ref.to({**pod, "kind": "Pod"})
        for container in (pod.get("spec") or {}).get("containers") or []:
            name = str(container.get("name"))
            entry: dict[str, Any] = {
                "pod": ref.name,
                "container": name,
                "previous": params.previous,
            }
            try:
                text = await objects.pod_log(
                    cluster,
                    ref,
                    container=name,
                    tail_lines=params.tail_lines,
                    previous=params.previous,
                    limit_bytes=params.max_bytes,
                )
            except ActionError as exc:
                entry["error"] = str(exc)
            else:
                entry["text"] = sanitize(text)
            logs.append(entry)
    return logs


# -- shaping --------------------------------------------------------------------------------------
def _conditions(obj: Obj) -> list[str]:
    return [
        f"{c.get('type')}={c.get('status')}"
        + (f" ({c.get('reason')})" if c.get("reason") else "")
        + (f": {c.get('message')}" if c.get("message") else "")
        for c in (obj.get("status") or {}).get("conditions") or []
    ]


def _summary(obj: Obj) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out: dict[str, Any] = {"kind": obj.get("kind"), "name": (obj.get("metadata") or {}).get("name")}
    for key in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"):
        if key in status:
            out[key] = status[key]
    if "replicas" in spec:
        out["desiredReplicas"] = spec["replicas"]
    revision = marker.annotations_of(obj).get("deployment.kubernetes.io/revision")
    if revision:
        out["revision"] = revision
    out["conditions"] = _conditions(obj)
    return out


def _pod_summary(pod: Obj) -> dict[str, Any]:
    status = pod.get("status") or {}
    containers = []
    for c in status.get("containerStatuses") or []:
        state = c.get("state") or {}
        current = next(iter(state), "unknown")
        entry = {
            "name": c.get("name"),
            "ready": bool(c.get("ready")),
            "restartCount": c.get("restartCount", 0),
            "state": current,
            "reason": (state.get(current) or {}).get("reason"),
        }
        terminated = (c.get("lastState") or {}).get("terminated")
        if terminated:
            entry["lastTerminated"] = {
                "reason": terminated.get("reason"),
                "exitCode": terminated.get("exitCode"),
            }
        containers.append(entry)
    return {
        "name": (pod.get("metadata") or {}).get("name"),
        "node": (pod.get("spec") or {}).get("nodeName"),
        "phase": status.get("phase"),
        "ready": _pod_ready(pod),
        "containers": containers,
    }


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _key(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name"))


def _size(value: Any) -> int:
    return len(json.dumps(value).encode())


def _bounded(answer: dict[str, Any], logs: list[dict[str, Any]], max_bytes: int) -> dict[str, Any]:
    """Fit the answer in ``max_bytes``: trim the bulky parts first, then share the rest."""
    if _size(answer) > max_bytes // 2:
        answer["object"] = {k: v for k, v in answer["object"].items() if k != "spec"}
        answer["events"] = answer["events"][-10:]
        answer["pods"] = answer["pods"][:5]
        answer["truncated"] = True
    if _size(answer) > max_bytes // 2:
        answer["object"] = {"metadata": {"name": answer["name"]}}
    shells = [{k: v for k, v in log.items() if k != "text"} for log in logs]
    room = max_bytes - _size({**answer, "logs": shells}) - 32 * len(logs) - 16
    share = max(room // max(len(logs), 1), 0)
    for log, shell in zip(logs, shells, strict=True):
        if "text" not in log:
            continue
        text, cut = _tail(str(log["text"]), share)
        shell["text"] = text
        shell["truncated"] = cut
        answer["truncated"] = answer["truncated"] or cut
    answer["logs"] = shells
    return answer


def _tail(text: str, limit: int) -> tuple[str, bool]:
    """The end of a log within ``limit`` bytes of JSON, starting at a line when it can."""
    if _size(text) <= limit:
        return text, False
    data = text.encode()
    keep = max(limit - 2, 0)
    # JSON escapes can make text bigger than its bytes: shrink until it fits.
    while keep > 0 and _size(data[-keep:].decode("utf-8", "ignore")) > limit:
        keep = keep * 3 // 4
    tail = data[-keep:].decode("utf-8", "ignore") if keep else ""
    newline = tail.find("\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]
    return tail, True
