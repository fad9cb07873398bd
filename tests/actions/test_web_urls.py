"""Alert labels rendered into an ``http.request`` URL stay where the workflow put them.

The attack: ``url: "https://api.example/items/{{ params.item }}?env={{ params.env }}"`` with
``item = "../../admin?x=1#frag"`` requested ``/admin?x=1`` (the client resolves the dots), and
``env = "x&admin=1"`` added a query parameter. Now each value is percent-encoded for the part of
the URL it lands in; a value that makes a ``..`` segment fails the step permanently, naming the
parameter, the expression and the value, before anything is sent. Run through the engine
against a real local server (``peer.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from peer import Peer

from reconciler.actions.registry import default_registry
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import FakeClock
from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision

WORKFLOW = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: call}
spec:
  params:
    item: {type: string}
    env: {type: string}
    base: {type: string, default: ""}
  steps:
    - id: call
      action: http.request
      with: {url: "%s"}
"""


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
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


def run_workflow(url: str, params: dict[str, Any]) -> Execution:
    files = {"workflow.yaml": (WORKFLOW % url).encode()}
    built = revision.build([MemoryTree(files)], registry=default_registry())
    assert built.revision is not None, built.problems

    async def go() -> Execution:
        engine = Engine(
            MemoryStore(), clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)), sequential=True
        )
        await engine.add_revision("r1", built.revision, files)  # type: ignore[arg-type]
        execution = await engine.start(revision="r1", workflow="call", params=params)
        try:
            await engine.run_until_idle()
            return await engine.get(execution.id)
        finally:
            await engine.close()

    return asyncio.run(go())


def test_label_values_stay_one_path_segment_and_one_query_value(peer: Peer) -> None:
    item, env = "../../admin?x=1#frag", "x&admin=1"
    execution = run_workflow(
        f"{peer.url}/items/{{{{ params.item }}}}?env={{{{ params.env }}}}",
        {"item": item, "env": env},
    )
    assert execution.nodes["call"].phase.value == "succeeded", execution.nodes["call"].error
    (request,) = peer.requests
    sent = urlsplit(request.path)
    segments = sent.path.split("/")
    assert segments[:2] == ["", "items"] and len(segments) == 3
    assert unquote(segments[2]) == item  # the whole value, as one segment
    assert parse_qs(sent.query) == {"env": [env]}  # one value, no admin=1 parameter
    assert sent.fragment == ""


def test_a_dot_dot_value_in_the_path_fails_the_step_before_anything_is_sent(peer: Peer) -> None:
    execution = run_workflow(f"{peer.url}/items/{{{{ params.item }}}}/detail", {"item": ".."})
    step = execution.nodes["call"]
    assert step.phase.value == "failed" and step.error_kind == "permanent", step
    assert "url: the value of `params.item`, '..', makes a '.' or '..' path segment" in (
        step.error or ""
    )
    assert peer.requests == []


def test_only_values_that_make_a_whole_dot_segment_are_refused(peer: Peer) -> None:
    execution = run_workflow(f"{peer.url}/items/{{{{ params.item }}}}", {"item": "..." * 40})
    assert execution.nodes["call"].phase.value == "succeeded"  # not a dot segment: sent as is
    execution = run_workflow(
        f"{peer.url}/{{{{ params.item }}}}/{{{{ params.env }}}}", {"item": "a" * 400, "env": ".."}
    )
    error = execution.nodes["call"].error or ""
    assert "`params.env`, '..'" in error
    execution = run_workflow(
        f"{peer.url}/{{{{ params.item }}}}{{{{ params.env }}}}/x", {"item": ".", "env": "."}
    )
    error = execution.nodes["call"].error or ""
    assert "`params.item`, '.'" in error and len(peer.requests) == 1


def test_a_whole_url_expression_and_a_leading_base_are_the_authors_and_go_as_written(
    peer: Peer,
) -> None:
    run_workflow("{{ params.item }}", {"item": f"{peer.url}/a/b?c=d&e=f"})
    run_workflow(
        "{{ params.base }}/items/{{ params.item }}?env={{ params.env }}",
        {"base": f"{peer.url}/v1", "item": "a/b", "env": "x y"},
    )
    assert [r.path for r in peer.requests] == ["/a/b?c=d&e=f", "/v1/items/a%2Fb?env=x%20y"]
