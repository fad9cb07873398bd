"""Whether the SQLite store can write now, and when its writer tries again.

Kept by :class:`~reconciler.store.sqlite.SqliteStore`'s writer thread and read by the service
(``/readyz``, ``reconciler_store_*`` metrics). A write that fails for a reason that passes
(a full disk, an I/O error, a read-only remount, a lock held elsewhere) starts a *streak*: it is
logged once, every failed attempt is counted, and the writer tries again after a jittered
backoff (0.1 s doubling to 5 s) until one write succeeds, which ends the streak (logged once).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("reconciler.store")

# SQLite's primary result codes for failures that can pass (extended codes share the prefix:
# SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, ...). A constraint or a corrupt file cannot.
PASSING = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY",
           "SQLITE_CANTOPEN", "SQLITE_PROTOCOL", "SQLITE_NOMEM")  # fmt: skip
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


def passing(exc: BaseException) -> bool:
    """True if a write that failed with ``exc`` may succeed later, as it is."""
    name = getattr(exc, "sqlite_errorname", None)
    return isinstance(exc, sqlite3.Error) and isinstance(name, str) and name.startswith(PASSING)


class WriteHealth:
    def __init__(
        self,
        store: str,
        *,
        first: float = FIRST_DELAY,
        maximum: float = MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.first, self.maximum = first, maximum
        self._clock, self._jitter = clock, jitter
        self.error: str | None = None  # the current streak's last error; None: writes work
        self.failures = 0  # failed write attempts since the store opened (retries included)
        self._since = 0.0
        self._streak = 0
        self._delay = 0.0
        self._retry_at = 0.0

    @property
    def failing(self) -> bool:
        return self.error is not None

    def failed(self, exc: BaseException) -> None:
        """A write failed: count it, and schedule the next try (logged on a streak's first)."""
        self.failures += 1
        self._streak += 1
        now = self._clock()
        first = self.error is None
        if first:
            self._since, self._delay = now, self.first
        else:
            self._delay = min(self._delay * 2, self.maximum)
        self.error = str(exc)
        # Half to all of the delay: stores failing together do not retry in step.
        self._retry_at = now + self._delay * (0.5 + self._jitter() / 2)
        if first:
            _log(
                "error",
                "the store cannot write; the writes wait and are retried until it can",
                store=self.store,
                error=str(exc),
            )

    def succeeded(self) -> None:
        """A write succeeded: the streak (if any) is over."""
        if self.error is None:
            return
        streak, since = self._streak, self._since
        self.error = None
        self._streak = 0
        _log(
            "warning",
            "the store writes again",
            store=self.store,
            failed_attempts=streak,
            after_seconds=round(self._clock() - since, 3),
        )

    def wait(self) -> float | None:
        """Seconds until the next try is due (None while writes work)."""
        if self.error is None:
            return None
        return max(self._retry_at - self._clock(), 0.0)

    def due(self) -> bool:
        return self.error is not None and self._clock() >= self._retry_at


def _log(level: str, event: str, **fields: Any) -> None:
    """Log from the writer thread; a log that cannot be written (a closed stream) is dropped,
    never raised into the write that was being recorded."""
    with contextlib.suppress(Exception):
        getattr(log, level)(event, **fields)
