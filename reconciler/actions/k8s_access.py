"""The Kubernetes API access each action needs: the single source of reconciler's RBAC.

Pure data. ``tests/manifests/test_manifests.py`` checks that the ClusterRole in ``manifests/``
grants exactly :func:`cluster_rules` (reads and the node verbs) and that the namespace
components :mod:`reconciler.actions.k8s_rbac` writes grant exactly :func:`namespaced_rules`
(the workload writes), and that every action of ``actions/k8s.py`` is described here. With the
Kubernetes release, those actions read :data:`KINDS` and :func:`allows` to refuse a ``kind``
the RBAC does not grant before they call the API, so a workflow fails with a clear message
instead of a 403. ``docs/deployment.md`` shows the same table for people.

Least privilege, and what the actions are held to:

- No ``watch``: everything polls (``wait_ready``, drains, Jobs). No ``update``: every change is a
  ``patch``. No ``secrets``, at all: reconciler reads its own secrets from mounted files.
- A mutating action reads its object (``get``), then sends one ``patch`` that carries both the
  change and the idempotency marker (``reconciler.dev/last-action``), so they land together,
  and creates a core/v1 ``Event`` on the object. The scale actions patch ``spec.replicas`` that
  way too: the ``/scale`` subresources would add grants without removing any.
- Deletions: pods only (``delete_pod``, and ``drain_node`` with ``force`` once the Eviction API
  has refused past the deadline), and the Jobs ``shell`` created. A drain evicts through
  ``pods/eviction`` so PodDisruptionBudgets hold.
- The generic ``get``/``list`` read every kind of ``k8s.Kind`` except ConfigMaps (they often
  hold credentials in practice, and no action needs them); the generic ``patch`` changes only
  kinds that a specific action already patches, so it adds no resource to the role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Access:
    """Verbs on one resource of one API group (``""`` is the core group)."""

    group: str
    resource: str  # plural, as in a Role; subresources as "pods/eviction"
    verbs: tuple[str, ...]


#: Every kind the Kubernetes actions name, as (API group, resource). A kind being here does not
#: mean it is granted: see :func:`allows`.
KINDS: Final[dict[str, tuple[str, str]]] = {
    "Namespace": ("", "namespaces"),
    "Pod": ("", "pods"),
    "Node": ("", "nodes"),
    "Event": ("", "events"),
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "StorageClass": ("storage.k8s.io", "storageclasses"),
}

#: The service account of ``shell``'s Jobs, fixed: a workflow cannot name another one. It
#: holds no RBAC and mounts no token; the namespace components with ``--shell`` create it.
SHELL_SERVICE_ACCOUNT: Final = "reconciler-shell"

_READABLE: Final = tuple(kind for kind in KINDS if kind != "ConfigMap")
_PATCHABLE: Final = (
    "Pod",
    "Node",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "HorizontalPodAutoscaler",
)


def _on(verbs: tuple[str, ...], *kinds: str) -> tuple[Access, ...]:
    return tuple(Access(*KINDS[kind], verbs) for kind in kinds)


# What every mutating action adds to its own reads and writes: an Event on the object.
_EVENT: Final = (Access("", "events", ("create",)),)


def _mutating(*kinds: str) -> tuple[Access, ...]:
    """Read the object, patch it (change and marker in one patch), record an Event."""
    return (*_on(("get", "patch"), *kinds), *_EVENT)


#: Per action (and the guardrails' cluster view), the access it needs.
ACCESS: Final[dict[str, tuple[Access, ...]]] = {
    "kubernetes.get": _on(("get",), *_READABLE),
    "kubernetes.list": _on(("list",), *_READABLE),
    "kubernetes.patch": _mutating(*_PATCHABLE),
    # Scaling first lists the namespace's HPAs: a workload an HPA owns is refused.
    "kubernetes.scale_deployment": (
        *_mutating("Deployment"),
        Access("autoscaling", "horizontalpodautoscalers", ("list",)),
    ),
    "kubernetes.scale_statefulset": (
        *_mutating("StatefulSet"),
        Access("autoscaling", "horizontalpodautoscalers", ("list",)),
    ),
    # A rollout restart is a patch of the pod template's restartedAt annotation.
    "kubernetes.restart_deployment": _mutating("Deployment"),
    "kubernetes.delete_pod": (*_mutating("Pod"), Access("", "pods", ("delete",))),
    # The revision history is the Deployment's ReplicaSets (listed by its selector); the old
    # template is patched back onto the Deployment.
    "kubernetes.rollback_deployment": (
        *_mutating("Deployment"),
        Access("apps", "replicasets", ("list",)),
    ),
    # Its `kind` parameter takes Deployment, StatefulSet or DaemonSet.
    "kubernetes.increase_resources": _mutating("Deployment", "StatefulSet", "DaemonSet"),
    "kubernetes.update_hpa": _mutating("HorizontalPodAutoscaler"),
    "kubernetes.cordon_node": _mutating("Node"),
    "kubernetes.uncordon_node": _mutating("Node"),
    # Cordon, list the node's pods (field selector spec.nodeName, polled until they are gone),
    # evict them; delete only with `force`, once the Eviction API has refused past the deadline.
    "kubernetes.drain_node": (
        *_mutating("Node"),
        Access("", "pods", ("list", "delete")),
        Access("", "pods/eviction", ("create",)),
    ),
    # Only a StorageClass with allowVolumeExpansion can grow a claim.
    "kubernetes.expand_pvc": (
        *_mutating("PersistentVolumeClaim"),
        Access("storage.k8s.io", "storageclasses", ("get",)),
    ),
    "kubernetes.wait_ready": _on(
        ("get",), "Deployment", "StatefulSet", "DaemonSet", "Pod", "Node", "Job"
    ),
    # Describe-like: the object of any readable kind, its owners (pod -> ReplicaSet ->
    # Deployment) and its pods, its node, the events about them, and container logs.
    "kubernetes.collect_diagnostics": (
        *_on(("get",), *_READABLE),
        *_on(("list",), "Pod", "ReplicaSet", "Event"),
        Access("", "pods/log", ("get",)),
    ),
    # Removing the owner's selector labels needs the owner (its controller) to read them from.
    "kubernetes.quarantine_pod": (
        *_mutating("Pod"),
        *_on(("get",), "ReplicaSet", "StatefulSet", "DaemonSet"),
    ),
    # `shell` with `image:`: a Job named after the call (a re-run finds it instead of starting a
    # second one), its pod's logs, and the Job deleted afterwards (its pods go with it).
    "shell": (
        Access("batch", "jobs", ("create", "get", "delete")),
        Access("", "pods", ("list",)),
        Access("", "pods/log", ("get",)),
    ),
    # Not an action: what the guardrails' `cluster` view lists before every mutating step.
    "guardrails.cluster_view": _on(
        ("list",),
        "Node",
        "Pod",
        "Deployment",
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ),
}


def _merge(accesses: Iterable[Access]) -> list[Access]:
    """One entry per (group, resource), sorted, with sorted unique verbs."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for access in accesses:
        verbs.setdefault((access.group, access.resource), set()).update(access.verbs)
    return [
        Access(group, resource, tuple(sorted(verbs[group, resource])))
        for group, resource in sorted(verbs)
        if verbs[group, resource]
    ]


def required_rules() -> list[Access]:
    """Everything in :data:`ACCESS`, one entry per (group, resource) with sorted unique verbs:
    what :func:`cluster_rules` and :func:`namespaced_rules` (with ``shell``) grant together."""
    return _merge(access for accesses in ACCESS.values() for access in accesses)


#: Reads the cluster-wide role does not hold: container logs often print tokens and passwords
#: (kube-system's included), so they are read only in the namespaces the operator lists.
_NOT_CLUSTER_WIDE_READS: Final = frozenset({("", "pods/log")})
_READS: Final = frozenset({"get", "list"})
#: The writes the cluster-wide role holds: the node verbs. Cordon and drain patch the Node;
#: a drain evicts the node's pods whatever their namespace (the Eviction API, which keeps
#: PodDisruptionBudgets); every mutating action records an Event (a Node's goes to `default`).
NODE_VERBS: Final = (
    Access("", "nodes", ("patch",)),
    Access("", "pods/eviction", ("create",)),
    Access("", "events", ("create",)),
)
#: What only ``shell`` with ``image:`` needs: granted in the namespaces listed for shell Jobs.
_SHELL_ONLY: Final = frozenset({("batch", "jobs")})


def _split() -> tuple[list[Access], list[Access]]:
    cluster: list[Access] = []
    namespaced: list[Access] = []
    node = {(a.group, a.resource): set(a.verbs) for a in NODE_VERBS}
    for rule in required_rules():
        key = (rule.group, rule.resource)
        wide = set(node.get(key, set()))
        if key not in _NOT_CLUSTER_WIDE_READS:
            wide |= set(rule.verbs) & _READS
        cluster.append(Access(rule.group, rule.resource, tuple(sorted(wide))))
        namespaced.append(Access(rule.group, rule.resource, tuple(sorted(set(rule.verbs) - wide))))
    return _merge(cluster), _merge(namespaced)


def cluster_rules() -> list[Access]:
    """The ClusterRole bound cluster-wide: reads (logs aside) and :data:`NODE_VERBS`; no
    create, patch or delete on any workload, pod or Job."""
    return _split()[0]


def namespaced_rules(*, shell: bool = False) -> list[Access]:
    """The Role bound in each namespace the operator lists: the workload writes (and container
    logs). ``shell``: also the Jobs of ``shell`` with ``image:`` (only where they may run)."""
    return [rule for rule in _split()[1] if shell or (rule.group, rule.resource) not in _SHELL_ONLY]


def allows(action: str, kind: str, verb: str) -> bool:
    """Whether ``action`` is granted ``verb`` on ``kind`` (false for unknown names)."""
    if kind not in KINDS:
        return False
    group, resource = KINDS[kind]
    return any(
        a.group == group and a.resource == resource and verb in a.verbs
        for a in ACCESS.get(action, ())
    )
