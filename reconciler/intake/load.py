"""What the intake holds, and the bounds past which deliveries are refused.

Three bounds (``ServiceSettings.max_queued_alerts``, ``max_deliveries_in_flight`` and
``max_bytes_in_flight``): alerts queued -- received and not yet evaluated, counting those being
stored --, webhook deliveries being handled (a service slower than its offered load otherwise
keeps every request waiting until clients give up), and bytes of their bodies being read, parsed
and stored. Past any, :class:`~reconciler.errors.Overloaded` is raised
and the webhook answers 503 with ``Retry-After``: Alertmanager sends the alerts again later,
and the service's memory and latency stay bounded instead of growing with the backlog.

Owned by the :class:`~reconciler.intake.intake.Intake` (which counts alerts in when it stores
them and out when it evaluates them) and used by the HTTP API for the bytes. Everything runs on
the event loop: a check and its reservation happen without an await in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.errors import Overloaded

RETRY_AFTER = 5  # seconds: a few evaluation passes


class Load:
    def __init__(self, max_alerts: int = 0, max_bytes: int = 0, max_deliveries: int = 0) -> None:
        """``0``: no bound."""
        self.max_alerts = max_alerts
        self.max_bytes = max_bytes
        self.max_deliveries = max_deliveries
        self.deliveries = 0  # being handled
        self.pending = 0  # stored, not yet evaluated (an estimate, exact whenever drained)
        self.arriving = 0  # admitted, being stored
        self.bytes = 0  # of bodies in flight

    @property
    def queued(self) -> int:
        return self.pending + self.arriving

    # -- alerts ----------------------------------------------------------------------------------
    def check_room(self) -> None:
        """Refuse before reading a body when the queue is already full."""
        if self.max_alerts and self.queued >= self.max_alerts:
            raise self._full(0)

    @contextmanager
    def admitting(self, count: int) -> Iterator[None]:
        """Reserve room for ``count`` alerts while they are stored; kept as pending if the block
        ends normally, given back if it raises. A delivery larger than the bound is admitted
        when nothing is queued (else it could never be)."""
        if self.max_alerts and self.queued and self.queued + count > self.max_alerts:
            raise self._full(count)
        self.arriving += count
        try:
            yield
        except BaseException:
            self.arriving -= count
            raise
        self.arriving -= count
        self.pending += count

    def evaluated(self, count: int) -> None:
        self.pending = max(self.pending - count, 0)

    def drained(self) -> None:
        """Nothing is pending in the store (re-deliveries of a pending alert counted twice)."""
        self.pending = 0

    def _full(self, count: int) -> Overloaded:
        return Overloaded(
            f"{self.queued} alerts are waiting to be evaluated (at most {self.max_alerts}, "
            f"max_queued_alerts): send {'these ' + str(count) if count else 'them'} again later",
            reason="alerts_queued",
            retry_after=RETRY_AFTER,
        )

    # -- deliveries and bytes ----------------------------------------------------------------------
    def check_deliveries(self) -> None:
        if self.max_deliveries and self.deliveries >= self.max_deliveries:
            raise Overloaded(
                f"{self.deliveries} deliveries are being handled (at most {self.max_deliveries}, "
                "max_deliveries_in_flight): send this one again later",
                reason="deliveries_in_flight",
                retry_after=RETRY_AFTER,
            )

    def admit(self) -> None:
        """The checks a delivery can pass or fail before anything of it is read."""
        self.check_room()
        self.check_deliveries()

    @contextmanager
    def holding(self) -> Iterator[Holding]:
        """One delivery in flight, and the bytes of its body, added as they are known; all given
        back at the end."""
        self.check_deliveries()
        holding = Holding(self)
        self.deliveries += 1
        try:
            yield holding
        finally:
            self.deliveries -= 1
            self.bytes -= holding.size


class Holding:
    """The bytes one request holds (see :meth:`Load.holding`)."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.size = 0

    def add(self, size: int) -> None:
        load = self.load
        if load.max_bytes and load.bytes + size > load.max_bytes:
            raise Overloaded(
                f"{load.bytes} bytes of deliveries are being handled (at most "
                f"{load.max_bytes}, max_bytes_in_flight): send this one again later",
                reason="bytes_in_flight",
                retry_after=RETRY_AFTER,
            )
        load.bytes += size
        self.size += size
