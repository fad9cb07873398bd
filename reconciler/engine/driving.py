"""The service's dispatch: a driver task per active execution, woken by a kick (an attempt
ended, a person acted) or its next timer, and evicted from memory when it only waits for
something further than ``evict_after``. The :class:`Driving` part of
:class:`~reconciler.engine.engine.Engine`; ``reconciler test`` dispatches sequentially instead.
"""

from __future__ import annotations

import asyncio

from reconciler.engine.parts import EngineParts
from reconciler.engine.state import Execution, Status, parse_iso


class Driving(EngineParts):
    def _activate(self, execution: Execution) -> None:
        if self.sequential or execution.id in self._drivers:
            return
        self._kicks[execution.id] = asyncio.Event()
        self._drivers[execution.id] = asyncio.create_task(
            self._drive(execution.id), name=f"drive-{execution.id}"
        )

    def kick(self, execution_id: str) -> None:
        event = self._kicks.get(execution_id)
        if event is not None:
            event.set()

    async def _drive(self, execution_id: str) -> None:
        """Drive one execution until it finishes or only waits for a while (then it is evicted)."""
        try:
            while True:
                execution = self.active.get(execution_id)
                if execution is None or execution.finished:
                    return
                kick = self._kicks[execution_id]
                kick.clear()
                try:
                    if await self.tick(execution):
                        continue
                except Exception as exc:  # a bug must not leave the execution running forever
                    await self.abort(execution, "driver", exc)
                    return
                if execution.finished:
                    return
                if kick.is_set():  # an attempt ended while this tick awaited the store
                    continue
                pause = self._seconds_to_next_timer(execution)
                waiting_for_a_slot = execution.status is Status.PENDING  # woken when one frees
                if (
                    not self._tasks.get(execution_id)
                    and not waiting_for_a_slot
                    and (pause is None or pause > self.limits.evict_after.total_seconds())
                ):
                    self._evict(execution_id)
                    return
                # A timer handle, not wait_for: wait_for costs a task per wait, and this is the
                # hottest wait of the engine.
                alarm = (
                    asyncio.get_running_loop().call_later(pause, kick.set)
                    if pause is not None
                    else None
                )
                try:
                    await kick.wait()
                finally:
                    if alarm is not None:
                        alarm.cancel()
        finally:
            self._drivers.pop(execution_id, None)

    def _evict(self, execution_id: str) -> None:
        self.active.pop(execution_id, None)
        self._kicks.pop(execution_id, None)

    def _seconds_to_next_timer(self, execution: Execution) -> float | None:
        # Held retries must not wake the driver over and over while suspended.
        wake = self.next_wake(execution, without_retries=self.suspended is not None)
        if wake is None:
            return None
        return max((parse_iso(wake) - self.clock.now()).total_seconds(), 0.0)
