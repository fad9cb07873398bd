"""Loading executions from the store, recovering them after a restart, waking evicted ones,
and the sequential loop of ``reconciler test``: the :class:`Loading` half of the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from reconciler.engine import scheduler
from reconciler.engine.clock import FakeClock
from reconciler.engine.parts import EngineParts
from reconciler.engine.recovery import recover_node
from reconciler.engine.state import Execution, Phase, Status, iso
from reconciler.errors import EngineError
from reconciler.store.base import Batch, StoredExecution
from reconciler.validation.compiled import CompiledWorkflow

OnIdle = Callable[[datetime | None], Awaitable[bool]]
RECOVERY_PAGE = 1000  # executions loaded at a time by recover()


class Loading(EngineParts):
    async def get(self, execution_id: str) -> Execution:
        """An execution, from memory or the store (it becomes active again)."""
        if execution_id in self.active:
            return self.active[execution_id]
        stored = await self.store.load(execution_id)
        if stored is None:
            raise EngineError(f"no execution {execution_id!r}")
        execution = Execution.from_records(stored.header, stored.nodes)
        await self.revision(execution.revision)
        if not execution.finished:
            self.active[execution.id] = execution
        return execution

    async def recover(self) -> int:
        """Resume every unfinished execution after a start; returns how many.

        Page by page, so memory stays bounded: each page's recovery decisions are saved in one
        transaction, and executions that only wait for something far off stay in the store
        (:meth:`wake_due` loads them when due)."""
        count, after = 0, ""
        resumed: list[Execution] = []
        while page := await self.store.unfinished(after=after, limit=RECOVERY_PAGE):
            after = page[-1].header["id"]
            count += len(page)
            resumed += await self._recover_page(page)
        # Dispatch starts once everything is recovered: the first pages' steps do not compete
        # with the recovery of the rest.
        for execution in resumed:
            self.active[execution.id] = execution
            self._activate(execution)
        return count

    async def _recover_page(self, page: list[StoredExecution]) -> list[Execution]:
        """Recover a page of executions; returns those to keep in memory (saved, not started)."""
        changes = Batch()
        resumed: list[Execution] = []
        horizon = iso(self.clock.now() + self.limits.evict_after)
        for record in page:
            execution = Execution.from_records(record.header, record.nodes)
            try:
                workflow = await self._recover_execution(execution)
            except Exception as exc:  # its revision is gone, a bug: it fails, the rest recover
                await self.abort(execution, "recovery", exc)
                continue
            if self.sequential or not self._only_waits(execution, workflow, horizon):
                resumed.append(execution)
            changes.extend(self.batch(execution))
        if changes:
            await self.store.save(changes)
        return resumed

    async def _recover_execution(self, execution: Execution) -> CompiledWorkflow:
        """Decide what each interrupted step does now; the status says so at once (an
        execution waiting for a person shows ``waiting_approval`` before it is driven)."""
        await self.revision(execution.revision)
        workflow = self.workflow(execution)
        for node in execution.nodes.values():
            if node.phase is not Phase.RUNNING:
                continue
            if node.attempt_open:
                await recover_node(self, execution, workflow, node)
            elif (
                node.waiting in (None, "backoff")
                and not node.wake_at
                and workflow.steps[node.step].step.action is not None
            ):
                # Started, but its first attempt was never written: nothing was called yet.
                node.waiting, node.wake_at = "backoff", iso(self.clock.now())
                execution.touch(node)
        self._update_status(execution)
        return workflow

    def _only_waits(self, execution: Execution, workflow: CompiledWorkflow, horizon: str) -> bool:
        """Nothing to do before ``horizon``: no step ready, none running without a timer, not
        finishing. The scheduler itself answers (a change or a ready step means work)."""
        if execution.status is Status.PENDING:
            return False
        changes = len(execution.timeline)
        if scheduler.advance(execution, workflow, self.clock.now()):
            return False
        if len(execution.timeline) != changes or scheduler.top_level_done(execution, workflow):
            return False
        wake = self.next_wake(execution)
        return wake is None or wake > horizon

    async def wake_due(self) -> int:
        """Load evicted executions whose timers are due (the service calls this periodically).
        Not while suspended: nothing they are due for may start (:meth:`unsuspend` wakes them)."""
        if self.suspended:
            return 0
        horizon = iso(self.clock.now() + timedelta(seconds=1))
        woken = 0
        for execution_id in await self.store.due(horizon):
            if execution_id not in self.active:
                try:
                    execution = await self.get(execution_id)
                except EngineError as exc:  # its revision is gone: it fails, others wake
                    stored = await self.store.load(execution_id)
                    if stored is not None:
                        await self.abort(
                            Execution.from_records(stored.header, stored.nodes), "wake", exc
                        )
                    continue
                self._activate(execution)
                woken += 1
        return woken

    async def run_until_idle(
        self, max_rounds: int = 100_000, on_idle: OnIdle | None = None, advance_clock: bool = True
    ) -> None:
        """Sequential mode: dispatch one step at a time until nothing can progress, moving the
        fake clock to the next timer whenever nothing else can happen.

        ``on_idle(next_timer)`` is asked first whenever nothing is ready (to apply approvals or
        deliver alerts due before that timer); it returns True if it did something.
        """
        for _ in range(max_rounds):
            progressed = False
            for execution in sorted(self.active.values(), key=lambda e: (e.created_at, e.id)):
                if execution.finished:
                    continue
                try:
                    ticked = await self.tick(execution, one=True)
                except Exception as exc:  # a bug fails this execution, never the whole run
                    await self.abort(execution, "driver", exc)
                    ticked = True
                if ticked:
                    progressed = True
                    break
            if progressed:
                continue
            timers = [
                t for t in (self.next_timer(e) for e in self.active.values() if not e.finished) if t
            ]
            upcoming = min(timers) if timers else None
            if on_idle is not None and await on_idle(upcoming):
                continue
            if upcoming is None or not advance_clock or not isinstance(self.clock, FakeClock):
                return
            self.clock.advance_to(upcoming)
        raise EngineError(f"executions still progressing after {max_rounds} rounds")
