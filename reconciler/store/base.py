"""The ``Store`` interface and the records it keeps, in plain JSON types and UTC ISO-8601.

The engine writes :class:`Batch` es: everything a batch holds is durable when ``save`` returns
(write-ahead: the engine awaits it before calling an action, and before starting anything
downstream of a result). Kept free of SQLite-only assumptions so a PostgreSQL store can follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Batch:
    """Changes to persist together."""

    executions: list[dict[str, Any]] = field(default_factory=list)  # execution headers (upsert)
    nodes: list[tuple[str, dict[str, Any]]] = field(
        default_factory=list
    )  # (execution id, node record)
    timeline: list[tuple[str, dict[str, Any]]] = field(
        default_factory=list
    )  # (execution id, entry)
    # The intake's: decisions taken, and alerts evaluated (fingerprint, starts_at, deliveries:
    # no longer pending unless delivered again meanwhile). In the same transaction as the
    # execution a decision starts, so neither exists without the other.
    decisions: list[dict[str, Any]] = field(default_factory=list)
    alerts_done: list[tuple[str, str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.executions or self.nodes or self.timeline or self.decisions or self.alerts_done
        )

    def extend(self, other: Batch) -> None:
        self.executions.extend(other.executions)
        self.nodes.extend(other.nodes)
        self.timeline.extend(other.timeline)
        self.decisions.extend(other.decisions)
        self.alerts_done.extend(other.alerts_done)


@dataclass(frozen=True)
class StoredExecution:
    header: dict[str, Any]
    nodes: list[dict[str, Any]]


class Store(Protocol):
    """Where executions live. Implementations: :mod:`.memory`, :mod:`.sqlite`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save(self, batch: Batch) -> None:
        """Persist a batch; durable when it returns. A failure that passes (a full disk) is
        waited out: the batch is retried, in order with later ones, until it is written."""

    async def load(self, execution_id: str) -> StoredExecution | None: ...

    async def unfinished(self, *, after: str = "", limit: int = 0) -> list[StoredExecution]:
        """Executions not yet succeeded, failed or cancelled (for recovery), by id.

        Paged: ``limit`` of them (0: all) whose id sorts after ``after``."""

    async def query(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        policy: str | None = None,
        target: str | None = None,
        since: str | None = None,
        alert: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Executions' headers, newest first: each filter given must hold (``since``: created
        at or after this UTC timestamp; ``alert``: started by an alert of this name or
        fingerprint)."""

    async def timeline(self, execution_id: str) -> list[dict[str, Any]]: ...

    async def due(self, before: str, limit: int = 1000) -> list[str]:
        """Ids of unfinished executions whose earliest timer is at or before ``before``."""

    async def prune_finished(self, before: str, limit: int = 1000) -> int:
        """Delete up to ``limit`` executions that finished (succeeded, failed, cancelled) before
        ``before``, with their step records and timelines; returns how many. Never one that is
        unfinished, nor a finished subflow whose parent is not, nor a finished parent of an
        unfinished subflow. Revisions and the intake's decisions are kept."""

    async def save_revision(self, revision: str, files: dict[str, bytes]) -> None: ...

    async def load_revision(self, revision: str) -> dict[str, bytes] | None: ...

    async def count_by_status(self) -> dict[str, int]:
        """How many executions are in each status (for metrics)."""

    async def count_overdue(self, before: str) -> int:
        """How many unfinished executions have a workflow deadline before ``before``: past
        their timeout with no end recorded (the engine is stuck, or cannot write)."""

    async def policy_history(self, policy: str, since: str) -> list[dict[str, Any]]:
        """Executions of a policy that are unfinished or were created at or after ``since``:
        ``{id, target, status, created_at}`` (what admission needs)."""

    # -- the intake: alerts, decisions, service state ------------------------------------------
    async def receive_alerts(self, alerts: list[dict[str, Any]], received_at: str) -> list[bool]:
        """Store a delivery durably, in one transaction. Each alert is keyed by its
        ``fingerprint`` and ``starts_at``; a known one is updated (status, ends, annotations) and
        marked pending again. Returns, for each, whether it was a re-delivery (same key and
        status as already stored).

        The key is decided inside that transaction (:mod:`reconciler.store.firings`), so
        concurrent deliveries cannot race: an alert whose ``starts_at`` is None (no startsAt)
        takes the ``starts_at`` of the newest stored *firing* record of its fingerprint, else
        ``received_at``; an alert whose exact key is not stored while a firing record of its
        fingerprint has a later ``starts_at`` is that firing (Alertmanager merged an earlier
        startsAt): it takes that record's ``starts_at`` and keeps its own as
        ``reported_starts_at``. The caller's dicts are not changed."""

    async def pending_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts received but not yet evaluated, oldest first, with their ``deliveries``."""

    async def finish_alert(self, fingerprint: str, starts_at: str, deliveries: int) -> None:
        """Evaluated: no longer pending, unless it was delivered again meanwhile."""

    async def alerts(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent alerts, most recently received first."""

    async def save_decision(self, decision: dict[str, Any]) -> None:
        """Record what the intake decided for an alert and a policy (durable on return)."""

    async def decisions_of(self, alerts: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Every decision taken for these alerts (fingerprint, starts_at), oldest first."""

    async def decisions(
        self,
        *,
        fingerprint: str | None = None,
        starts_at: str | None = None,
        execution: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Decisions, oldest first, filtered by alert or by the execution they started."""

    async def get_state(self, key: str) -> Any:
        """A value of the service's own state (None when unset)."""

    async def set_state(self, key: str, value: Any) -> None: ...


FINAL = ("succeeded", "failed", "cancelled")
