"""Restarts: unfinished executions resume from the store; completed steps never run again; a
step whose outcome is unknown is re-run, checked, verified, or left for a person."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import AnyParams, Harness

from reconciler.actions.spec import ActionContext, ActionSpec, CheckResult
from reconciler.engine.engine import Engine
from reconciler.engine.state import Node, Phase, Status
from reconciler.store.sqlite import SqliteStore

FLOW = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: flow}
spec:
  steps:
    - {id: first, action: test.record, with: {}}
    - {id: hold, approval: {message: continue?, timeout: 1h}}
    - {id: last, action: test.record, with: {}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: unknown}
spec:
  steps:
    - {id: idempotent, action: test.record, with: {}}
    - {id: checked, action: test.checked, with: {}}
    - {id: verified, action: test.mutate, with: {}, verify: {expr: "true", within: 1m}}
    - {id: blind, action: test.mutate, with: {}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: napping}
spec:
  timeout: 3h
  steps:
    - {id: first, action: test.record, with: {}}
    - {id: nap, wait: 1h}
    - {id: last, action: test.record, with: {}}
"""


def sqlite_harness(tmp_path: Path, check_answer: CheckResult = CheckResult.DONE) -> Harness:
    harness = Harness()
    harness.store = SqliteStore(tmp_path / "engine.db")  # type: ignore[assignment]

    async def checked(params: AnyParams, context: ActionContext) -> dict[str, Any]:
        return {"checked_run": True}

    async def check(params: AnyParams, context: ActionContext) -> CheckResult:
        return check_answer

    harness.registry.register(
        ActionSpec(
            "test.checked",
            "non-idempotent, with a check",
            AnyParams,
            mutating=True,
            idempotent=False,
            dry_run=True,
            effect="write",
            run=checked,
            check=check,
        )
    )
    return harness


async def restart(harness: Harness, *, sequential: bool = True) -> Engine:
    """A new engine on the same store, as after a process restart."""
    assert harness.engine is not None
    revision = harness.engine.revisions["r1"]
    engine = Engine(
        harness.store,
        registry=harness.registry,
        clock=harness.clock,
        hooks=harness.hooks,
        secrets=harness.secrets,
        sequential=sequential,
    )
    engine.revisions["r1"] = revision
    harness.engine = engine
    return engine


def test_an_unfinished_execution_resumes_after_a_restart_without_repeating_steps(
    tmp_path: Path,
) -> None:
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(FLOW)
        execution = await first.start(revision="r1", workflow="flow", params={})
        await first.run_until_idle(advance_clock=False)
        assert execution.status is Status.WAITING_APPROVAL
        second = await restart(harness)
        assert await second.recover() == 1
        await second.approve(execution.id, by="alice")
        await second.run_until_idle()
        resumed = await second.get(execution.id)
        assert resumed.status is Status.SUCCEEDED
        assert harness.hooks.steps_called() == [
            "first",
            "last",
        ]  # first ran once, before the restart
        await harness.store.close()

    asyncio.run(go())


def test_after_a_restart_an_execution_that_only_waits_stays_in_the_store_until_due(
    tmp_path: Path,
) -> None:
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(FLOW)
        execution = await first.start(revision="r1", workflow="napping", params={})
        await first.run_until_idle(advance_clock=False)
        second = await restart(harness, sequential=False)
        assert await second.recover() == 1
        assert second.active == {}  # its timer is an hour away: nothing of it in memory
        assert await second.wake_due() == 0
        harness.clock.advance_to(harness.clock.now() + timedelta(hours=1))
        assert await second.wake_due() == 1
        for _ in range(200):
            if execution.id not in second.active:
                break
            await asyncio.sleep(0.01)
        finished = await second.get(execution.id)
        assert finished.status is Status.SUCCEEDED
        assert harness.hooks.steps_called() == ["first", "last"]
        await second.close()
        await harness.store.close()

    asyncio.run(go())


def test_recovery_never_needs_git_the_revision_comes_from_the_store(tmp_path: Path) -> None:
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(FLOW)
        execution = await first.start(revision="r1", workflow="flow", params={})
        await first.run_until_idle(advance_clock=False)
        fresh = Engine(
            harness.store, registry=harness.registry, clock=harness.clock, sequential=True
        )
        assert await fresh.recover() == 1  # no add_revision: the files were stored with it
        assert (await fresh.get(execution.id)).status is Status.WAITING_APPROVAL
        await harness.store.close()

    asyncio.run(go())


def _interrupt(engine: Engine, execution_id: str, keys: list[str]) -> None:
    """Mark attempts as started with no recorded outcome, as a crash mid-call leaves them."""
    execution = engine.active[execution_id]
    for key in keys:
        node = execution.nodes[key]
        node.phase = Phase.RUNNING
        node.attempts = 1
        node.attempt_open = True
        execution.touch(node)


def test_unknown_outcomes_are_rerun_checked_verified_or_left_for_a_person(tmp_path: Path) -> None:
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(FLOW)
        execution = await first.start(revision="r1", workflow="unknown", params={})
        for key in ("idempotent", "checked", "verified", "blind"):
            _pending(execution, key)
        _interrupt(first, execution.id, ["idempotent", "checked", "verified", "blind"])
        await first.save(execution)
        second = await restart(harness)
        await second.recover()
        await second.run_until_idle(advance_clock=False)
        resumed = await second.get(execution.id)
        assert resumed.nodes["idempotent"].phase is Phase.SUCCEEDED  # ran again
        assert (
            resumed.nodes["checked"].phase is Phase.SUCCEEDED
        )  # its check said done: not run again
        assert resumed.nodes["verified"].phase is Phase.SUCCEEDED  # verify decided
        assert resumed.nodes["blind"].waiting == "unknown_outcome"
        assert resumed.status is Status.WAITING_APPROVAL
        assert "outcome is unknown" in (resumed.reason or "")
        assert harness.hooks.steps_called() == ["idempotent"]
        await second.approve(
            execution.id, by="alice", step="blind", comment="checked by hand: not applied"
        )
        await second.run_until_idle()
        assert (await second.get(execution.id)).status is Status.SUCCEEDED
        assert harness.hooks.steps_called() == ["idempotent", "blind"]
        await harness.store.close()

    asyncio.run(go())


def _pending(execution: Any, key: str) -> Any:
    return execution.add_node(Node(key=key, step=key))


def test_after_a_restart_an_unknown_outcome_is_waiting_approval_in_the_store_at_once(
    tmp_path: Path,
) -> None:
    """Even left in the store (nothing to drive until a person answers), the execution is
    listed as waiting for approval, with the reason, not as running."""
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(FLOW)
        execution = await first.start(revision="r1", workflow="unknown", params={})
        execution.set_status(Status.RUNNING, harness.clock.now())
        for key in ("idempotent", "checked", "verified", "blind"):
            _pending(execution, key)
        _interrupt(first, execution.id, ["blind"])
        await first.save(execution)
        second = await restart(harness, sequential=False)
        await second.recover()
        (listed,) = await harness.store.query(status="waiting_approval")
        assert listed["id"] == execution.id
        assert "outcome is unknown; approve to run it again" in listed["reason"]
        await second.close()
        await harness.store.close()

    asyncio.run(go())


HTTP_FLOW = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: calls}
spec:
  params: {url: {type: string}}
  steps:
    - {id: put, action: http.request, with: {method: PUT, url: "{{ params.url }}/put"}}
    - {id: post, action: http.request, with: {method: POST, url: "{{ params.url }}/post"}}
"""


class _Sink(BaseHTTPRequestHandler):
    """Answers 200 to everything and records the method and path."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    do_PUT = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return None


def test_an_http_request_with_an_idempotent_method_is_sent_again_after_a_crash(
    tmp_path: Path,
) -> None:
    """RFC 9110: a PUT may simply be sent again; a POST whose outcome is unknown waits for a
    person."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    _Sink.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    harness = sqlite_harness(tmp_path)

    async def go() -> None:
        await harness.store.open()
        first = await harness.aload(HTTP_FLOW)
        execution = await first.start(revision="r1", workflow="calls", params={"url": url})
        execution.set_status(Status.RUNNING, harness.clock.now())
        for key in ("put", "post"):
            _pending(execution, key)
        _interrupt(first, execution.id, ["put", "post"])
        await first.save(execution)
        second = await restart(harness)
        await second.recover()
        await second.run_until_idle(advance_clock=False)
        resumed = await second.get(execution.id)
        assert resumed.nodes["put"].phase is Phase.SUCCEEDED
        assert resumed.nodes["post"].waiting == "unknown_outcome"
        assert resumed.status is Status.WAITING_APPROVAL
        await second.close()
        await harness.store.close()

    try:
        asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
    assert _Sink.seen == ["PUT /put"]
