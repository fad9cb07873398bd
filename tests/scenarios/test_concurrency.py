"""Concurrency in the service's dispatch: parallel blocks, for_each, and the global caps."""

from __future__ import annotations

import asyncio

from harness import Harness

from reconciler.engine.engine import Limits
from reconciler.engine.state import Status

FANOUT = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  steps:
    - id: wide
      parallel:
        - {id: a, action: test.slow, with: {seconds: 0.05}}
        - {id: b, action: test.slow, with: {seconds: 0.05}}
        - {id: c, action: test.slow, with: {seconds: 0.05}}
        - {id: d, action: test.slow, with: {seconds: 0.05}}
        - {id: e, action: test.slow, with: {seconds: 0.05}}
      max_concurrency: 2
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: one}
spec:
  steps:
    - {id: work, action: test.slow, with: {seconds: 0.05}}
"""


async def _until_finished(executions: list, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.01)):
        if all(e.finished for e in executions):
            return
        await asyncio.sleep(0.01)


def test_parallel_members_run_at_once_up_to_max_concurrency(harness: Harness) -> None:
    async def go() -> None:
        engine = await harness.aload(FANOUT, sequential=False)
        execution = await engine.start(revision="r1", workflow="fan", params={})
        await _until_finished([execution])
        assert execution.status is Status.SUCCEEDED
        assert harness.actions.max_in_flight == 2
        await engine.close()

    asyncio.run(go())


def test_the_global_step_cap_bounds_running_steps_across_executions(harness: Harness) -> None:
    async def go() -> None:
        engine = await harness.aload(FANOUT, sequential=False, limits=Limits(max_running_steps=3))
        executions = [
            await engine.start(revision="r1", workflow="one", params={}) for _ in range(8)
        ]
        await _until_finished(executions)
        assert all(e.status is Status.SUCCEEDED for e in executions)
        assert harness.actions.max_in_flight == 3
        await engine.close()

    asyncio.run(go())


def test_a_group_cap_keeps_extra_executions_pending_until_a_slot_frees(harness: Harness) -> None:
    async def go() -> None:
        engine = await harness.aload(
            FANOUT, sequential=False, limits=Limits(groups={"policy:p": 1})
        )
        executions = [
            await engine.start(revision="r1", workflow="one", params={}, groups=["policy:p"])
            for _ in range(3)
        ]
        await asyncio.sleep(0)
        assert sum(e.status is Status.PENDING for e in executions) >= 1
        await _until_finished(executions)
        assert all(e.status is Status.SUCCEEDED for e in executions)
        assert harness.actions.max_in_flight == 1
        await engine.close()

    asyncio.run(go())


SERIAL = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: serial}
spec:
  steps:
    - {id: first, action: test.slow, with: {seconds: 0.1}}
    - {id: second, action: test.record, with: {}}
"""


def test_the_kill_switch_lets_a_running_step_finish_then_holds_the_rest_until_lifted(
    harness: Harness,
) -> None:
    async def go() -> None:
        engine = await harness.aload(SERIAL, sequential=False)
        execution = await engine.start(revision="r1", workflow="serial", params={})
        for _ in range(500):  # until the first step is running
            if execution.nodes.get("first") and execution.nodes["first"].attempt_open:
                break
            await asyncio.sleep(0.005)
        await engine.suspend("suspended by alice")
        for _ in range(500):
            if execution.nodes["first"].phase.value == "succeeded":
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # time enough for `second` to start, were it allowed
        assert execution.nodes["first"].phase.value == "succeeded"  # in flight: it finished
        assert execution.nodes["second"].phase.value == "pending"
        assert (execution.status, execution.reason) == (Status.PAUSED, "suspended by alice")
        held = await engine.start(revision="r1", workflow="serial", params={})
        await asyncio.sleep(0.05)
        assert harness.hooks.steps_called() == ["first"]  # the new one started nothing either
        await engine.unsuspend()  # both were evicted while held: it loads them from the store
        for _ in range(500):
            now = [await engine.get(e.id) for e in (execution, held)]
            if all(e.finished for e in now):
                break
            await asyncio.sleep(0.01)
        assert [e.status for e in now] == [Status.SUCCEEDED, Status.SUCCEEDED]
        await engine.close()

    asyncio.run(go())
