"""Time for the engine: the system clock in the service, a fake one in ``reconciler test``.

The engine never sleeps on durations: it persists deadlines and asks the clock what time it is,
so a fake clock makes a ``wait: 1h`` or a backoff finish at once and timers survive restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (``advance_to``)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        if moment > self._now:
            self._now = moment
