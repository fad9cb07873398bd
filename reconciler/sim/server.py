"""The simulated cluster's HTTP face: the Kubernetes REST paths the catalogue uses, on loopback.

``SimulatedCluster(cluster).start()`` serves on ``127.0.0.1`` (a free port by default); its
``url`` goes into a kubeconfig or a ``kubernetes.client.Configuration``. Requests are handled one
at a time under the cluster's lock (controllers settle before the answer), so a client sees the
same sequence a test script wrote. Paths: ``/api``, ``/apis``, ``/version`` and the resource
lists for discovery and the OpenAPI index (:mod:`reconciler.sim.discovery`); ``/api/v1/...``
and ``/apis/GROUP/VERSION/...`` for objects, with the ``scale``, ``eviction``, ``log`` and
``status`` subresources; tables for ``kubectl get`` (:mod:`reconciler.sim.tables`); watches
(:mod:`reconciler.sim.watch`), which stream outside the lock.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from reconciler.errors import InputError
from reconciler.sim import discovery, gc, subresources, tables, watch
from reconciler.sim.cluster import PATCH_TYPES, REASONS, ApiError, Cluster, Obj
from reconciler.sim.resources import BY_PATH, Resource

MAX_BODY = 3 * 1024 * 1024  # the API server's own request limit


def load_manifests(path: Path) -> list[Any]:
    """Every document of a YAML file (or of the YAML files of a folder)."""
    files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
    documents: list[Any] = []
    try:
        for file in files:
            documents.extend(
                d for d in yaml.load_all(file.read_text(), Loader=yaml.CSafeLoader) if d
            )
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the cluster: {exc}") from exc
    return documents


class SimulatedCluster:
    def __init__(self, cluster: Cluster, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cluster = cluster
        # Every request line served ("PATCH /api/v1/..."), reads too: tests assert that a
        # refused call never reached the cluster. The audit log keeps the writes' bodies.
        self.requests: list[str] = []
        self._stopping = threading.Event()  # ends the watches when the server stops
        attributes = {"cluster": cluster, "requests": self.requests, "stopping": self._stopping}
        handler = type("Handler", (_Handler,), attributes)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sim-cluster", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimulatedCluster:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.cluster.lock:
            self.cluster.history.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    cluster: Cluster
    requests: list[str]
    stopping: threading.Event
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # the audit log records what matters

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- dispatch ------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        self.requests.append(f"{method} {self.path}")
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self._body()
            discovered = discovery.answer(url.path)
            if discovered is not None:
                self._send(200, discovered)
                return
            resource, namespace, name, sub = _route(url.path)
            watching = method == "GET" and not name and watch.requested(query)
            verb = "watch" if watching else _verb(method, name, sub)
            with self.cluster.lock:
                fault = self.cluster.fault(verb, resource.plural + (f"/{sub}" if sub else ""), name)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.code:
                raise ApiError(
                    fault.code,
                    REASONS.get(fault.code, "InternalError"),
                    f"simulated fault: {fault.code}",
                    retry_after=fault.retry_after,
                )
            if verb == "watch":
                as_table = tables.wanted(self.headers.get("Accept", ""))
                streaming = watch.Watch(self.cluster, resource, namespace, query, as_table)
            else:
                with self.cluster.lock:
                    code, answer = self._serve(
                        method, verb, resource, namespace, name, sub, query, body
                    )
        except ApiError as error:
            self._send(error.code, error.status(), retry_after=error.retry_after)
            return
        except InputError as error:
            self._send(400, ApiError(400, "BadRequest", str(error)).status())
            return
        if verb == "watch":
            streaming.serve(self, self.stopping)
        elif isinstance(answer, str):
            self._send_text(code, answer)
        elif verb in ("get", "list") and not sub and tables.wanted(self.headers.get("Accept", "")):
            items = answer["items"] if verb == "list" else [answer]
            version = str(answer["metadata"].get("resourceVersion", ""))
            include = query.get("includeObject", "")
            self._send(code, tables.table(resource.kind, items, version, include))
        else:
            self._send(code, answer)

    def _serve(
        self,
        method: str,
        verb: str,
        resource: Resource,
        namespace: str | None,
        name: str | None,
        sub: str | None,
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Obj | str]:
        cluster = self.cluster
        dry_run = _dry_run(method, sub, query, body)
        if verb not in ("get", "list"):
            cluster.audit.append(
                {
                    "verb": verb,
                    "resource": resource.plural,
                    "subresource": sub,
                    "namespace": namespace,
                    "name": name,
                    "dry_run": dry_run,
                    "content_type": self.headers.get("Content-Type", ""),
                    "body": body,
                }
            )
        if sub == "log":
            return 200, subresources.log_of(
                cluster, namespace or "", name or "", query.get("container")
            )
        if sub == "eviction":
            return 201, subresources.evict(cluster, namespace or "", name or "", dry_run)
        if sub == "scale":
            assert name is not None
            if method == "GET":
                return 200, subresources.scale_of(cluster, resource, namespace or "", name)
            replicas = _scale_replicas(
                cluster,
                resource,
                namespace or "",
                name,
                body,
                method,
                self.headers.get("Content-Type", ""),
            )
            return 200, subresources.set_scale(
                cluster, resource, namespace or "", name, replicas, dry_run
            )
        if verb == "list":
            items = cluster.select(
                resource, namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
            )
            return 200, {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(cluster.history.latest)},
                "items": items,
            }
        if verb == "create":
            return 201, cluster.create(resource, namespace, body, dry_run)
        assert name is not None
        if verb == "get":
            return 200, cluster.get(resource, namespace, name)
        if verb == "update":
            return 200, cluster.replace(resource, namespace, name, body, dry_run)
        if verb == "patch":
            content_type = self.headers.get("Content-Type", "")
            return 200, cluster.patch(resource, namespace, name, body, content_type, dry_run)
        deleted = cluster.delete(resource, namespace, name, dry_run, gc.policy(query, body))
        if resource.kind == "Pod":
            return 200, deleted
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "kind": resource.plural, "uid": deleted["metadata"]["uid"]},
        }

    # -- I/O -----------------------------------------------------------------------------------
    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "the request is too large")
        if not length:
            return None
        try:
            return json.loads(self.rfile.read(length))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"the body is not JSON: {exc}") from exc

    def _send(self, code: int, data: Any, retry_after: float | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if retry_after is not None:
            self.send_header("Retry-After", str(int(retry_after)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_text(self, code: int, text: str) -> None:
        payload = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _route(path: str) -> tuple[Resource, str | None, str | None, str | None]:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({path})"
        )
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = BY_PATH.get((group, version, rest[0]))
    if resource is None or len(rest) > 3:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({path})"
        )
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub not in (None, "status", "scale", "eviction", "log"):
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({path})"
        )
    return resource, namespace, name, None if sub == "status" else sub


def _dry_run(method: str, sub: str | None, query: dict[str, str], body: Any) -> bool:
    """``?dryRun=All``, or ``dryRun: [All]`` in the body's DeleteOptions (kubectl sends a
    delete's and an eviction's dry run there, not in the query)."""
    if query.get("dryRun") == "All":
        return True
    options = body.get("deleteOptions") if sub == "eviction" and isinstance(body, dict) else body
    if method not in ("DELETE", "POST") or not isinstance(options, dict):
        return False
    if method == "POST" and sub != "eviction":
        return False
    return "All" in (options.get("dryRun") or [])


def _verb(method: str, name: str | None, sub: str | None) -> str:
    """The API verb of a request; 405 for a method the path does not take (as the API server
    answers: no PATCH or PUT of a collection, no POST to an object)."""
    if (name is None and method in ("PUT", "PATCH", "DELETE")) or (
        name is not None and sub is None and method == "POST"
    ):
        where = "a collection" if name is None else "an object"
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} on {where}")
    if sub == "eviction":
        return "evict"
    if method == "GET":
        return "get" if name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]


def _scale_replicas(
    cluster: Cluster,
    resource: Resource,
    namespace: str,
    name: str,
    body: Any,
    method: str,
    content_type: str,
) -> Any:
    """The replicas a PUT or PATCH of a ``scale`` subresource asks for."""
    if method == "PUT":
        return (body or {}).get("spec", {}).get("replicas")
    apply = PATCH_TYPES.get(content_type.split(";")[0].strip())
    if apply is None:
        raise ApiError(415, "UnsupportedMediaType", f"unknown patch type {content_type!r}")
    patched = apply(subresources.scale_of(cluster, resource, namespace, name), body)
    return patched.get("spec", {}).get("replicas") if isinstance(patched, dict) else None
