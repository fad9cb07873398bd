"""The executions' records in SQLite: loading, recovery's and the waker's lookups, queries,
timelines and revisions.

Mixed into :class:`~reconciler.store.sqlite.SqliteStore` (which writes the batches); reads run
on its reader thread (``_read``), ``save_revision`` on its writer (``_write``).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from reconciler.store.base import FINAL, StoredExecution

_FINAL = "(" + ", ".join(f"'{status}'" for status in FINAL) + ")"


class SqliteExecutions:
    async def _read(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    async def _write(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    async def load(self, execution_id: str) -> StoredExecution | None:
        def read(connection: sqlite3.Connection) -> StoredExecution | None:
            row = connection.execute(
                "SELECT header FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
            if row is None:
                return None
            nodes = connection.execute(
                "SELECT record FROM nodes WHERE execution = ?", (execution_id,)
            ).fetchall()
            return StoredExecution(json.loads(row[0]), [json.loads(n[0]) for n in nodes])

        result: StoredExecution | None = await self._read(read)
        return result

    async def unfinished(self, *, after: str = "", limit: int = 0) -> list[StoredExecution]:
        def read(connection: sqlite3.Connection) -> list[StoredExecution]:
            headers = connection.execute(
                "SELECT id, header FROM executions WHERE status NOT IN ('succeeded', 'failed', 'cancelled') "
                "AND id > ? ORDER BY id LIMIT ?",
                (after, limit or -1),
            ).fetchall()
            nodes: dict[str, list[dict[str, Any]]] = {
                execution_id: [] for execution_id, _ in headers
            }
            if headers:
                for execution, record in connection.execute(
                    "SELECT n.execution, n.record FROM nodes n JOIN executions e ON e.id = n.execution "
                    "WHERE e.status NOT IN ('succeeded', 'failed', 'cancelled') AND e.id > ? AND e.id <= ?",
                    (after, headers[-1][0]),
                ):
                    nodes[execution].append(json.loads(record))
            return [StoredExecution(json.loads(h), nodes[i]) for i, h in headers]

        result: list[StoredExecution] = await self._read(read)
        return result

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
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            clauses, values = [], []
            for column, value in (
                ("status", status),
                ("workflow", workflow),
                ("policy", policy),
                ("target", target),
            ):
                if value is not None:
                    clauses.append(f"{column} = ?")
                    values.append(value)
            if since is not None:
                clauses.append("created_at >= ?")
                values.append(since)
            if alert is not None:
                clauses.append(
                    "? IN (json_extract(header, '$.alert.labels.alertname'), "
                    "json_extract(header, '$.alert.fingerprint'))"
                )
                values.append(alert)
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            # The clauses are fixed strings; every value is a bound parameter.
            rows = connection.execute(
                f"SELECT header FROM executions {where} ORDER BY created_at DESC LIMIT ?",  # noqa: S608
                (*values, limit),
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

        result: list[dict[str, Any]] = await self._read(read)
        return result

    async def count_overdue(self, before: str) -> int:
        def read(connection: sqlite3.Connection) -> int:
            # The same condition as the partial index of open executions, so only those are read.
            (count,) = connection.execute(
                "SELECT COUNT(*) FROM executions WHERE status NOT IN ('succeeded', 'failed', 'cancelled') "
                "AND json_extract(header, '$.deadline') < ?",
                (before,),
            ).fetchone()
            return int(count)

        result: int = await self._read(read)
        return result

    async def timeline(self, execution_id: str) -> list[dict[str, Any]]:
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = connection.execute(
                "SELECT entry FROM timeline WHERE execution = ? ORDER BY seq", (execution_id,)
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

        result: list[dict[str, Any]] = await self._read(read)
        return result

    async def due(self, before: str, limit: int = 1000) -> list[str]:
        def read(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT id FROM executions WHERE wake_at IS NOT NULL AND wake_at <= ? "
                "AND status NOT IN ('succeeded', 'failed', 'cancelled') ORDER BY wake_at LIMIT ?",
                (before, limit),
            ).fetchall()
            return [r[0] for r in rows]

        result: list[str] = await self._read(read)
        return result

    async def prune_finished(self, before: str, limit: int = 1000) -> int:
        def write(connection: sqlite3.Connection) -> int:
            # The open ones are few and indexed (executions_open_by_policy); a finished
            # execution is kept while its parent or one of its subflows is still open.
            ids = [
                row[0]
                for row in connection.execute(
                    f"""SELECT id FROM executions e WHERE status IN {_FINAL}
                    AND COALESCE(json_extract(header, '$.finished_at'), created_at) < ?
                    AND (parent IS NULL OR parent NOT IN (SELECT id FROM executions
                         WHERE status NOT IN {_FINAL}))
                    AND id NOT IN (SELECT parent FROM executions
                         WHERE status NOT IN {_FINAL} AND parent IS NOT NULL)
                    LIMIT ?""",  # noqa: S608 - _FINAL is a constant; values are bound
                    (before, limit),
                )
            ]
            for table, column in (("nodes", "execution"), ("timeline", "execution")):
                connection.executemany(
                    f"DELETE FROM {table} WHERE {column} = ?",  # noqa: S608 - fixed names
                    [(i,) for i in ids],
                )
            connection.executemany("DELETE FROM executions WHERE id = ?", [(i,) for i in ids])
            return len(ids)

        result: int = await self._write(write)
        return result

    async def save_revision(self, revision: str, files: dict[str, bytes]) -> None:
        encoded = json.dumps(
            {path: base64.b64encode(data).decode() for path, data in files.items()}
        )

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR IGNORE INTO revisions (id, files) VALUES (?, ?)", (revision, encoded)
            )

        await self._write(write)

    async def load_revision(self, revision: str) -> dict[str, bytes] | None:
        def read(connection: sqlite3.Connection) -> dict[str, bytes] | None:
            row = connection.execute(
                "SELECT files FROM revisions WHERE id = ?", (revision,)
            ).fetchone()
            if row is None:
                return None
            return {path: base64.b64decode(data) for path, data in json.loads(row[0]).items()}

        result: dict[str, bytes] | None = await self._read(read)
        return result
