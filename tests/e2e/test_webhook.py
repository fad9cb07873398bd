"""The webhook under pressure, over real HTTP: concurrent amtool deliveries, the intake's bounds
(503 with Retry-After), oversized bodies (413, connection closed), clients that went away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import Remote, Running, alert, fixture_files, payload, settings, wait_for

from reconciler.app.auth import Tokens
from reconciler.app.http import create_app
from reconciler.app.service import Service
from reconciler.app.webhook import MAX_BODY

BROKEN = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: broken}
spec:
  steps:
    - {id: a, action: core.set, with: {}, needs: [missing]}
"""


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def metric(running: Running, name: str) -> float:
    """A sample of /metrics (0 when absent)."""
    text = running.client.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def raw_exchange(url: str, head: bytes, body_parts: list[bytes]) -> tuple[bytes, bool]:
    """Send a request over a plain socket; return the answer and whether the server then
    closed the connection (read to EOF within 10 s)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        with contextlib.suppress(OSError):  # the server may close while we still send
            for part in body_parts:
                connection.sendall(part)
        answer = b""
        closed = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            answer += chunk
        return answer, closed


# -- amtool: concurrent deliveries without startsAt -------------------------------------------


def test_concurrent_amtool_deliveries_store_one_alert_and_start_one_execution(
    tmp_path: Path, remote: Remote
) -> None:
    bare = [{"labels": {"alertname": "Slow", "pod": "amtool-1", "namespace": "prod"}}]
    deliveries = 40

    async def deliver(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/api/v1/alerts", json=bare) for _ in range(deliveries))
            )
        return [a.status_code for a in answers]

    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        assert asyncio.run(deliver(running.url)) == [200] * deliveries
        running.settled()
        stored = [
            a
            for a in running.client.get("/api/v1/alerts").json()
            if a["labels"]["alertname"] == "Slow"
        ]
        assert len(stored) == 1
        assert stored[0]["deliveries"] == deliveries
        assert len(running.executions(policy="slow")) == 1


# -- the intake's bounds ------------------------------------------------------------------------


def test_past_max_queued_alerts_the_webhook_answers_503_with_retry_after_until_evaluated(
    tmp_path: Path,
) -> None:
    # No revision is active (the definitions do not validate): alerts wait, queued.
    remote = Remote(tmp_path / "git", {"broken.yaml": BROKEN})
    with Running(settings(tmp_path, remote.url, max_queued_alerts=3)) as running:
        wait_for(lambda: running.status()["last_error"])
        for pod in ("a", "b", "c"):
            assert running.fire(alert("Quick", pod)).status_code == 200
        refused = running.fire(alert("Quick", "d"))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert "max_queued_alerts" in refused.json()["detail"]
        assert metric(running, "reconciler_alerts_queued") == 3
        assert metric(running, 'reconciler_webhook_refused_total{reason="alerts_queued"}') == 1
        remote.force_push(fixture_files(), "valid definitions")  # evaluation drains the queue
        wait_for(lambda: metric(running, "reconciler_alerts_queued") == 0)
        assert running.fire(alert("Quick", "d")).status_code == 200  # sent again: accepted


def test_past_max_bytes_in_flight_the_webhook_answers_503_until_the_bytes_are_released(
    tmp_path: Path, remote: Remote
) -> None:
    limit = 1024 * 1024
    with Running(settings(tmp_path, remote.url, max_bytes_in_flight=limit)) as running:
        host, port = running.url.removeprefix("http://").split(":")
        # A client that declares a whole 1 MiB body and sends only part of it: held in flight.
        slow = socket.create_connection((host, int(port)), timeout=10)
        try:
            slow.sendall(
                b"POST /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {limit}\r\n\r\n".encode()
                + b"["
            )
            wait_for(lambda: metric(running, "reconciler_webhook_bytes_in_flight") == limit)
            refused = running.fire(alert("Quick"))
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert "max_bytes_in_flight" in refused.json()["detail"]
            assert (
                metric(running, 'reconciler_webhook_refused_total{reason="bytes_in_flight"}') == 1
            )
        finally:
            slow.close()  # its bytes are given back
        wait_for(lambda: metric(running, "reconciler_webhook_bytes_in_flight") == 0)
        assert running.fire(alert("Quick")).status_code == 200


def test_past_max_deliveries_in_flight_the_webhook_answers_503_before_reading_the_body(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url, max_deliveries_in_flight=1)) as running:
        host, port = running.url.removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)), timeout=10)  # one delivery, held
        try:
            slow.sendall(
                b"POST /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n["
            )
            wait_for(lambda: metric(running, "reconciler_webhook_bytes_in_flight") == 1000)
            refused = running.fire(alert("Quick"))
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert "max_deliveries_in_flight" in refused.json()["detail"]
            name = 'reconciler_webhook_refused_total{reason="deliveries_in_flight"}'
            assert metric(running, name) == 1
        finally:
            slow.close()
        wait_for(lambda: metric(running, "reconciler_webhook_bytes_in_flight") == 0)
        assert running.fire(alert("Quick")).status_code == 200


# -- oversized bodies ---------------------------------------------------------------------------


def test_a_declared_body_over_1_mib_is_refused_with_413_and_the_connection_closed(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        head = (
            b"POST /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {2 * MAX_BODY}\r\n\r\n".encode()
        )
        answer, closed = raw_exchange(running.url, head, [b"[" + b" " * 65536] * 4)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in answer.lower()
        assert closed


def test_a_chunked_body_passing_1_mib_is_refused_with_413_and_the_connection_closed(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        head = (
            b"POST /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 65536
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        answer, closed = raw_exchange(running.url, head, [chunk] * 40)  # 2.5 MiB, never ended
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in answer.lower()
        assert closed


# -- clients that went away ---------------------------------------------------------------------


def test_a_delivery_whose_client_disconnected_is_dropped_before_it_is_stored(
    tmp_path: Path, remote: Remote
) -> None:
    """Driven through the app's ASGI interface: the server's message for a client that went
    away (``http.disconnect``) arrives right after the body, a moment real sockets cannot pin."""
    service = Service(settings(tmp_path, remote.url))
    app = create_app(service, webhook=Tokens({}), api=Tokens({}))
    body = json.dumps(payload(alert("Quick"))).encode()

    async def deliver() -> list[dict[str, Any]]:
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/alerts",
            "raw_path": b"/api/v1/alerts",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }
        await app(scope, receive, send)
        return sent

    sent = asyncio.run(deliver())  # the service is not started: storing would fail loudly

    assert sent[0]["status"] == 503
    assert service.metrics.webhook_abandoned._value.get() == 1
    refused = service.metrics.webhook_refused.labels(reason="store")._value.get()
    assert refused == 0  # it never tried to store
