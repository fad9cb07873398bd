"""Operating executions: pause, resume, cancel, retry-from-failed, approvals per step."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from harness import Harness

from reconciler.engine.control import ControlError
from reconciler.engine.engine import EngineError
from reconciler.engine.state import Phase, Status

FLOW = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: flow}
spec:
  timeout: 24h
  steps:
    - {id: first, action: test.record, with: {n: 1}}
    - {id: hold, wait: 5m}
    - {id: shaky, action: test.flaky, with: {times: 1}}
    - {id: last, action: test.record, with: {after: "{{ steps.first.output.n }}"}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: two-gates}
spec:
  steps:
    - id: both
      parallel:
        - {id: left, approval: {message: left?, timeout: 1h}}
        - {id: right, approval: {message: right?, timeout: 1h}}
    - {id: done, action: test.record, with: {}}
"""


def test_a_paused_execution_starts_nothing_new_until_resumed(harness: Harness) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="flow", params={})
        await engine.run_until_idle(advance_clock=False)  # first done, hold waits
        await engine.pause(execution.id)
        assert execution.status is Status.PAUSED
        harness.clock.advance_to(harness.clock.now() + timedelta(minutes=5))
        await engine.run_until_idle(advance_clock=False)  # the wait ends, but nothing new starts
        assert execution.nodes["hold"].phase is Phase.SUCCEEDED
        assert execution.nodes["shaky"].phase is Phase.PENDING
        assert execution.status is Status.PAUSED
        await engine.resume(execution.id)
        await engine.run_until_idle()
        assert execution.nodes["shaky"].phase is Phase.FAILED  # flaky: fails once, no retry policy

    asyncio.run(go())


def test_retry_from_failed_runs_the_failed_and_downstream_steps_again_keeping_old_runs(
    harness: Harness,
) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        started = await engine.start(revision="r1", workflow="flow", params={})
        await engine.run_until_idle()
        assert started.status is Status.FAILED  # test.flaky fails its first call
        execution = await engine.retry(started.id)
        await engine.run_until_idle()
        assert execution.status is Status.SUCCEEDED
        assert execution.nodes["first"].run == 1  # succeeded: kept, not run again
        assert (
            execution.nodes["shaky"].run == 2 and execution.nodes["shaky"].phase is Phase.SUCCEEDED
        )
        assert execution.nodes["last"].run == 2 and execution.nodes["last"].output == {"after": 1}
        old = {(n.key, n.run): n.phase for n in execution.history}
        assert old == {("shaky", 1): Phase.FAILED, ("last", 1): Phase.SKIPPED}
        assert harness.hooks.steps_called("test.record").count("first") == 1
        stored = await harness.store.load(execution.id)
        assert stored is not None
        assert sorted(
            (r["key"], r["run"]) for r in stored.nodes if r["key"] in ("shaky", "last")
        ) == [("last", 1), ("last", 2), ("shaky", 1), ("shaky", 2)]

    asyncio.run(go())


def test_only_failed_or_cancelled_executions_are_retried(harness: Harness) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="two-gates", params={})
        await engine.run_until_idle(advance_clock=False)
        with pytest.raises(ControlError, match="only failed or cancelled executions are retried"):
            await engine.retry(execution.id)

    asyncio.run(go())


def test_approving_one_step_leaves_the_other_waiting(harness: Harness) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="two-gates", params={})
        await engine.run_until_idle(advance_clock=False)
        await engine.approve(execution.id, by="alice", step="left")
        await engine.run_until_idle(advance_clock=False)
        assert execution.nodes["left"].phase is Phase.SUCCEEDED
        assert execution.nodes["right"].phase is Phase.RUNNING
        assert execution.status is Status.WAITING_APPROVAL
        await engine.approve(execution.id, by="bob")  # every waiting step
        await engine.run_until_idle()
        assert execution.status is Status.SUCCEEDED
        assert execution.nodes["right"].approval["by"] == "bob"  # type: ignore[index]

    asyncio.run(go())


def test_control_of_an_unknown_execution_or_a_step_not_waiting_is_a_clear_error(
    harness: Harness,
) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        with pytest.raises(EngineError, match="no execution 'nope'"):
            await engine.pause("nope")
        execution = await engine.start(revision="r1", workflow="two-gates", params={})
        await engine.run_until_idle(advance_clock=False)
        with pytest.raises(EngineError, match="no step waiting for approval named 'done'"):
            await engine.approve(execution.id, by="alice", step="done")

    asyncio.run(go())


def test_cancel_in_concurrent_mode_cancels_running_attempts_cooperatively(harness: Harness) -> None:
    engine = harness.load(
        """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  steps:
    - {id: crawl, action: test.slow, with: {seconds: 30}}
    - {id: after, action: test.record, with: {}}
""",
        sequential=False,
    )

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="slow", params={})
        for _ in range(200):
            if harness.actions.in_flight:
                break
            await asyncio.sleep(0.01)
        await engine.cancel(execution.id, reason="operator said stop")
        for _ in range(300):
            if execution.finished:
                break
            await asyncio.sleep(0.01)
        assert execution.status is Status.CANCELLED
        assert execution.nodes["crawl"].phase is Phase.CANCELLED
        assert execution.nodes["after"].phase is Phase.CANCELLED
        await engine.close()

    asyncio.run(go())


def test_one_waiting_step_is_cancelled_alone_and_retried_alone(harness: Harness) -> None:
    engine = harness.load(FLOW)

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="two-gates", params={})
        await engine.run_until_idle(advance_clock=False)
        await engine.cancel(execution.id, reason="cancelled by alice", step="left")
        left = execution.nodes["left"]
        assert (left.phase, left.error_kind, left.error) == (
            Phase.FAILED,
            "cancelled",
            "cancelled by alice",
        )
        assert execution.nodes["right"].phase is Phase.RUNNING  # still waits for its approval
        assert execution.status is Status.WAITING_APPROVAL
        with pytest.raises(ControlError, match="no unfinished step named 'left'"):
            await engine.cancel(execution.id, step="left")
        await engine.approve(execution.id, by="bob", step="right")
        await engine.run_until_idle()
        assert execution.status is Status.FAILED
        assert execution.nodes["done"].phase is Phase.SKIPPED
        with pytest.raises(ControlError, match="no failed or cancelled step named 'right'"):
            await engine.retry(execution.id, step="right")
        execution = await engine.retry(execution.id, step="left")
        assert execution.nodes["left"].run == 2 and execution.nodes["right"].run == 1
        await engine.run_until_idle(advance_clock=False)
        await engine.approve(execution.id, by="carol", step="left")
        await engine.run_until_idle()
        assert execution.status is Status.SUCCEEDED
        assert execution.nodes["done"].run == 2

    asyncio.run(go())
