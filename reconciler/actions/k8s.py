"""Kubernetes actions: their parameter schemas, flags, and which functions carry them out.

Objects are named by ``namespace`` and ``name`` (``name`` alone for cluster-scoped kinds); the
generic ``get``/``list``/``patch`` take a ``kind`` limited to what the RBAC grants
(:mod:`reconciler.actions.k8s_access`). The implementations live in
:mod:`reconciler.actions.kubeops`; docs/kubernetes.md describes what each does for users.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any, Literal

from pydantic import Field, model_validator

from reconciler.actions.kubeops import (
    diagnostics,
    generic,
    nodes,
    pods,
    readiness,
    resources,
    storage,
    workloads,
)
from reconciler.actions.spec import ActionSpec, Checker, Params, Runner
from reconciler.definitions.durations import Duration

Kind = Literal[
    "Namespace",
    "Pod",
    "Node",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
    "StorageClass",
    "PodDisruptionBudget",
    "Event",
    "ConfigMap",
    "Service",
]
Quantity = str


class ObjectRef(Params):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)


class NodeRef(Params):
    name: str = Field(min_length=1, description="node name")


class GetParams(Params):
    kind: Kind
    namespace: str | None = None
    name: str = Field(min_length=1)


class ListParams(Params):
    kind: Kind
    namespace: str | None = Field(None, description="all namespaces when absent")
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int = Field(500, ge=1, le=5000)


class PatchParams(Params):
    kind: Kind
    namespace: str | None = None
    name: str = Field(min_length=1)
    patch: dict[str, Any] | list[dict[str, Any]]
    patch_type: Literal["strategic", "merge", "json"] = "strategic"


class ScaleParams(ObjectRef):
    replicas: int = Field(ge=0, le=10_000)


class DeletePodParams(ObjectRef):
    grace_period_seconds: int | None = Field(None, ge=0)


class RollbackParams(ObjectRef):
    to_revision: int | None = Field(None, ge=1, description="previous revision when absent")


class IncreaseResourcesParams(ObjectRef):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    container: str | None = Field(None, description="every container when absent")
    memory: Quantity | None = Field(None, description="new memory limit, e.g. 1Gi")
    cpu: Quantity | None = Field(None, description="new CPU limit, e.g. 500m")
    factor: float | None = Field(
        None, gt=1.0, le=10.0, description="multiply current requests and limits"
    )
    max_memory: Quantity | None = None
    max_cpu: Quantity | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> IncreaseResourcesParams:
        if self.memory is None and self.cpu is None and self.factor is None:
            raise ValueError("set memory, cpu or factor")
        return self


class UpdateHpaParams(ObjectRef):
    min_replicas: int | None = Field(None, ge=1)
    max_replicas: int | None = Field(None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateHpaParams:
        if self.min_replicas is None and self.max_replicas is None:
            raise ValueError("set min_replicas or max_replicas")
        return self


class DrainParams(NodeRef):
    force: bool = Field(
        False, description="delete pods the Eviction API refuses (PDB) once the deadline passes"
    )
    timeout: Duration = timedelta(minutes=5)
    grace_period_seconds: int | None = Field(None, ge=0)
    delete_emptydir_data: bool = False


class ExpandPvcParams(ObjectRef):
    size: Quantity | None = Field(None, description="new requested size, e.g. 20Gi")
    factor: float | None = Field(None, gt=1.0, le=10.0, description="multiply the current size")
    max_size: Quantity | None = None

    @model_validator(mode="after")
    def _size_or_factor(self) -> ExpandPvcParams:
        if (self.size is None) == (self.factor is None):
            raise ValueError("set exactly one of size and factor")
        return self


class WaitReadyParams(Params):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "Pod", "Node", "Job"]
    namespace: str | None = None
    name: str = Field(min_length=1)
    timeout: Duration = timedelta(minutes=5)
    interval: Duration = timedelta(seconds=5)


class DiagnosticsParams(Params):
    kind: Kind = "Pod"
    namespace: str | None = None
    name: str = Field(min_length=1)
    include_logs: bool = True
    previous: bool = Field(False, description="logs of the previous container instance")
    tail_lines: int = Field(200, ge=1, le=5000)
    max_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)


class QuarantineParams(ObjectRef):
    label: str = Field("reconciler.dev/quarantined", description="label set to 'true' on the pod")
    remove_labels: list[str] | None = Field(
        None, description="labels removed; the owner's selector labels when absent"
    )


def _k8s(
    name: str,
    summary: str,
    params: type[Params],
    run: Runner,
    check: Checker | None = None,
    *,
    mutating: bool,
    idempotent: bool,
) -> ActionSpec:
    # Every Kubernetes call can be sent as a server-side dry run; a mutating action has a check
    # (its idempotency marker) for a step whose outcome a crash left unknown.
    assert (check is not None) == mutating, name
    return ActionSpec(
        f"kubernetes.{name}",
        summary,
        params,
        mutating=mutating,
        idempotent=idempotent,
        dry_run=True,
        effect="write" if mutating else "read",
        run=run,
        check=check,
        needs_cluster=True,
    )


ACTIONS = [
    _k8s("get", "read one object", GetParams, generic.get, mutating=False, idempotent=True),
    _k8s(
        "list",
        "list objects by kind, namespace and selectors",
        ListParams,
        generic.list_,
        mutating=False,
        idempotent=True,
    ),
    _k8s(
        "patch",
        "patch an object (strategic, merge or JSON patch)",
        PatchParams,
        generic.patch,
        generic.check_patch,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "scale_deployment",
        "set a Deployment's replicas",
        ScaleParams,
        partial(workloads.scale, "Deployment"),
        partial(workloads.check_scale, "Deployment"),
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "scale_statefulset",
        "set a StatefulSet's replicas",
        ScaleParams,
        partial(workloads.scale, "StatefulSet"),
        partial(workloads.check_scale, "StatefulSet"),
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "restart_deployment",
        "rollout restart a Deployment",
        ObjectRef,
        workloads.restart,
        workloads.check_deployment,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "delete_pod",
        "delete a pod so its owner recreates it",
        DeletePodParams,
        pods.delete,
        pods.check_delete,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "rollback_deployment",
        "roll a Deployment back to a previous revision",
        RollbackParams,
        workloads.rollback,
        workloads.check_deployment,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "increase_resources",
        "raise container CPU/memory requests and limits",
        IncreaseResourcesParams,
        resources.increase,
        resources.check,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "update_hpa",
        "change an HPA's min/max replicas",
        UpdateHpaParams,
        workloads.update_hpa,
        workloads.check_hpa,
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "cordon_node",
        "mark a node unschedulable",
        NodeRef,
        nodes.cordon,
        nodes.check_node,
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "uncordon_node",
        "mark a node schedulable",
        NodeRef,
        nodes.uncordon,
        nodes.check_node,
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "drain_node",
        "cordon a node and evict its pods (Eviction API, PDBs respected)",
        DrainParams,
        nodes.drain,
        nodes.check_drain,
        mutating=True,
        idempotent=True,
    ),
    _k8s(
        "expand_pvc",
        "grow a PersistentVolumeClaim",
        ExpandPvcParams,
        storage.expand,
        storage.check,
        mutating=True,
        idempotent=False,
    ),
    _k8s(
        "wait_ready",
        "wait until an object reports ready",
        WaitReadyParams,
        readiness.wait_ready,
        mutating=False,
        idempotent=True,
    ),
    _k8s(
        "collect_diagnostics",
        "describe-like state, events and logs (size-limited, redacted)",
        DiagnosticsParams,
        diagnostics.collect,
        mutating=False,
        idempotent=True,
    ),
    _k8s(
        "quarantine_pod",
        "relabel a pod out of its service",
        QuarantineParams,
        pods.quarantine,
        pods.check_quarantine,
        mutating=True,
        idempotent=True,
    ),
]
