"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for
(``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``), with the columns the API server
prints for each kind (a pod's READY, STATUS, RESTARTS and AGE, a Deployment's UP-TO-DATE, ...).

Called by the HTTP layer (:mod:`reconciler.sim.server`) for a GET, a LIST and each watch event
when the client asks for a table. Rows carry the object's metadata (``PartialObjectMetadata``),
or the whole object with ``?includeObject=Object``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]  # name, type, cell


def wanted(accept: str) -> bool:
    """Whether an Accept header asks for a Table."""
    return any("as=Table" in part for part in accept.split(","))


def table(kind: str, objects: list[Obj], resource_version: str, include: str = "") -> Obj:
    columns = COLUMNS.get(kind, [])
    wide = WIDE.get(kind, [])  # priority 1: kubectl shows them with -o wide
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": int(column in wide),
            }
            for column in [NAME, *columns, AGE, *wide]
            for name, type_, _ in [column]
        ],
        "rows": [
            {
                "cells": [cell(obj) for _, _, cell in [NAME, *columns, AGE, *wide]],
                "object": obj if include == "Object" else _partial(obj),
            }
            for obj in objects
        ],
    }


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def age(timestamp: Any, now: datetime | None = None) -> str:
    """kubectl's short human duration since ``timestamp`` (``45s``, ``7m12s``, ``3h``, ``5d``)."""
    try:
        then = datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if years < 8 and days % 365 else f"{years}y"


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def _int(obj: Obj, *path: str) -> int:
    return int(_get(obj, *path, default=0) or 0)


# -- pods ------------------------------------------------------------------------------------
def pod_status(pod: Obj) -> str:
    """The STATUS kubectl shows: Terminating, a container's waiting or terminated reason
    (``CrashLoopBackOff``), the pod's reason, or its phase."""
    if _get(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    reason = _get(pod, "status", "reason") or _get(pod, "status", "phase") or "Unknown"
    for status in _get(pod, "status", "containerStatuses", default=[]) or []:
        state = status.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = state.get("terminated") or {}
        if waiting:
            reason = waiting
        elif terminated:
            reason = terminated.get("reason") or f"ExitCode:{terminated.get('exitCode', 0)}"
    return str(reason)


def _pod_ready(pod: Obj) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[]) or []
    total = len(_get(pod, "spec", "containers", default=[]) or []) or len(statuses)
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _restarts(pod: Obj) -> int:
    statuses = _get(pod, "status", "containerStatuses", default=[]) or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


# -- nodes and others ------------------------------------------------------------------------
def _node_status(node: Obj) -> str:
    conditions = _get(node, "status", "conditions", default=[]) or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    status = "Ready" if ready else "NotReady"
    return status + (",SchedulingDisabled" if _get(node, "spec", "unschedulable") else "")


def _roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = _get(node, "metadata", "labels", default={}) or {}
    roles = sorted(k.removeprefix(prefix) for k in labels if k.startswith(prefix))
    return ",".join(r for r in roles if r) or "<none>"


def _ports(service: Obj) -> str:
    ports = _get(service, "spec", "ports", default=[]) or []
    return (
        ",".join(
            f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports if isinstance(p, dict)
        )
        or "<none>"
    )


def _job_status(job: Obj) -> str:
    for condition in _get(job, "status", "conditions", default=[]) or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


def _targets(hpa: Obj) -> str:
    metrics = _get(hpa, "spec", "metrics", default=[]) or []
    shown = []
    for metric in metrics:
        target = _get(metric, "resource", "target", default={}) or {}
        if "averageUtilization" in target:
            shown.append(f"<unknown>/{target['averageUtilization']}%")
    return ", ".join(shown) or "<none>"


def _or_none(value: Any) -> Any:
    return "<none>" if value in (None, "", []) else value


def _field(*path: str, default: Any = "") -> Callable[[Obj], Any]:
    return lambda obj: _get(obj, *path, default=default)


def _count(*path: str) -> Callable[[Obj], int]:
    return lambda obj: _int(obj, *path)


def _ratio(done: tuple[str, ...], of: tuple[str, ...], default: int = 0) -> Callable[[Obj], str]:
    return lambda obj: f"{_int(obj, *done)}/{_get(obj, *of, default=default)}"


def _reference(obj: Obj, *path: str) -> str:
    ref = _get(obj, *path, default={}) or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


NAME: Column = ("Name", "string", _field("metadata", "name"))
AGE: Column = ("Age", "string", lambda o: age(_get(o, "metadata", "creationTimestamp")))
COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        ("Ready", "string", _pod_ready),
        ("Status", "string", pod_status),
        ("Restarts", "string", lambda o: str(_restarts(o))),
    ],
    "Deployment": [
        ("Ready", "string", _ratio(("status", "readyReplicas"), ("spec", "replicas"), 1)),
        ("Up-to-date", "integer", _count("status", "updatedReplicas")),
        ("Available", "integer", _count("status", "availableReplicas")),
    ],
    "ReplicaSet": [
        ("Desired", "integer", _count("spec", "replicas")),
        ("Current", "integer", _count("status", "replicas")),
        ("Ready", "integer", _count("status", "readyReplicas")),
    ],
    "StatefulSet": [
        ("Ready", "string", _ratio(("status", "readyReplicas"), ("spec", "replicas"), 1)),
    ],
    "DaemonSet": [
        ("Desired", "integer", _count("status", "desiredNumberScheduled")),
        ("Current", "integer", _count("status", "currentNumberScheduled")),
        ("Ready", "integer", _count("status", "numberReady")),
    ],
    "Job": [
        ("Status", "string", _job_status),
        ("Completions", "string", _ratio(("status", "succeeded"), ("spec", "completions"), 1)),
    ],
    "Node": [
        ("Status", "string", _node_status),
        ("Roles", "string", _roles),
        ("Version", "string", _field("status", "nodeInfo", "kubeletVersion")),
    ],
    "Namespace": [("Status", "string", _field("status", "phase", default="Active"))],
    "Event": [
        ("Type", "string", _field("type")),
        ("Reason", "string", _field("reason")),
        ("Object", "string", lambda o: _reference(o, "involvedObject").lower()),
        ("Message", "string", _field("message")),
    ],
    "ConfigMap": [("Data", "integer", lambda o: len(_get(o, "data", default={}) or {}))],
    "Service": [
        ("Type", "string", _field("spec", "type", default="ClusterIP")),
        ("Cluster-IP", "string", lambda o: _or_none(_get(o, "spec", "clusterIP"))),
        ("Port(s)", "string", _ports),
    ],
    "PersistentVolumeClaim": [
        ("Status", "string", _field("status", "phase", default="Pending")),
        ("Capacity", "string", _field("status", "capacity", "storage")),
        ("StorageClass", "string", lambda o: _or_none(_get(o, "spec", "storageClassName"))),
    ],
    "HorizontalPodAutoscaler": [
        ("Reference", "string", lambda o: _reference(o, "spec", "scaleTargetRef")),
        ("Targets", "string", _targets),
        ("MinPods", "integer", _field("spec", "minReplicas", default=1)),
        ("MaxPods", "integer", _field("spec", "maxReplicas", default=0)),
        ("Replicas", "integer", _count("status", "currentReplicas")),
    ],
    "PodDisruptionBudget": [
        ("Min Available", "string", lambda o: str(_get(o, "spec", "minAvailable", default="N/A"))),
        (
            "Max Unavailable",
            "string",
            lambda o: str(_get(o, "spec", "maxUnavailable", default="N/A")),
        ),
        ("Allowed Disruptions", "integer", _count("status", "disruptionsAllowed")),
    ],
    "StorageClass": [
        ("Provisioner", "string", _field("provisioner")),
        (
            "AllowVolumeExpansion",
            "string",
            lambda o: str(bool(o.get("allowVolumeExpansion"))).lower(),
        ),
    ],
}


def _containers(obj: Obj, key: str) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[]) or []
    return ",".join(str(c.get(key, "")) for c in containers)


def _internal_ip(node: Obj) -> str:
    addresses = _get(node, "status", "addresses", default=[]) or []
    found = [a.get("address") for a in addresses if a.get("type") == "InternalIP"]
    return str(found[0]) if found else "<none>"


WIDE: dict[str, list[Column]] = {
    "Pod": [
        ("IP", "string", lambda o: _or_none(_get(o, "status", "podIP"))),
        ("Node", "string", lambda o: _or_none(_get(o, "spec", "nodeName"))),
    ],
    "Deployment": [
        ("Containers", "string", lambda o: _containers(o, "name")),
        ("Images", "string", lambda o: _containers(o, "image")),
    ],
    "Node": [("Internal-IP", "string", _internal_ip)],
}
