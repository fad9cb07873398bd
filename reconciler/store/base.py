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

    def __bool__(self) -> bool:
        return bool(self.executions or self.nodes or self.timeline)

    def extend(self, other: Batch) -> None:
        self.executions.extend(other.executions)
        self.nodes.extend(other.nodes)
        self.timeline.extend(other.timeline)


@dataclass(frozen=True)
class StoredExecution:
    header: dict[str, Any]
    nodes: list[dict[str, Any]]


class Store(Protocol):
    """Where executions live. Implementations: :mod:`.memory`, :mod:`.sqlite`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save(self, batch: Batch) -> None:
        """Persist a batch; durable when it returns."""

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
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...

    async def timeline(self, execution_id: str) -> list[dict[str, Any]]: ...

    async def due(self, before: str, limit: int = 1000) -> list[str]:
        """Ids of unfinished executions whose earliest timer is at or before ``before``."""

    async def save_revision(self, revision: str, files: dict[str, bytes]) -> None: ...

    async def load_revision(self, revision: str) -> dict[str, bytes] | None: ...


FINAL = ("succeeded", "failed", "cancelled")
