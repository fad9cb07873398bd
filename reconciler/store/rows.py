"""A :class:`~reconciler.store.base.Batch` as SQLite rows: encoded (JSON) before the writer's
transaction opens, so a batch that cannot be encoded fails alone; written with one
``executemany`` per table for a whole group of batches. Used by :mod:`reconciler.store.sqlite`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from reconciler.store import encoding
from reconciler.store.base import Batch


class Rows:
    """The rows of one batch or of a group of them, encoded to JSON before any transaction."""

    def __init__(self) -> None:
        self.nodes: list[tuple[Any, ...]] = []
        self.executions: list[tuple[Any, ...]] = []
        self.timeline: list[tuple[str, str]] = []
        self.decisions: list[tuple[Any, ...]] = []
        self.alerts_done: list[tuple[str, str, int]] = []

    def __bool__(self) -> bool:
        return bool(
            self.nodes or self.executions or self.timeline or self.decisions or self.alerts_done
        )

    @classmethod
    def of(cls, batch: Batch) -> Rows:
        """A batch's rows; raises (TypeError, ValueError) if any of it cannot be encoded."""
        rows = cls()
        rows.add(batch)
        return rows

    @classmethod
    def joined(cls, parts: list[Rows]) -> Rows:
        """Several batches' rows in order, to write in one transaction (the last write of a row
        wins, as if they were written one after the other)."""
        if len(parts) == 1:
            return parts[0]
        rows = cls()
        for part in parts:
            rows.nodes += part.nodes
            rows.executions += part.executions
            rows.timeline += part.timeline
            rows.decisions += part.decisions
            rows.alerts_done += part.alerts_done
        return rows

    def add(self, batch: Batch) -> None:
        """Encode a batch whole, or raise and add nothing."""
        nodes = [
            (execution, r["key"], r["run"], r["phase"], r.get("wake_at"), encoding.dumps(r))
            for execution, r in batch.nodes
        ]
        executions = [
            (
                h["id"],
                h["status"],
                h["workflow"],
                h.get("policy", ""),
                h.get("target", ""),
                h.get("parent"),
                h["created_at"],
                h.get("wake_at"),
                encoding.dumps(h),
            )
            for h in batch.executions
        ]
        timeline = [(execution, encoding.dumps(entry)) for execution, entry in batch.timeline]
        decisions = [
            (d["fingerprint"], d["starts_at"], d["policy"], d.get("execution"), d["decision"],
             encoding.dumps(d))
            for d in batch.decisions
        ]  # fmt: skip
        self.nodes += nodes
        self.executions += executions
        self.timeline += timeline
        self.decisions += decisions
        self.alerts_done += batch.alerts_done

    def write(self, connection: sqlite3.Connection) -> None:
        connection.executemany(
            "INSERT INTO nodes (execution, key, run, phase, wake_at, record) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (execution, key, run) DO UPDATE SET phase = excluded.phase, "
            "wake_at = excluded.wake_at, record = excluded.record",
            self.nodes,
        )
        connection.executemany(
            "INSERT INTO executions (id, status, workflow, policy, target, parent, created_at, wake_at, header) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
            "wake_at = excluded.wake_at, header = excluded.header",
            self.executions,
        )
        connection.executemany(
            "INSERT INTO timeline (execution, entry) VALUES (?, ?)", self.timeline
        )
        connection.executemany(
            "INSERT INTO decisions (fingerprint, starts_at, policy, execution, decision, record) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            self.decisions,
        )
        connection.executemany(
            "UPDATE alerts SET pending = 0 WHERE fingerprint = ? AND starts_at = ? "
            "AND deliveries = ?",
            self.alerts_done,
        )
