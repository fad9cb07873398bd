"""An in-memory :class:`~reconciler.store.base.Store`: for tests and for ``reconciler test``.

Records are copied through JSON on the way in and out, so what the engine keeps and what it
stored can never alias, through the same encoder as SQLite (``store/encoding.py``): a value of
another type is written as CEL renders it, and what JSON cannot hold at all (a map with tuple
keys) fails here as it would in SQLite.
"""

from __future__ import annotations

from typing import Any

from reconciler.store import encoding
from reconciler.store.base import FINAL, Batch, StoredExecution
from reconciler.store.memory_intake import MemoryIntake

_copy = encoding.copy


class MemoryStore(MemoryIntake):
    def __init__(self) -> None:
        super().__init__()
        self._executions: dict[str, dict[str, Any]] = {}
        self._nodes: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
        self._timeline: dict[str, list[dict[str, Any]]] = {}
        self._revisions: dict[str, dict[str, bytes]] = {}
        self.saves = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def save(self, batch: Batch) -> None:
        # Copy everything first: a batch that cannot be encoded is refused whole.
        headers = [_copy(h) for h in batch.executions]
        nodes = [(execution, _copy(record)) for execution, record in batch.nodes]
        entries = [(execution, _copy(entry)) for execution, entry in batch.timeline]
        decisions = [_copy(d) for d in batch.decisions]
        self.saves += 1
        for header in headers:
            self._executions[header["id"]] = header
        for execution, record in nodes:
            self._nodes.setdefault(execution, {})[(record["key"], record["run"])] = record
        for execution, entry in entries:
            self._timeline.setdefault(execution, []).append(entry)
        self._record_intake(decisions, list(batch.alerts_done))

    async def load(self, execution_id: str) -> StoredExecution | None:
        header = self._executions.get(execution_id)
        if header is None:
            return None
        nodes = list(self._nodes.get(execution_id, {}).values())
        return StoredExecution(_copy(header), _copy(nodes))

    async def unfinished(self, *, after: str = "", limit: int = 0) -> list[StoredExecution]:
        ids = sorted(
            i for i, h in self._executions.items() if h["status"] not in FINAL and i > after
        )
        found = []
        for execution_id in ids[:limit] if limit else ids:
            stored = await self.load(execution_id)
            assert stored is not None
            found.append(stored)
        return found

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
        rows = [
            h
            for h in self._executions.values()
            if (status is None or h["status"] == status)
            and (workflow is None or h["workflow"] == workflow)
            and (policy is None or h["policy"] == policy)
            and (target is None or h["target"] == target)
            and (since is None or h["created_at"] >= since)
            and (alert is None or _from_alert(h, alert))
        ]
        rows.sort(key=lambda h: h["created_at"], reverse=True)
        copied: list[dict[str, Any]] = _copy(rows[:limit])
        return copied

    async def count_overdue(self, before: str) -> int:
        return sum(
            1
            for h in self._executions.values()
            if h["status"] not in FINAL and h.get("deadline") and h["deadline"] < before
        )

    async def timeline(self, execution_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = _copy(self._timeline.get(execution_id, []))
        return entries

    async def due(self, before: str, limit: int = 1000) -> list[str]:
        found = [
            (header["wake_at"], execution_id)
            for execution_id, header in self._executions.items()
            if header["status"] not in FINAL
            and header.get("wake_at")
            and header["wake_at"] <= before
        ]
        return [execution_id for _, execution_id in sorted(found)[:limit]]

    async def prune_finished(self, before: str, limit: int = 1000) -> int:
        open_ids = {i for i, h in self._executions.items() if h["status"] not in FINAL}
        open_parents = {self._executions[i].get("parent") for i in open_ids}
        pruned = [
            i
            for i, h in self._executions.items()
            if h["status"] in FINAL
            and (h.get("finished_at") or h["created_at"]) < before
            and h.get("parent") not in open_ids
            and i not in open_parents
        ][:limit]
        for execution_id in pruned:
            del self._executions[execution_id]
            self._nodes.pop(execution_id, None)
            self._timeline.pop(execution_id, None)
        return len(pruned)

    async def save_revision(self, revision: str, files: dict[str, bytes]) -> None:
        self._revisions.setdefault(revision, dict(files))  # a revision id names fixed content

    async def load_revision(self, revision: str) -> dict[str, bytes] | None:
        files = self._revisions.get(revision)
        return dict(files) if files is not None else None


def _from_alert(header: dict[str, Any], alert: str) -> bool:
    """Started by an alert of this name or fingerprint."""
    started_by = header.get("alert") or {}
    name = (started_by.get("labels") or {}).get("alertname")
    return alert in (name, started_by.get("fingerprint"))
