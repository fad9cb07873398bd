"""Time for the engine: the system clock in the service, a fake one in ``reconciler test``.

The engine never sleeps on durations: it persists deadlines and asks the clock what time it is,
so a fake clock makes a ``wait: 1h`` or a backoff finish at once and timers survive restarts.
Actions that poll inside one call (``kubernetes.wait_ready``, ``drain_node``) wait through the
clock too (``monotonic`` and ``sleep``, the :class:`reconciler.actions.spec.Pacer` the engine
hands them): on the fake clock a sleep moves the clock instead of taking real time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to (``advance_to``), or when something sleeps on it."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._start = start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._start).total_seconds()

    async def sleep(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` at once. The test runner dispatches one step at a
        time, so nothing else can see the clock between the sleep's start and its end."""
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # still a point where other tasks (the simulator's server) run

    def advance_to(self, moment: datetime) -> None:
        if moment > self._now:
            self._now = moment


class Bounded:
    """The clock one action call waits on when its step has a ``timeout``: a sleep that would
    end past the deadline ends at it with TimeoutError. ``asyncio.wait_for`` measures only real
    time, so on the fake clock this is what makes a step's timeout hold."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.deadline = clock.monotonic() + seconds

    def monotonic(self) -> float:
        return self.clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        remaining = self.deadline - self.clock.monotonic()
        if seconds > remaining:
            await self.clock.sleep(max(remaining, 0.0))
            raise TimeoutError
        await self.clock.sleep(seconds)
