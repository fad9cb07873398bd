"""The engine's pooled HTTP sessions: calls share kept-alive connections, keep no cookies, keep
their own timeouts, and the engine closes the pool when it stops.

Against the keep-alive peer of ``peer.py`` (a real HTTP/1.1 server on 127.0.0.1): each request
records the client's address, so one address means one connection reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peer import Peer, Reply

from reconciler.actions.http_clients import HttpClients
from reconciler.actions.registry import default_registry
from reconciler.actions.spec import ActionContext
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine
from reconciler.errors import TemporaryError
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer(keep_alive=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def call(pool: HttpClients | None, params: dict[str, Any]) -> dict[str, Any]:
    registry = default_registry()
    action = registry.get("http.request")
    assert action is not None
    context = ActionContext("e1", "s1", 1, http=pool)
    return await action.call(registry.parse("http.request", params), context)


def test_calls_through_one_pool_reuse_one_kept_alive_connection(peer: Peer) -> None:
    async def body() -> int:
        pool = HttpClients()
        try:
            for _ in range(3):
                await call(pool, {"method": "POST", "url": peer.url, "json": {"n": 1}})
            return len(pool)
        finally:
            await pool.aclose()

    sessions = asyncio.run(body())

    assert sessions == 1
    assert len({r.client for r in peer.requests}) == 1
    assert len(peer.requests) == 3


def test_calls_without_a_pool_each_open_their_own_connection(peer: Peer) -> None:
    async def body() -> None:
        for _ in range(2):
            await call(None, {"url": peer.url})

    asyncio.run(body())

    assert len({r.client for r in peer.requests}) == 2


def test_a_cookie_set_on_one_call_is_not_sent_on_the_next(peer: Peer) -> None:
    peer.answer(Reply(200, [("Set-Cookie", "session=abc123; Path=/")]), Reply(200))
    # A host name: cookie jars refuse cookies from bare IP addresses anyway.
    url = f"http://localhost:{peer.port}"

    async def body() -> None:
        pool = HttpClients()
        try:
            await call(pool, {"url": f"{url}/login"})
            await call(pool, {"url": f"{url}/other-execution"})
        finally:
            await pool.aclose()

    asyncio.run(body())

    first, second = peer.requests
    assert first.client == second.client  # the same session and connection...
    assert "cookie" not in second.headers  # ...and still no cookie carried over


def test_the_services_netrc_credentials_never_ride_along_on_a_steps_request(
    peer: Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~/.netrc (Git credentials, say) names the host a step calls: nothing of it is sent."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login deploy password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))

    async def body() -> None:
        pool = HttpClients()
        try:
            await call(pool, {"url": peer.url})
        finally:
            await pool.aclose()

    asyncio.run(body())

    (request,) = peer.requests
    assert "authorization" not in request.headers


def test_a_proxy_from_the_environment_is_used_and_no_proxy_is_honoured(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peer stands in for the proxy: a proxied request carries the absolute URL."""
    monkeypatch.setenv("HTTP_PROXY", peer.url)

    async def body() -> None:
        pool = HttpClients()
        try:
            await call(pool, {"url": "http://upstream.invalid/path"})
            monkeypatch.setenv("NO_PROXY", "upstream.invalid")
            with pytest.raises(TemporaryError):  # direct, now: the name does not resolve
                await call(pool, {"url": "http://upstream.invalid/direct"})
        finally:
            await pool.aclose()

    asyncio.run(body())

    (through_proxy,) = peer.requests
    assert through_proxy.path == "http://upstream.invalid/path"


def test_each_call_keeps_its_own_timeout_on_a_shared_session(peer: Peer) -> None:
    peer.answer(Reply(200), Reply(stall=True))

    async def body() -> tuple[BaseException | None, dict[str, Any]]:
        pool = HttpClients()
        try:
            await call(pool, {"url": peer.url, "timeout": "10s"})
            try:
                await call(pool, {"url": peer.url, "timeout": "200ms"})
                failure = None
            except TemporaryError as exc:
                failure = exc
            after = await call(pool, {"url": peer.url, "timeout": "10s"})
            return failure, after
        finally:
            await pool.aclose()

    failure, after = asyncio.run(body())

    assert failure is not None and "timed out after 0.2s" in str(failure)
    assert after["status"] == 200


def test_a_closed_pool_has_closed_its_sessions_and_opens_new_ones_when_used_again(
    peer: Peer,
) -> None:
    async def body() -> tuple[bool, int]:
        pool = HttpClients()
        await call(pool, {"url": peer.url})
        session = pool.session()
        assert session is not None
        await pool.aclose()
        closed, left = session.closed, len(pool)
        await call(pool, {"url": peer.url})
        await pool.aclose()
        return closed and left == 0, len({r.client for r in peer.requests})

    closed, connections = asyncio.run(body())

    assert closed
    assert connections == 2


def test_a_pool_asked_from_another_event_loop_serves_that_call_with_a_session_of_its_own(
    peer: Peer,
) -> None:
    pool = HttpClients()
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(call(pool, {"url": peer.url}))
        output = asyncio.run(call(pool, {"url": peer.url}))  # another loop: its own session
        assert output["status"] == 200
        assert len(pool) == 1  # the first loop's session only
    finally:
        first.run_until_complete(pool.aclose())
        first.close()


WORKFLOW = b"""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: calls}
spec:
  params: {url: {type: string}}
  steps:
    - {id: a, action: http.request, with: {method: POST, url: "{{ params.url }}", json: {n: 1}}}
    - {id: b, action: http.request, with: {url: "{{ params.url }}"}}
    - {id: c, action: http.request, with: {url: "{{ params.url }}"}}
"""


def test_the_engine_lends_its_pool_to_every_step_and_closes_it_when_it_stops(peer: Peer) -> None:
    files = {"calls.yaml": WORKFLOW}
    outcome = revision.build([MemoryTree(files)], registry=default_registry())
    assert outcome.revision is not None, outcome.problems

    async def body() -> tuple[str, int, bool]:
        engine = Engine(MemoryStore(), sequential=True)
        await engine.add_revision("r1", outcome.revision, files)
        execution = await engine.start(revision="r1", workflow="calls", params={"url": peer.url})
        await engine.run_until_idle()
        session = engine.steps.http.session()
        assert session is not None
        await engine.close()
        return execution.status.value, len(engine.steps.http), session.closed

    status, sessions_left, closed = asyncio.run(body())

    assert status == "succeeded"
    assert len(peer.requests) == 3
    assert len({r.client for r in peer.requests}) == 1  # one connection for the three steps
    assert sessions_left == 0 and closed
