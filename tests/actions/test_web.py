"""``http.request``, ``notify.webhook`` and ``notify.slack`` against a real local HTTP server.

The peer (``peer.py``) is ``http.server.ThreadingHTTPServer`` on ``127.0.0.1:0`` in a thread: it
records every request and answers from a script the test writes. Nothing of the HTTP client or
of the actions is mocked; actions are called the way the engine calls them (registry lookup,
``parse``, ``call``), here without the engine's pool (each call builds its own session; the
pool is tested in ``test_http_clients.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peer import Peer, Reply, _Handler, json_reply
from pydantic import ValidationError

from reconciler.actions.registry import default_registry
from reconciler.actions.spec import ActionContext
from reconciler.errors import ActionError, PermanentError, TemporaryError

TLS = Path(__file__).parent.parent / "fixtures" / "tls"
CONTEXT = ActionContext("e1", "s1", 1)
DRY_RUN = ActionContext("e1", "s1", 1, dry_run=True)


def run(name: str, params: dict[str, Any], context: ActionContext = CONTEXT) -> dict[str, Any]:
    registry = default_registry()
    action = registry.get(name)
    assert action is not None
    return asyncio.run(action.call(registry.parse(name, params), context))


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; a developer's proxy must not sit between us and the peer."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "server.pem", TLS / "server-key.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "ca.pem"))  # httpx trusts it (trust_env)
    server = Peer(tls=context)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def everything_said(error: BaseException) -> str:
    """The error's message and those of its causes, as a log with a traceback would show."""
    causes = [c for c in (error.__cause__, error.__context__) if c is not None]
    return "".join(line for e in (error, *causes) for line in traceback.format_exception_only(e))


# http.request: answers


def test_get_returns_status_headers_body_and_the_parsed_json(peer: Peer) -> None:
    peer.answer(
        Reply(
            200,
            [("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", "r-1")],
            b'{"ready": true, "replicas": 3}',
        )
    )

    output = run("http.request", {"url": f"{peer.url}/health?verbose=1"})

    assert output["status"] == 200
    assert output["headers"]["x-request-id"] == "r-1"
    assert output["headers"]["content-type"] == "application/json; charset=utf-8"
    assert output["body"] == '{"ready": true, "replicas": 3}'
    assert output["truncated"] is False
    assert output["json"] == {"ready": True, "replicas": 3}
    assert [(r.method, r.path) for r in peer.requests] == [("GET", "/health?verbose=1")]


def test_a_body_that_is_not_json_is_returned_without_a_json_key(peer: Peer) -> None:
    peer.answer(Reply(200, [("Content-Type", "text/plain")], b'{"looks": "like json"}'))

    output = run("http.request", {"url": peer.url})

    assert output["body"] == '{"looks": "like json"}'
    assert "json" not in output


def test_post_delivers_the_json_body_and_headers_as_sent(peer: Peer) -> None:
    payload = {"replicas": 3, "labels": {"team": "payments"}, "ids": [1, 2], "note": "é ☃"}

    output = run(
        "http.request",
        {
            "method": "POST",
            "url": f"{peer.url}/scale",
            "json": payload,
            "headers": {"X-Api-Key": "k-123", "X-Trace": "abc"},
        },
    )

    assert output["status"] == 200
    [request] = peer.requests
    assert (request.method, request.path) == ("POST", "/scale")
    assert request.headers["x-api-key"] == "k-123"
    assert request.headers["x-trace"] == "abc"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == payload


def test_a_raw_body_is_delivered_byte_for_byte(peer: Peer) -> None:
    body = "line one\nline two: é ☃\n"

    run(
        "http.request",
        {
            "method": "PUT",
            "url": f"{peer.url}/config",
            "body": body,
            "headers": {"Content-Type": "text/plain; charset=utf-8"},
        },
    )

    [request] = peer.requests
    assert request.method == "PUT"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    assert request.body == body.encode()


def test_json_and_a_raw_body_together_are_rejected_before_anything_is_sent() -> None:
    with pytest.raises(ValidationError, match="set json or body, not both"):
        default_registry().parse(
            "http.request", {"url": "http://127.0.0.1/", "json": {}, "body": "x"}
        )


def test_expect_status_counts_a_listed_status_as_success(peer: Peer) -> None:
    peer.answer(Reply(404, body=b"gone already"))

    output = run("http.request", {"url": peer.url, "expect_status": [200, 404]})

    assert output["status"] == 404
    assert output["body"] == "gone already"


def test_expect_status_turns_an_unlisted_success_into_a_permanent_failure(peer: Peer) -> None:
    peer.answer(Reply(200))

    with pytest.raises(PermanentError, match="HTTP 200"):
        run("http.request", {"method": "POST", "url": peer.url, "expect_status": [201]})


# http.request: failures and how retries should treat them


def test_not_found_fails_permanently(peer: Peer) -> None:
    peer.answer(Reply(404))

    with pytest.raises(PermanentError, match=r"GET http://127\.0\.0\.1:\d+/missing: HTTP 404"):
        run("http.request", {"url": f"{peer.url}/missing"})


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_server_errors_and_too_many_requests_are_temporary(peer: Peer, status: int) -> None:
    peer.answer(Reply(status))

    with pytest.raises(TemporaryError, match=f"HTTP {status}") as caught:
        run("http.request", {"url": peer.url})

    assert caught.value.delay is None


def test_too_many_requests_with_retry_after_is_retried_after_that_many_seconds(
    peer: Peer,
) -> None:
    peer.answer(Reply(429, [("Retry-After", "7")]))

    with pytest.raises(TemporaryError) as caught:
        run("http.request", {"url": peer.url})

    assert caught.value.delay == 7


def test_a_refused_connection_is_temporary() -> None:
    with pytest.raises(TemporaryError, match="Connect"):
        run("http.request", {"url": f"http://127.0.0.1:{closed_port()}/"})


def test_a_server_slower_than_the_timeout_fails_temporarily_naming_the_timeout(
    peer: Peer,
) -> None:
    peer.answer(Reply(stall=True))

    with pytest.raises(TemporaryError, match=r"timed out after 0\.2s"):
        run("http.request", {"url": peer.url, "timeout": "200ms"})


def test_a_large_body_is_cut_at_64_kib_and_marked_truncated(peer: Peer) -> None:
    document = json.dumps({"items": ["x" * 100] * 1000})  # ~100 KiB of valid JSON
    peer.answer(Reply(200, [("Content-Type", "application/json")], document.encode()))

    output = run("http.request", {"url": peer.url})

    assert output["body"] == document[: 64 * 1024]
    assert output["truncated"] is True
    assert "json" not in output  # a cut document is not parsed


def test_a_body_of_exactly_64_kib_is_whole(peer: Peer) -> None:
    peer.answer(Reply(200, body=b"y" * (64 * 1024)))

    output = run("http.request", {"url": peer.url})

    assert len(output["body"]) == 64 * 1024
    assert output["truncated"] is False


# http.request: secrets


@pytest.mark.parametrize(
    "scenario", ["not found", "server error", "refused", "timeout", "expect_status"]
)
def test_url_credentials_never_appear_in_error_messages(peer: Peer, scenario: str) -> None:
    port = closed_port() if scenario == "refused" else peer.port
    params: dict[str, Any] = {"url": f"http://alice:s3cr3t-pw@127.0.0.1:{port}/api?x=1"}
    if scenario == "not found":
        peer.answer(Reply(404))
    elif scenario == "server error":
        peer.answer(Reply(500))
    elif scenario == "timeout":
        peer.answer(Reply(stall=True))
        params["timeout"] = "200ms"
    elif scenario == "expect_status":
        peer.answer(Reply(200))
        params["expect_status"] = [204]

    with pytest.raises(ActionError) as caught:
        run("http.request", params)

    said = everything_said(caught.value)
    assert "s3cr3t-pw" not in said
    assert "alice" not in said
    assert f"127.0.0.1:{port}" in str(caught.value)  # still says which endpoint failed


def test_url_credentials_are_sent_to_the_server_as_basic_auth(peer: Peer) -> None:
    run("http.request", {"url": f"http://alice:s3cr3t-pw@127.0.0.1:{peer.port}/"})

    [request] = peer.requests
    assert request.headers["authorization"] == "Basic YWxpY2U6czNjcjN0LXB3"


def test_cookie_and_authorization_response_headers_are_not_returned(peer: Peer) -> None:
    peer.answer(
        Reply(
            200,
            [
                ("Set-Cookie", "session=abc123; HttpOnly"),
                ("Set-Cookie", "csrf=def456"),
                ("Authorization", "Bearer leaked-token"),
                ("Proxy-Authorization", "Basic bGVha2Vk"),
                ("X-Visible", "yes"),
            ],
        )
    )

    output = run("http.request", {"url": peer.url})

    assert output["headers"]["x-visible"] == "yes"
    assert not {"set-cookie", "authorization", "proxy-authorization"} & set(output["headers"])
    assert "abc123" not in json.dumps(output)
    assert "leaked-token" not in json.dumps(output)


# http.request: dry run and the mutating flag


def test_a_dry_run_post_returns_without_calling_the_server(peer: Peer) -> None:
    output = run(
        "http.request",
        {
            "method": "POST",
            "url": f"http://alice:s3cr3t-pw@127.0.0.1:{peer.port}/restart",
            "json": {"now": True},
        },
        DRY_RUN,
    )

    assert output == {
        "dry_run": True,
        "method": "POST",
        "url": f"http://***@127.0.0.1:{peer.port}/restart",
    }
    assert peer.requests == []


def test_a_dry_run_get_still_calls_the_server(peer: Peer) -> None:
    peer.answer(json_reply({"up": 1}))

    output = run("http.request", {"url": f"{peer.url}/status"}, DRY_RUN)

    assert output["json"] == {"up": 1}
    assert [(r.method, r.path) for r in peer.requests] == [("GET", "/status")]


@pytest.mark.parametrize(
    ("method", "mutating"),
    [
        ("GET", False),
        ("HEAD", False),
        ("POST", True),
        ("PUT", True),
        ("PATCH", True),
        ("DELETE", True),
    ],
)
def test_http_request_is_mutating_unless_its_method_only_reads(method: str, mutating: bool) -> None:
    action = default_registry().get("http.request")
    assert action is not None
    assert action.is_mutating({"method": method, "url": "http://127.0.0.1/"}) is mutating


def test_http_request_without_a_method_is_a_get_and_does_not_mutate() -> None:
    action = default_registry().get("http.request")
    assert action is not None
    assert action.is_mutating({"url": "http://127.0.0.1/"}) is False


# notify.webhook


def test_webhook_posts_its_text_as_a_json_message(peer: Peer) -> None:
    peer.answer(Reply(200, body=b"ok"))

    output = run("notify.webhook", {"url": f"{peer.url}/hook", "text": "disk full on node-3"})

    assert output == {"status": 200}
    [request] = peer.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"text": "disk full on node-3"}


def test_webhook_posts_the_given_json_and_headers_instead_of_text(peer: Peer) -> None:
    peer.answer(Reply(202))
    payload = {"alert": "KubePodCrashLooping", "severity": "critical", "count": 2}

    output = run(
        "notify.webhook",
        {"url": f"{peer.url}/hook", "json": payload, "headers": {"X-Signature": "sig"}},
    )

    assert output == {"status": 202}
    [request] = peer.requests
    assert request.json() == payload
    assert request.headers["x-signature"] == "sig"


@pytest.mark.parametrize("params", [{}, {"text": "a", "json": {"text": "b"}}])
def test_webhook_needs_exactly_one_of_text_and_json(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of text and json"):
        default_registry().parse("notify.webhook", {"url": "http://127.0.0.1/", **params})


def test_webhook_failures_are_classified_like_http_requests(peer: Peer) -> None:
    peer.answer(Reply(503, [("Retry-After", "2")]), Reply(403))

    with pytest.raises(TemporaryError) as caught:
        run("notify.webhook", {"url": peer.url, "text": "hi"})
    assert caught.value.delay == 2
    with pytest.raises(PermanentError, match="HTTP 403"):
        run("notify.webhook", {"url": peer.url, "text": "hi"})


# notify.slack (https only: the peer speaks TLS with a test CA)


def test_slack_posts_text_channel_and_username(tls_peer: Peer) -> None:
    output = run(
        "notify.slack",
        {
            "url": f"{tls_peer.url}/services/T0/B0/x",
            "text": "payments-api restarted",
            "channel": "#ops",
            "username": "reconciler",
        },
    )

    assert output == {"status": 200}
    [request] = tls_peer.requests
    assert (request.method, request.path) == ("POST", "/services/T0/B0/x")
    assert request.json() == {
        "text": "payments-api restarted",
        "channel": "#ops",
        "username": "reconciler",
    }


def test_slack_leaves_out_channel_and_username_when_not_given(tls_peer: Peer) -> None:
    run("notify.slack", {"url": tls_peer.url, "text": "hello"})

    [request] = tls_peer.requests
    assert request.json() == {"text": "hello"}


def test_slack_refuses_a_plain_http_url() -> None:
    with pytest.raises(ValidationError, match="url"):
        default_registry().parse("notify.slack", {"url": "http://127.0.0.1/", "text": "x"})


class _Trickle(_Handler):
    """Sends its body a byte every 100 ms: each read is quick, the whole is slow."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "20")
        self.end_headers()
        for _ in range(20):
            if self.server.peer.released.wait(0.1):  # type: ignore[attr-defined]
                return
            with contextlib.suppress(OSError):
                self.wfile.write(b"x")
                self.wfile.flush()


def test_the_timeout_bounds_the_whole_request_not_each_read(peer: Peer) -> None:
    peer.server.RequestHandlerClass = _Trickle
    with pytest.raises(TemporaryError, match=r"timed out after 0\.5s"):
        run("http.request", {"url": peer.url, "timeout": "500ms"})


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://[::1/"])
def test_a_malformed_url_fails_permanently(url: str) -> None:
    with pytest.raises(PermanentError):
        run("http.request", {"url": url})


def test_a_body_is_cut_at_64_kib_of_bytes(peer: Peer) -> None:
    peer.answer(
        Reply(200, [("Content-Type", "text/plain; charset=utf-8")], ("é" * 40_000).encode())
    )
    output = run("http.request", {"url": peer.url})
    assert len(output["body"].encode()) <= 64 * 1024
    assert output["truncated"] is True
