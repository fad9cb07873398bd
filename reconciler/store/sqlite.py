"""The SQLite :class:`~reconciler.store.base.Store`: WAL, ``synchronous=FULL`` by default.

One writer thread owns the connection. ``save`` hands a batch to it and awaits a future; the
thread drains every batch waiting at that moment into one transaction (group commit), commits,
then resolves all their futures. So many executions' transitions share one fsync, and the event
loop never blocks on disk. Reads go through the same thread, in order with the writes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from reconciler.store import encoding
from reconciler.store.base import Batch, StoredExecution
from reconciler.store.migrations import MIGRATIONS
from reconciler.store.sqlite_intake import SqliteIntake

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_STOP = object()


class SqliteStore(SqliteIntake):
    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "FULL", max_batch: int = 5000
    ) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        # Reads have their own connection and thread: WAL lets them run beside the writer, so
        # a lookup never waits behind a group commit's fsync. (Every write a caller awaited is
        # committed, so a read issued after it sees it.)
        self._reads: queue.Queue[Any] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="reconciler-sqlite", daemon=True
        )
        self._thread.start()
        await ready
        if self.path != ":memory:":  # a second connection to :memory: would be another database
            reader_ready: asyncio.Future[None] = self._loop.create_future()
            self._reader = threading.Thread(
                target=self._run_reader,
                args=(reader_ready,),
                name="reconciler-sqlite-reads",
                daemon=True,
            )
            self._reader.start()
            await reader_ready

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self._reads.put(_STOP)
            await asyncio.to_thread(reader.join)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join)

    def _run_reader(self, ready: asyncio.Future[None]) -> None:
        try:
            connection = sqlite3.connect(self.path, check_same_thread=False)
            connection.execute("PRAGMA query_only=ON")
        except BaseException as exc:
            self._reader = None
            self._resolve(ready, error=exc)
            return
        self._resolve(ready, None)
        try:
            while (item := self._reads.get()) is not _STOP:
                _, call, future = item
                try:
                    self._resolve(future, call(connection))
                except Exception as exc:
                    self._resolve(future, error=exc)
        finally:
            connection.close()

    # -- the worker thread -------------------------------------------------------------------
    def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:
            self._thread = None
            self._resolve(ready, error=exc)
            return
        self._resolve(ready, None)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    self._refuse_waiting()
                    return
                work = [item]
                while len(work) < self.max_batch:  # group commit: take whatever else is waiting
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        self._queue.put(_STOP)
                        break
                    work.append(more)
                self._process(connection, work)
        finally:
            connection.close()

    def _refuse_waiting(self) -> None:
        """Work queued after ``close`` is answered, not left hanging."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._resolve(item[2], error=RuntimeError("the store is closed"))

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        connection.execute("PRAGMA foreign_keys=ON")
        try:
            _migrate(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _process(
        self, connection: sqlite3.Connection, work: list[tuple[str, Any, asyncio.Future[Any]]]
    ) -> None:
        writes = [w for w in work if w[0] == "save"]
        if writes:
            # Encode first: a batch that cannot be serialised fails alone and only its caller
            # hears of it. Then the whole group is one transaction (one fsync).
            failures: dict[int, Exception] = {}
            rows = _Rows()
            for index, (_, batch, _) in enumerate(writes):
                try:
                    rows.add(batch)
                except (TypeError, ValueError) as exc:
                    failures[index] = exc
            try:
                if rows:
                    connection.execute("BEGIN IMMEDIATE")
                    rows.write(connection)
                    connection.execute("COMMIT")
                    self.commits += 1
            except (
                Exception
            ) as exc:  # the write or commit failed (disk full, I/O): nothing is saved
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                failures = dict.fromkeys(range(len(writes)), exc)
            # One wake-up of the event loop settles the whole group (a wake-up per future cost
            # more than the commit's Python work).
            self._resolve_all(
                [(future, None, failures.get(index)) for index, (_, _, future) in enumerate(writes)]
            )
        for kind, call, future in work:
            if kind == "read":
                try:
                    self._resolve(future, call(connection))
                except Exception as exc:
                    self._resolve(future, error=exc)

    def _resolve(
        self, future: asyncio.Future[Any], value: Any = None, *, error: BaseException | None = None
    ) -> None:
        self._resolve_all([(future, value, error)])

    def _resolve_all(
        self, outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]
    ) -> None:
        assert self._loop is not None

        def settle() -> None:
            for future, value, error in outcomes:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

        self._loop.call_soon_threadsafe(settle)

    async def _submit(self, kind: str, payload: Any) -> Any:
        if self._thread is None or self._loop is None:
            raise RuntimeError("the store is not open")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((kind, payload, future))
        return await future

    async def _read(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a read-only ``call`` on the reader's connection."""
        if self._reader is None:
            return await self._submit("read", call)
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._reads.put(("read", call, future))
        return await future

    async def _write(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``call`` on the writer's connection, in order with the batches."""
        return await self._submit("read", call)

    # -- the Store interface -----------------------------------------------------------------
    async def save(self, batch: Batch) -> None:
        if batch:
            await self._submit("save", batch)

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
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            clauses, values = [], []
            for column, value in (("status", status), ("workflow", workflow), ("policy", policy)):
                if value is not None:
                    clauses.append(f"{column} = ?")
                    values.append(value)
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


class _Rows:
    """The rows of a group of batches, encoded to JSON before the transaction opens."""

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


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
    )
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    for version, script in enumerate(MIGRATIONS, start=1):
        if version in applied:
            continue
        # The migration and its record commit together: a crash leaves neither.
        try:
            connection.executescript(f"BEGIN IMMEDIATE;\n{script}")
            connection.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, datetime.now(UTC).isoformat()),
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
