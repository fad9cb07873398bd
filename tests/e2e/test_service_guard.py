"""Cross-site attacks on a running service, each reproduced over real HTTP and refused.

A web page can send "simple" requests anywhere (a form, ``fetch`` with ``text/plain`` or no body),
and DNS rebinding lets it read answers sent to a name it controls; tokens guard control, and
reads once tokens are set. Each test sends what the attack sends and checks nothing happened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import Remote, Running, alert, payload, settings, wait_for

from reconciler.app.auth import Tokens

EVIL = "https://evil.example"


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def anonymous(running: Running, method: str, path: str, **options: Any) -> httpx.Response:
    """A request with no token (``running.client`` sends one when tokens are set)."""
    return httpx.request(method, running.url + path, timeout=30, **options)


SIMPLE_BODIES: list[dict[str, Any]] = [
    {"content": b'{"reason": "csrf"}', "headers": {"Content-Type": "text/plain"}},
    {"content": b"reason=csrf", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    {"content": b"", "headers": {}},  # fetch(url, {method: "POST", mode: "no-cors"})
]


@pytest.mark.parametrize("body", SIMPLE_BODIES, ids=["text-plain", "form", "no-body"])
def test_a_cross_site_simple_post_cannot_suspend_or_unsuspend_the_service(
    tmp_path: Path, remote: Remote, body: dict[str, Any]
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        headers = {"Origin": EVIL, **body["headers"]}
        answer = anonymous(
            running, "POST", "/api/v1/suspend", content=body["content"], headers=headers
        )
        assert answer.status_code == 415
        assert "Content-Type: application/json" in answer.json()["detail"]
        assert running.status()["suspended"] is None
        # The real client, sending JSON, still works; and unsuspend cannot be forged either.
        assert running.client.post("/api/v1/suspend", json={"reason": "drill"}).status_code == 200
        again = anonymous(
            running, "POST", "/api/v1/unsuspend", content=body["content"], headers=headers
        )
        assert again.status_code == 415
        assert running.status()["suspended"] is not None


def test_a_text_plain_alert_is_refused_and_nothing_is_stored(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        body = json.dumps(payload(alert("Quick"))).encode()
        answer = anonymous(
            running,
            "POST",
            "/api/v1/alerts",
            content=body,
            headers={"Content-Type": "text/plain", "Origin": EVIL},
        )
        assert answer.status_code == 415
        assert running.client.get("/api/v1/alerts").json() == []
        assert running.fire(alert("Quick")).status_code == 200  # Alertmanager's JSON works
        assert len(running.client.get("/api/v1/alerts").json()) == 1


def test_a_foreign_host_name_is_refused_on_every_endpoint(tmp_path: Path, remote: Remote) -> None:
    config = settings(tmp_path, remote.url, allowed_hosts=("reconciler.monitoring.svc",))
    with Running(config) as running:
        port = running.url.rpartition(":")[2]
        evil = {"Host": f"evil.example:{port}"}
        for method, path in [
            ("GET", "/api/v1/status"),
            ("GET", "/api/v1/alerts"),
            ("GET", "/api/v1/executions"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
            ("POST", "/api/v1/suspend"),
        ]:
            answer = anonymous(running, method, path, headers=evil, json={})
            assert answer.status_code == 421, (method, path)
            assert "--allowed-hosts" in answer.json()["detail"]
        refused = anonymous(
            running, "POST", "/api/v1/alerts", headers=evil, json=payload(alert("Quick"))
        )
        assert refused.status_code == 421
        assert running.status()["suspended"] is None
        assert running.client.get("/api/v1/alerts").json() == []
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "reconciler.monitoring.svc:8080"):
            assert anonymous(running, "GET", "/api/v1/status", headers={"Host": host}).is_success


def test_listening_on_every_address_lets_probes_and_scrapes_in_by_pod_ip(
    tmp_path: Path, remote: Remote
) -> None:
    # The policy follows --listen; the test server itself binds 127.0.0.1 (see servicekit).
    pod = {"Host": "10.244.1.17:8080"}  # what kubelet and Prometheus send
    with Running(settings(tmp_path, remote.url, listen="0.0.0.0:8080")) as running:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert anonymous(running, "GET", path, headers=pod).status_code == 200, path
        named = anonymous(running, "GET", "/healthz", headers={"Host": "reconciler.svc:8080"})
        assert named.status_code == 421
    with Running(settings(tmp_path / "loopback", remote.url)) as running:
        assert anonymous(running, "GET", "/healthz", headers=pod).status_code == 421


def test_no_response_grants_another_origin_access(tmp_path: Path, remote: Remote) -> None:
    origin = {"Origin": EVIL}
    with Running(settings(tmp_path, remote.url)) as running:
        answers = [
            anonymous(running, "GET", "/api/v1/status", headers=origin),
            anonymous(running, "GET", "/metrics", headers=origin),
            anonymous(running, "POST", "/api/v1/suspend", headers=origin, content=b"x"),
            anonymous(
                running,
                "OPTIONS",
                "/api/v1/suspend",
                headers={
                    **origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            ),
        ]
        for answer in answers:
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
        assert answers[3].status_code == 405  # no preflight is ever granted
        assert running.status()["suspended"] is None


def test_beyond_loopback_without_a_token_control_is_refused_and_reads_stay_open(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url, listen="0.0.0.0:8080")) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Gated", "w"))
        running.settled()
        (gated,) = running.executions(policy="gated")
        for path in (
            "/api/v1/suspend",
            "/api/v1/unsuspend",
            f"/api/v1/executions/{gated['id']}/approve",
        ):
            answer = running.client.post(path, json={})
            assert answer.status_code == 403, path
            assert "--api-token-file" in answer.json()["detail"]
        assert running.status()["suspended"] is None
        assert running.execution(gated["id"])["status"] == "waiting_approval"


def test_with_tokens_every_read_needs_one_and_probes_do_not(tmp_path: Path, remote: Remote) -> None:
    api = Tokens({"alice": "alice-token"})
    with Running(settings(tmp_path, remote.url), api=api) as running:
        running.fire(alert("Quick"))
        running.settled()
        (execution,) = running.executions()
        reads = [
            "/api/v1/status",
            "/api/v1/alerts",
            "/api/v1/executions",
            f"/api/v1/executions/{execution['id']}",
        ]
        for path in reads:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                refused = anonymous(running, "GET", path, headers=headers)
                assert refused.status_code == 401, path
                assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert running.client.get(path).status_code == 200, path
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert anonymous(running, "GET", path).status_code == 200, path


@pytest.mark.parametrize("depth", [5_000, 200_000], ids=["inline", "worker-thread"])
def test_deeply_nested_json_on_the_webhook_is_refused_and_the_intake_keeps_working(
    tmp_path: Path, remote: Remote, depth: int
) -> None:
    # 5,000 levels are parsed on the event loop, 200,000 in a worker thread (over 64 KiB).
    with Running(settings(tmp_path, remote.url)) as running:
        nested = b"[" * depth + b"]" * depth
        for body in (nested, b'{"alerts": ' + nested + b"}"):
            answer = running.client.post(
                "/api/v1/alerts", content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 422
            assert "nested too deeply" in answer.json()["detail"]
        assert running.fire(alert("Quick")).status_code == 200
        running.settled()
        assert len(running.executions(policy="quick")) == 1


def test_deeply_nested_json_on_control_endpoints_is_refused_without_a_server_error(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        nested = b'{"reason": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
        answer = running.client.post(
            "/api/v1/suspend", content=nested, headers={"Content-Type": "application/json"}
        )
        assert 400 <= answer.status_code < 500
        assert running.status()["suspended"] is None


def test_a_control_body_past_64_kib_is_refused_before_the_token_is_even_checked(
    tmp_path: Path, remote: Remote
) -> None:
    # FastAPI would read any body whole before the route looks at the token: an anonymous
    # client could make the service hold gigabytes. Declared or chunked, it stops at 64 KiB.
    api = Tokens({"alice": "alice-token"})
    with Running(settings(tmp_path, remote.url), api=api) as running:
        large = b'{"reason": "' + b"x" * (64 * 1024) + b'"}'
        json_type = {"Content-Type": "application/json"}

        def chunked() -> Any:
            for start in range(0, len(large), 4096):
                yield large[start : start + 4096]

        for content in (large, chunked()):
            answer = anonymous(
                running, "POST", "/api/v1/suspend", content=content, headers=json_type
            )
            assert answer.status_code == 413
            assert answer.headers["connection"] == "close"
        # A body under the bound still reaches the route (and its token check).
        small = anonymous(running, "POST", "/api/v1/suspend", json={"reason": "x" * 1000})
        assert small.status_code == 401
        assert running.client.post("/api/v1/suspend", json={"reason": "drill"}).status_code == 200
        assert running.status()["suspended"] is not None


def test_docs_load_nothing_from_a_cdn_and_the_openapi_document_stays(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        assert running.client.get("/docs").status_code == 404
        assert running.client.get("/redoc").status_code == 404
        document = running.client.get("/openapi.json")
        assert document.status_code == 200 and document.json()["paths"]
        assert "cdn" not in document.text
