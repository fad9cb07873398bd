"""Every Kubernetes API call of the actions: the kind → typed-client table, and :func:`call`.

The actions name objects by :class:`Ref` (kind, namespace, name) and call :func:`read`,
:func:`list_objects`, :func:`patch`, ... here; each goes through the official client's typed API
(``CoreV1Api``, ``AppsV1Api``, ...) in a worker thread (``KubeCluster.run``), with a per-call
timeout, and every failure is classified by :mod:`.errors`. Before any call, every kind, name,
namespace and selector is checked by :mod:`.names` (a name such as ``..`` would otherwise steer
the request to another object: the client puts names into the URL path as they are). Objects
come back as the API server's JSON (the client's raw answer, not its models): nothing is lost
in a round trip (a rollback writes a ReplicaSet's template back verbatim) and outputs are plain
JSON.

The official client is imported when a call is made, never at import: importing it costs a
second (its ~900 model modules), and the catalogue (``reconciler validate``, ``actions``) reads
this package's declarations without calling a cluster (SPEC §3).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from reconciler.actions import k8s_access
from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, names
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    import kubernetes

Obj = dict[str, Any]

REQUEST_TIMEOUT = 30.0  # seconds per API call; tests lower it

PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


@dataclass(frozen=True)
class KindApi:
    """Where a kind lives in the typed client: its API class (by name: the client is imported
    only when a call is made) and the snake name in its methods."""

    api: str  # "CoreV1Api": a class of kubernetes.client
    resource: str  # "namespaced_deployment" reads as read_namespaced_deployment
    namespaced: bool

    def method(
        self, client: kubernetes.client.ApiClient, verb: str, everywhere: bool = False
    ) -> Any:
        api = getattr(kube_client(), self.api)(client)
        if verb == "list" and self.namespaced and everywhere:
            return getattr(
                api, f"list_{self.resource.removeprefix('namespaced_')}_for_all_namespaces"
            )
        return getattr(api, f"{verb}_{self.resource}")


def kube_client() -> ModuleType:
    """``kubernetes.client``, imported on the first call that needs it."""
    import kubernetes.client

    return kubernetes.client


_core = "CoreV1Api"
_apps = "AppsV1Api"

KINDS: dict[str, KindApi] = {
    "Namespace": KindApi(_core, "namespace", namespaced=False),
    "Node": KindApi(_core, "node", namespaced=False),
    "Pod": KindApi(_core, "namespaced_pod", namespaced=True),
    "Event": KindApi(_core, "namespaced_event", namespaced=True),
    "ConfigMap": KindApi(_core, "namespaced_config_map", namespaced=True),
    "Service": KindApi(_core, "namespaced_service", namespaced=True),
    "PersistentVolumeClaim": KindApi(_core, "namespaced_persistent_volume_claim", namespaced=True),
    "Deployment": KindApi(_apps, "namespaced_deployment", namespaced=True),
    "ReplicaSet": KindApi(_apps, "namespaced_replica_set", namespaced=True),
    "StatefulSet": KindApi(_apps, "namespaced_stateful_set", namespaced=True),
    "DaemonSet": KindApi(_apps, "namespaced_daemon_set", namespaced=True),
    "Job": KindApi("BatchV1Api", "namespaced_job", namespaced=True),
    "HorizontalPodAutoscaler": KindApi(
        "AutoscalingV2Api", "namespaced_horizontal_pod_autoscaler", namespaced=True
    ),
    "PodDisruptionBudget": KindApi(
        "PolicyV1Api", "namespaced_pod_disruption_budget", namespaced=True
    ),
    "StorageClass": KindApi("StorageV1Api", "storage_class", namespaced=False),
}


def require_grant(action: str, kind: str, verb: str) -> None:
    """Refuse, before any call, a kind reconciler's RBAC does not grant this action."""
    if not k8s_access.allows(action, kind, verb):
        granted = sorted(k for k in KINDS if k8s_access.allows(action, k, verb))
        raise PermanentError(
            f"{action} cannot {verb} {kind}: reconciler's RBAC (manifests/) does not grant it; "
            f"kinds it can {verb}: {', '.join(granted) or 'none'}"
        )


@dataclass(frozen=True)
class Ref:
    """One object: its kind, namespace (None for cluster-scoped kinds) and name."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )

    @classmethod
    def of(cls, kind: str, namespace: str | None, name: str) -> Ref:
        """A reference checked against the kind's scope (a clear error instead of a 404)."""
        names.check_kind(kind, KINDS.keys())
        names.check_ref(kind, namespace or None, name)
        scoped = KINDS[kind].namespaced
        if scoped and not namespace:
            raise PermanentError(f"{kind} {name}: a {kind} is namespaced: set namespace")
        if not scoped and namespace:
            raise PermanentError(
                f"{kind} {name}: a {kind} is cluster-scoped: leave namespace out (got {namespace!r})"
            )
        return cls(kind, namespace or None, name)

    @classmethod
    def to(cls, obj: Obj) -> Ref:
        metadata = obj.get("metadata") or {}
        return cls(
            str(obj.get("kind", "")), metadata.get("namespace"), str(metadata.get("name", ""))
        )

    def args(self) -> tuple[str, ...]:
        """Positional arguments of the typed client's per-object methods: name[, namespace].

        Every per-object call takes its path from here, so the names are checked here, before
        any request (:mod:`.names`)."""
        names.check_kind(self.kind, KINDS.keys())
        names.check_ref(self.kind, self.namespace, self.name)
        return (self.name, self.namespace) if self.namespace else (self.name,)


async def call(
    cluster: KubeCluster, fn: Callable[..., Any], *args: Any, verb: str, what: object, **kwargs: Any
) -> Any:
    """Call a typed-client method in a worker thread; failures become action errors."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        return await cluster.run(fn, *args, **kwargs)
    except ApiException as exc:
        raise errors.classify(exc, verb, str(what)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise errors.unreachable(exc, verb, str(what), cluster.name) from exc


async def call_json(
    cluster: KubeCluster, fn: Callable[..., Any], *args: Any, verb: str, what: object, **kwargs: Any
) -> Any:
    """Like :func:`call`, answering the server's JSON as plain data (no client models)."""
    return await call(cluster, _raw_json, fn, *args, verb=verb, what=what, **kwargs)


def _raw_json(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    response = fn(*args, _preload_content=False, **kwargs)
    try:
        data = response.data
    finally:
        response.release_conn()
    return json.loads(data) if data else None


async def read(cluster: KubeCluster, ref: Ref) -> Obj:
    args = ref.args()
    fn = KINDS[ref.kind].method(cluster.api, "read")
    obj = await call_json(cluster, fn, *args, verb="get", what=ref)
    obj.setdefault("kind", ref.kind)  # lists drop their items' kind; single reads keep it
    return dict(obj)


async def list_objects(
    cluster: KubeCluster,
    kind: str,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
) -> tuple[list[Obj], str | None]:
    """Objects of a kind (in every namespace when ``namespace`` is None) and a continue token."""
    names.check_kind(kind, KINDS.keys())
    if namespace is not None:
        names.check_namespace(namespace)
    if label_selector is not None:
        names.check_label_selector(label_selector)
    if field_selector is not None:
        names.check_field_selector(field_selector)
    table = KINDS[kind]
    fn = table.method(cluster.api, "list", everywhere=namespace is None)
    args = (namespace,) if table.namespaced and namespace is not None else ()
    options = {
        k: v
        for k, v in (
            ("label_selector", label_selector),
            ("field_selector", field_selector),
            ("limit", limit),
        )
        if v is not None
    }
    where = f"{kind} objects" + (f" in namespace {namespace}" if namespace else "")
    answer = await call_json(cluster, fn, *args, verb="list", what=where, **options)
    items = [{**item, "kind": item.get("kind") or kind} for item in answer.get("items") or []]
    token = (answer.get("metadata") or {}).get("continue") or None
    return items, token


async def patch(
    cluster: KubeCluster, ref: Ref, body: Any, patch_type: str, *, dry_run: bool
) -> Obj:
    args = ref.args()
    fn = KINDS[ref.kind].method(cluster.api, "patch")
    answer = await call_json(
        cluster,
        fn,
        *args,
        body,
        verb="patch",
        what=ref,
        _content_type=PATCH_TYPES[patch_type],
        **_dry(dry_run),
    )
    return dict(answer)


async def delete_pod(
    cluster: KubeCluster, ref: Ref, *, uid: str | None, grace: int | None, dry_run: bool
) -> None:
    """Delete a pod; ``uid`` makes sure it is still the pod that was read (else 409)."""
    options: Obj = {}
    if uid:
        options["preconditions"] = {"uid": uid}
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    fn = kube_client().CoreV1Api(cluster.api).delete_namespaced_pod
    await call_json(
        cluster, fn, *ref.args(), verb="delete", what=ref, body=options, **_dry(dry_run)
    )


async def evict(cluster: KubeCluster, ref: Ref, *, grace: int | None, dry_run: bool) -> None:
    """Evict a pod through the Eviction API (its PodDisruptionBudgets decide: 429 when not)."""
    body: Obj = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": ref.name, "namespace": ref.namespace},
    }
    if grace is not None:
        body["deleteOptions"] = {"gracePeriodSeconds": grace}
    fn = kube_client().CoreV1Api(cluster.api).create_namespaced_pod_eviction
    await call_json(cluster, fn, *ref.args(), body, verb="evict", what=ref, **_dry(dry_run))


async def create_event(cluster: KubeCluster, namespace: str, event: Obj) -> Obj:
    names.check_namespace(namespace)
    names.check_name("Event", str(event["metadata"]["name"]))
    fn = kube_client().CoreV1Api(cluster.api).create_namespaced_event
    what = f"Event {namespace}/{event['metadata']['name']}"
    return dict(await call_json(cluster, fn, namespace, event, verb="create", what=what))


async def pod_log(
    cluster: KubeCluster,
    ref: Ref,
    *,
    container: str,
    tail_lines: int,
    previous: bool,
    limit_bytes: int,
) -> str:
    fn = kube_client().CoreV1Api(cluster.api).read_namespaced_pod_log
    raw = await call(
        cluster,
        _raw_bytes,
        fn,
        *ref.args(),
        verb="get log of",
        what=f"{ref} container {container}",
        container=container,
        tail_lines=tail_lines,
        previous=previous or None,
        limit_bytes=limit_bytes,
    )
    return str(raw.decode("utf-8", "replace"))


def _raw_bytes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
    response = fn(*args, _preload_content=False, **kwargs)
    try:
        return bytes(response.data or b"")
    finally:
        response.release_conn()


def _dry(dry_run: bool) -> dict[str, str]:
    return {"dry_run": "All"} if dry_run else {}
