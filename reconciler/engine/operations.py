"""What people do to executions through the engine: pause, resume, cancel, retry, approve and
reject (the rules themselves are in :mod:`reconciler.engine.control`)."""

from __future__ import annotations

import asyncio

from reconciler.engine import control
from reconciler.engine.parts import EngineParts
from reconciler.engine.state import Execution, Phase, iso
from reconciler.errors import EngineError
from reconciler.validation.compiled import CompiledWorkflow


class Operations(EngineParts):
    async def pause(self, execution_id: str) -> Execution:
        execution = await self.get(execution_id)
        control.pause(execution, self.clock.now())
        return await self._after_control(execution)

    async def resume(self, execution_id: str) -> Execution:
        execution = await self.get(execution_id)
        control.resume(execution, self.clock.now())
        return await self._after_control(execution)

    async def cancel(
        self, execution_id: str, reason: str = "cancelled", step: str | None = None
    ) -> Execution:
        execution = await self.get(execution_id)
        if step is not None:
            control.cancel_step(execution, self.clock.now(), step, reason)
            return await self._after_control(execution)
        control.cancel(execution, self.clock.now(), reason)
        self._cancel_tasks(execution.id)
        for node in execution.nodes.values():
            if node.phase is Phase.RUNNING and node.child:
                child = await self.get(node.child)
                if not child.finished:
                    await self.cancel(child.id, reason)
        return await self._after_control(execution)

    async def suspend(self, reason: str) -> None:
        """The kill switch: no step starts and no retry is attempted anywhere; running steps
        finish and executions show as paused (with ``reason``) at their next step boundary."""
        self.suspended = reason
        for execution_id in list(self.active):
            self.kick(execution_id)

    async def unsuspend(self) -> int:
        """Lift the kill switch; wake every execution it paused. Returns how many were woken."""
        reason, self.suspended = self.suspended, None
        if reason is None:
            return 0
        for execution_id in list(self.active):
            self.kick(execution_id)
        woken = 0
        for header in await self.store.query(status="paused", limit=1_000_000):
            if header.get("reason") == reason and header["id"] not in self.active:
                self._activate(await self.get(header["id"]))
                woken += 1
        return woken + await self.wake_due()

    async def retry(self, execution_id: str, step: str | None = None) -> Execution:
        execution = await self.get(execution_id)
        control.retry_from_failed(execution, self.workflow(execution), self.clock.now(), step)
        self.active[execution.id] = execution
        return await self._after_control(execution)

    async def approve(
        self,
        execution_id: str,
        *,
        by: str,
        step: str | None = None,
        comment: str | None = None,
        approve: bool = True,
    ) -> Execution:
        execution = await self.get(execution_id)
        if execution.gate is not None and step is None:
            now = self.clock.now()
            control.decide_gate(execution, now, approve, by, comment)
            if approve:  # the workflow's timeout runs from now on
                execution.deadline = iso(now + self.workflow(execution).definition.spec.timeout)
                execution.header_dirty = True
            return await self._after_control(execution)
        waiting = control.waiting_for_approval(execution, step)
        if not waiting:
            raise EngineError(
                f"execution {execution_id} has no step waiting for approval"
                + (f" named {step!r}" if step else "")
            )
        workflow = self.workflow(execution)
        for node in waiting:
            if self.steps.decide_approval(execution, node, approve, by, comment):
                node.waiting, node.wake_at = (
                    "backoff",
                    iso(self.clock.now()),
                )  # attempt again at once
                execution.touch(node)
        return await self._after_control(execution, workflow)

    async def reject(
        self, execution_id: str, *, by: str, step: str | None = None, comment: str | None = None
    ) -> Execution:
        return await self.approve(execution_id, by=by, step=step, comment=comment, approve=False)

    async def _after_control(
        self, execution: Execution, workflow: CompiledWorkflow | None = None
    ) -> Execution:
        self._update_status(execution)
        await self.save(execution)
        if not execution.finished:
            self.active[execution.id] = execution
            self._activate(execution)
            self.kick(execution.id)
        return execution

    async def close(self) -> None:
        """Stop driving (running attempts are cancelled; they resume after a restart)."""
        for task in list(self._drivers.values()):
            task.cancel()
        for tasks in list(self._tasks.values()):
            for task in list(tasks):
                task.cancel()
        await asyncio.gather(
            *self._drivers.values(),
            *(t for ts in self._tasks.values() for t in ts),
            return_exceptions=True,
        )
        await self.steps.http.aclose()  # the HTTP actions' kept-alive connections
