"""Watches on the simulated cluster: ``GET .../pods?watch=true`` answers a chunked stream of
JSON lines ``{"type": ADDED|MODIFIED|DELETED|ERROR, "object": ...}``.

Called by the HTTP layer (:mod:`reconciler.sim.server`) without the cluster's lock held (a watch
lasts); it takes the lock to read :attr:`Cluster.history` and waits on its condition for more.
As the API server does: without a ``resourceVersion`` (or with ``0``) the stream starts with an
ADDED event per current object; from a list's ``resourceVersion`` it sends what changed since
(an ERROR 410 ``Expired`` when that is no longer kept); label and field selectors filter the
events; the stream ends after ``timeoutSeconds`` or when the server stops.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from reconciler.sim import selectors, tables
from reconciler.sim.cluster import ApiError, Cluster, Obj
from reconciler.sim.resources import Resource

DEFAULT_TIMEOUT = 1800.0  # seconds; the API server picks 30-60 minutes


def requested(query: dict[str, str]) -> bool:
    return query.get("watch") in ("true", "1")


class Watch:
    """One watch request: what it selects and how each event's object is rendered."""

    def __init__(
        self,
        cluster: Cluster,
        resource: Resource,
        namespace: str | None,
        query: dict[str, str],
        as_table: bool,
    ) -> None:
        self.cluster = cluster
        self.resource = resource
        self.namespace = namespace
        self.query = query
        self.as_table = as_table
        self.kind = f"{resource.plural}.{resource.group}"
        self.tests: list[Callable[[Obj], bool]] = []
        if query.get("labelSelector"):
            self.tests.append(selectors.labels(query["labelSelector"]))
        if query.get("fieldSelector"):
            self.tests.append(selectors.fields(query["fieldSelector"]))
        version = query.get("resourceVersion") or "0"
        if not version.isdigit():
            raise ApiError(400, "BadRequest", f"resourceVersion {version!r} is not a number")
        self.version = int(version)
        try:
            seconds = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "timeoutSeconds is not a number") from exc
        self.deadline = time.monotonic() + seconds

    def serve(self, handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        """Stream events to ``handler``'s client until the deadline, a stop or a disconnect."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        history = self.cluster.history
        with self.cluster.lock:
            if self.version == 0:
                events = [("ADDED", obj) for obj in self._current()]
                cursor = history.latest
            else:
                events, cursor = self._since(self.version)
        try:
            while True:
                for type_, obj in events:
                    _chunk(handler, json.dumps({"type": type_, "object": self._render(obj)}))
                if any(type_ == "ERROR" for type_, _ in events):
                    break
                with self.cluster.lock:
                    seen = cursor
                    history.changed.wait_for(
                        lambda: history.latest > seen or stopping.is_set(),  # noqa: B023
                        timeout=max(self.deadline - time.monotonic(), 0),
                    )
                    if stopping.is_set() or time.monotonic() >= self.deadline:
                        break
                    events, cursor = self._since(cursor)
            _chunk(handler, "")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away

    def _current(self) -> list[Obj]:
        return [
            obj
            for obj in self.cluster.select(self.resource, self.namespace)
            if all(test(obj) for test in self.tests)
        ]

    def _since(self, cursor: int) -> tuple[list[tuple[str, Obj]], int]:
        history = self.cluster.history
        changes = history.since(cursor)
        if changes is None:
            gone = ApiError(410, "Expired", f"too old resource version: {cursor}").status()
            return [("ERROR", gone)], history.latest
        events = [
            (change.type, change.object)
            for change in changes
            if change.kind == self.kind
            and self.namespace in (None, change.object["metadata"].get("namespace"))
            and all(test(change.object) for test in self.tests)
        ]
        return events, history.latest

    def _render(self, obj: Obj) -> Any:
        if not self.as_table or obj.get("kind") == "Status":
            return obj
        version = str(obj.get("metadata", {}).get("resourceVersion", ""))
        return tables.table(self.resource.kind, [obj], version, self.query.get("includeObject", ""))


def _chunk(handler: BaseHTTPRequestHandler, line: str) -> None:
    """One chunk of a chunked response: a JSON line, or the empty last chunk."""
    data = (line + "\n").encode() if line else b""
    handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    handler.wfile.flush()
