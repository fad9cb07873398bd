"""The OpenAPI document lists every status the service answers, route by route.

Each route is driven through its answers (success and every refusal a test can provoke) over real
HTTP; every (route, status) seen must be declared in ``/openapi.json``, so generated clients and
schemathesis know them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from servicekit import Remote, Running, alert, payload, settings, wait_for

from reconciler.app.auth import Tokens

JSON = {"Content-Type": "application/json"}


class Recorder:
    """Every (method, path, status) a client saw."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        self.seen.add((request.method, request.url.path, response.status_code))


def client(running: Running, recorder: Recorder, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=running.url, headers=headers, timeout=30, event_hooks={"response": [recorder]}
    )


def drive(running: Running, recorder: Recorder, *, token: str, webhook: str) -> None:
    port = running.url.rpartition(":")[2]
    with (
        client(running, recorder, token) as http,
        client(running, recorder, None) as anonymous,
        client(running, recorder, webhook) as alertmanager,
    ):
        wait_for(lambda: http.get("/api/v1/status").json()["active_revision"])
        body = payload(alert("Gated", "w"))
        assert alertmanager.post("/api/v1/alerts", json=body).status_code == 200
        wait_for(lambda: http.get("/api/v1/executions", params={"policy": "gated"}).json())
        (gated,) = http.get("/api/v1/executions", params={"policy": "gated"}).json()
        execution = f"/api/v1/executions/{gated['id']}"
        for path in ("/api/v1/status", "/api/v1/alerts", "/api/v1/executions", execution):
            http.get(path)
            anonymous.get(path)  # 401
            anonymous.get(path, headers={"Host": f"evil.example:{port}"})  # 421
        http.get("/api/v1/alerts", params={"limit": 0})  # 422
        http.get("/api/v1/executions", params={"limit": "many"})  # 422
        http.get("/api/v1/executions/nope")  # 404
        allow = http.request("OPTIONS", "/api/v1/alerts")  # 405, naming both methods
        assert allow.status_code == 405 and allow.headers["Allow"] == "GET, POST"
        for path in ("/metrics", "/healthz", "/readyz"):
            anonymous.get(path)
            anonymous.post(path, content=b"x")  # 405: no such method, whatever the body
            anonymous.get(path, headers={"Host": "evil.example"})
        # The webhook's refusals.
        anonymous.post("/api/v1/alerts", json=body)  # 401
        alertmanager.post("/api/v1/alerts", content=b"{nope", headers=JSON)  # 422
        alertmanager.post("/api/v1/alerts", content=b"[" * 5000, headers=JSON)  # 422
        alertmanager.post("/api/v1/alerts", content=b" " * (1024 * 1024 + 1), headers=JSON)  # 413
        alertmanager.post("/api/v1/alerts", content=b"{}", headers={"Content-Type": "text/plain"})
        # Control: 415, 401, 400, 422, 404, 200, then 409 (approving twice).
        for path in ("/api/v1/suspend", "/api/v1/unsuspend", f"{execution}/approve"):
            http.post(path, content=b"x", headers={"Content-Type": "text/plain"})
            http.post(path, content=b"[]", headers=JSON)  # 422: not an object
            anonymous.post(path, json={})
        http.post("/api/v1/suspend", content=b"{nope", headers=JSON)  # 422
        http.post("/api/v1/suspend", content=b" " * (64 * 1024 + 1), headers=JSON)  # 413
        http.post("/api/v1/suspend", content=b"[" * 5000 + b"]" * 5000, headers=JSON)  # 400
        http.post(f"{execution}/launch", json={})
        http.post(f"{execution}/approve", json={"step": 3})
        http.post("/api/v1/executions/nope/approve", json={})
        assert http.post(f"{execution}/approve", json={}).status_code == 200
        wait_for(lambda: http.get(execution).json()["status"] == "succeeded")
        assert http.post(f"{execution}/approve", json={}).status_code == 409
        assert http.post("/api/v1/suspend", json={"reason": "drill"}).status_code == 200
        assert http.post("/api/v1/unsuspend", json={}).status_code == 200


def declared(document: dict[str, Any], method: str, path: str) -> set[int]:
    """The statuses the document declares for the route matching a concrete path (a method
    it does not list for the path: 405, as HTTP says)."""
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return {int(code) for code in operations[method.lower()]["responses"]}
    if any(re.match("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$", path) for t in document["paths"]):
        return {405}
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def test_every_status_the_service_answers_is_declared_for_its_route(
    tmp_path: Path,
) -> None:
    remote = Remote(tmp_path / "git")
    api = Tokens({"alice": "alice-token"})
    webhook = Tokens({"alertmanager": "am-token"})
    recorder = Recorder()
    with Running(settings(tmp_path, remote.url), api=api, webhook=webhook) as running:
        drive(running, recorder, token="alice-token", webhook="am-token")
        document = running.client.get("/openapi.json").json()
    beyond = Running(settings(tmp_path / "wide", remote.url, listen="0.0.0.0:8080"))
    with beyond as running, client(running, recorder, None) as http:
        for path in ("/api/v1/suspend", "/api/v1/unsuspend"):
            assert http.post(path, json={}).status_code == 403
    undeclared = sorted(
        (method, path, status)
        for method, path, status in recorder.seen
        if status not in declared(document, method, path)
    )
    assert undeclared == []
    statuses = {status for _, _, status in recorder.seen}
    assert {200, 400, 401, 403, 404, 405, 409, 413, 415, 421, 422} <= statuses  # all were provoked
