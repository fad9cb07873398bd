"""The simulated cluster's state and verbs: objects by resource, namespace and name.

Called by the HTTP layer (:mod:`reconciler.sim.server`), one request at a time under a lock;
every mutation runs the controllers (:mod:`reconciler.sim.controllers`) before it answers, so a
client sees a settled cluster; a delete takes what the object owns (:mod:`reconciler.sim.gc`);
every stored or deleted object goes into :attr:`Cluster.history`, which watches read.
Mutating requests go into :attr:`Cluster.audit`; scripted faults
(:class:`Fault`) make a request fail or slow. Errors are :class:`ApiError` with the status code
and reason the real API server uses.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.sim import controllers, gc, patches, selectors
from reconciler.sim.history import History
from reconciler.sim.resources import BY_KIND, Resource, of_object

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource plural.group, namespace, name)

PATCH_TYPES = {
    "application/merge-patch+json": patches.merge_patch,
    "application/strategic-merge-patch+json": patches.strategic_merge_patch,
    "application/json-patch+json": patches.json_patch,
}


class ApiError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    def status(self) -> Obj:
        """A ``Status`` object, as the API server answers errors."""
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass
class Fault:
    """Make matching requests fail (``code``) or answer late (``delay`` seconds), ``times`` times.

    ``verb`` is get, list, watch, create, update, patch, delete or evict; ``resource`` a plural
    (``deployments``, ``pods/eviction``); None matches any."""

    code: int | None = 500
    verb: str | None = None
    resource: str | None = None
    name: str | None = None
    times: int = 1
    delay: float = 0.0
    retry_after: float | None = None

    def matches(self, verb: str, resource: str, name: str | None) -> bool:
        return (
            self.times > 0
            and self.verb in (None, verb)
            and self.resource in (None, resource)
            and self.name in (None, name)
        )


REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


@dataclass
class Cluster:
    objects: dict[Key, Obj] = field(default_factory=dict)
    audit: list[Obj] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    serial: Iterator[int] = field(default_factory=itertools.count)  # for generated names
    history: History = field(init=False)  # recent changes, for watches

    def __post_init__(self) -> None:
        self.history = History(self.lock)

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_manifests(cls, manifests: Iterable[Any]) -> Cluster:
        """A cluster holding these objects (documents of kinds it does not serve are skipped;
        ``kind: List`` is unpacked), settled by its controllers."""
        cluster = cls()
        for manifest in manifests:
            items = manifest.get("items", []) if _is_list(manifest) else [manifest]
            for item in items:
                resource = of_object(item) if isinstance(item, dict) else None
                if resource is not None:
                    cluster._store(resource, cluster._complete(resource, copy.deepcopy(item)))
        controllers.settle(cluster)
        return cluster

    # -- reading -------------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        found = self.objects.get(_key(resource, namespace, name))
        if found is None:
            where = f" in namespace {namespace}" if namespace else ""
            raise ApiError(404, "NotFound", f'{resource.plural} "{name}" not found{where}')
        return copy.deepcopy(found)

    def select(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[Obj]:
        tests = []
        if label_selector:
            tests.append(selectors.labels(label_selector))
        if field_selector:
            tests.append(selectors.fields(field_selector))
        prefix = _kind_key(resource)
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == prefix
            and (namespace is None or ns == namespace)
            and all(t(obj) for t in tests)
        ]

    def items(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Stored objects of a kind (not copies: for the controllers)."""
        prefix = _kind_key(BY_KIND[kind])
        return [
            obj
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == prefix and (namespace is None or ns == namespace)
        ]

    # -- writing -------------------------------------------------------------------------------
    def create(
        self, resource: Resource, namespace: str | None, body: Obj, dry_run: bool = False
    ) -> Obj:
        self._check_body(resource, namespace, body)
        obj = self._complete(resource, copy.deepcopy(body), namespace)
        if _key(resource, namespace, obj["metadata"]["name"]) in self.objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{resource.plural} "{obj["metadata"]["name"]}" already exists',
            )
        return self._commit(resource, obj, dry_run)

    def replace(
        self, resource: Resource, namespace: str | None, name: str, body: Obj, dry_run: bool = False
    ) -> Obj:
        self._check_body(resource, namespace, body)
        current = self.get(resource, namespace, name)
        wanted = str(body.get("metadata", {}).get("resourceVersion") or "")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        obj = copy.deepcopy(body)
        obj["metadata"] = {**current["metadata"], **obj.get("metadata", {})}
        return self._commit(resource, self._changed(resource, current, obj), dry_run)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        dry_run: bool = False,
    ) -> Obj:
        apply = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if apply is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
            )
        current = self.get(resource, namespace, name)
        try:
            obj = apply(current, body)
        except patches.PatchError as exc:
            raise ApiError(422, "Invalid", str(exc)) from exc
        if not isinstance(obj, dict):
            raise ApiError(422, "Invalid", "the patch does not give an object")
        obj["metadata"]["name"] = name
        return self._commit(resource, self._changed(resource, current, obj), dry_run)

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        dry_run: bool = False,
        propagation: str = "Background",
    ) -> Obj:
        """Delete an object and (unless ``propagation`` is Orphan) what it owns."""
        current = self.get(resource, namespace, name)
        if not dry_run:
            self._forget(_key(resource, namespace, name))
            gc.collect(self, current, propagation)
            controllers.settle(self)
        return current

    # -- helpers -------------------------------------------------------------------------------
    def _commit(self, resource: Resource, obj: Obj, dry_run: bool) -> Obj:
        """Store (unless a dry run), let the controllers react, answer the stored object."""
        controllers.validate(self, resource, obj)
        if dry_run:
            return obj
        self._store(resource, obj)
        controllers.settle(self)
        return self.get(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    def _store(self, resource: Resource, obj: Obj) -> None:
        version = next(self._versions)
        obj["metadata"]["resourceVersion"] = str(version)
        key = _key(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        change = "MODIFIED" if key in self.objects else "ADDED"
        self.objects[key] = obj
        self.history.record(version, change, key[0], obj)

    def _forget(self, key: Key) -> None:
        obj = self.objects.pop(key, None)
        if obj is not None:
            version = next(self._versions)
            obj["metadata"]["resourceVersion"] = str(version)
            self.history.record(version, "DELETED", key[0], obj)

    def remove(self, kind: str, namespace: str | None, name: str) -> None:
        """A controller (or the garbage collector) deletes an object."""
        self._forget(_key(BY_KIND[kind], namespace, name))

    def touch(self, resource: Resource, obj: Obj) -> None:
        """A controller changed a stored object: give it a new resourceVersion."""
        self._store(resource, obj)

    def _complete(self, resource: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        """Fill what the API server fills: namespace, uid, creationTimestamp, generation."""
        metadata = obj.setdefault("metadata", {})
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if resource.namespaced:
            metadata["namespace"] = namespace or metadata.get("namespace") or "default"
        else:
            metadata.pop("namespace", None)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if not metadata.get("name"):
            raise ApiError(422, "Invalid", f"{resource.kind}: metadata.name: Required value")
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", now())
        metadata.setdefault("generation", 1)
        return obj

    def _changed(self, resource: Resource, current: Obj, obj: Obj) -> Obj:
        """Keep what a client may not change; a spec change bumps the generation."""
        metadata = obj.setdefault("metadata", {})
        for kept in ("uid", "creationTimestamp", "namespace", "generation"):
            if kept in current["metadata"]:
                metadata[kept] = current["metadata"][kept]
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if obj.get("spec") != current.get("spec"):
            metadata["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return obj

    @staticmethod
    def _check_body(resource: Resource, namespace: str | None, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        kind = body.get("kind")
        if kind not in (None, resource.kind):
            raise ApiError(
                400, "BadRequest", f"the kind of the body ({kind}) is not {resource.kind}"
            )
        body_namespace = body.get("metadata", {}).get("namespace")
        if resource.namespaced and body_namespace and namespace and body_namespace != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )

    def fault(self, verb: str, resource: str, name: str | None) -> Fault | None:
        """The scripted fault for this request, if any (counted down)."""
        for fault in self.faults:
            if fault.matches(verb, resource, name):
                fault.times -= 1
                return fault
        return None


def _kind_key(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}"


def _key(resource: Resource, namespace: str | None, name: str) -> Key:
    return (_kind_key(resource), (namespace or "") if resource.namespaced else "", name)


def _is_list(manifest: Any) -> bool:
    return isinstance(manifest, dict) and str(manifest.get("kind", "")).endswith("List")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
