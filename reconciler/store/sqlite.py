"""The SQLite :class:`~reconciler.store.base.Store`: WAL, ``synchronous=FULL`` by default.

One writer thread owns the connection. ``save`` hands a batch to it and awaits a future; the
thread drains every batch waiting at that moment into one transaction (group commit), commits,
then resolves all their futures. So many executions' transitions share one fsync, and the event
loop never blocks on disk. Reads have their own connection and thread.

When a commit fails for a reason that passes (a full disk, an I/O error: see
:mod:`~reconciler.store.health`), ``save`` does not fail: its batches stay queued, in order, and
the writer tries them again with backoff until they commit; batches saved meanwhile join them,
so nothing overtakes an earlier write. The callers (the engine's executions) simply wait. Other
writes (``receive_alerts``, ``set_state``) fail fast with a :class:`StoreError`, so the webhook
can answer 503. While writes fail and none is waiting, the writer probes with a small write, so
:attr:`write_error` clears once the disk has room again, without a restart.

A file database is held with an exclusive lock (:mod:`~reconciler.store.lock`) while open.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from reconciler.errors import StoreError
from reconciler.store.base import Batch
from reconciler.store.health import WriteHealth, passing
from reconciler.store.lock import StoreLock
from reconciler.store.migrations import MIGRATIONS
from reconciler.store.rows import Rows
from reconciler.store.sqlite_executions import SqliteExecutions
from reconciler.store.sqlite_intake import SqliteIntake

log = structlog.get_logger("reconciler.store")
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_STOP = object()
PROBE_BYTES = 16384  # the probe's write needs new pages, as real writes do on a full disk
_Pending = tuple[Rows, "asyncio.Future[Any]"]


class SqliteStore(SqliteExecutions, SqliteIntake):
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        max_batch: int = 5000,
        lock: StoreLock | None = None,
    ) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        # ``lock``: one already taken (``reconciler run`` takes it before serving); kept.
        self.lock = lock or (StoreLock(self.path) if self.path != ":memory:" else None)
        self.health = WriteHealth(self.path)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: list[_Pending] = []  # saves not committed yet, in the order made
        # Reads have their own connection and thread: WAL lets them run beside the writer, so
        # a lookup never waits behind a group commit's fsync. (Every write a caller awaited is
        # committed, so a read issued after it sees it.)
        self._reads: queue.Queue[Any] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0

    @property
    def write_error(self) -> str | None:
        """Why writes fail now (None while they work): what ``/readyz`` reports."""
        return self.health.error

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self.lock is not None:
            self.lock.acquire()
        try:
            await self._start_threads()
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    async def _start_threads(self) -> None:
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
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)
        if self.lock is not None:
            self.lock.release()

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
            self._serve(connection)
        finally:
            connection.close()

    def _serve(self, connection: sqlite3.Connection) -> None:
        while True:
            try:  # while writes fail, wake up when the next try is due
                item = self._queue.get(timeout=self.health.wait())
            except queue.Empty:
                item = None
            if item is _STOP:
                self._refuse_waiting()
                return
            if item is not None:
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
                try:
                    self._process(connection, work)
                except Exception as exc:  # a bug (or a failing log) must not stop the writer
                    self._survive(connection, exc, [future for _, _, future in work])
                    continue
            if self.health.due():  # the waiting writes are tried again, or a probe
                try:
                    if self._pending:
                        self._commit_pending(connection)
                    else:
                        self._probe(connection)
                except Exception as exc:
                    self._survive(connection, exc, [])

    def _survive(
        self, connection: sqlite3.Connection, exc: Exception, futures: list[asyncio.Future[Any]]
    ) -> None:
        """An unexpected error on the writer thread: what it was doing fails (its callers
        hear of it) and the thread goes on; a dead writer would leave every save waiting."""
        with contextlib.suppress(Exception):
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        self._pending = [(rows, f) for rows, f in self._pending if f not in futures]
        self._resolve_all([(future, None, exc) for future in futures])
        with contextlib.suppress(Exception):  # logging itself may be what failed
            log.error("the store's writer hit an unexpected error", error=repr(exc))

    def _refuse_waiting(self) -> None:
        """Work queued after ``close`` (or never written) is answered, not left hanging."""
        pending, self._pending = self._pending, []
        if pending:
            error = StoreError(
                f"the store {self.path} was closed before {len(pending)} write(s) could be "
                f"made: {self.health.error}"
            )
            self._resolve_all([(future, None, error) for _, future in pending])
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
        saves = [w for w in work if w[0] == "save"]
        if saves:
            # Encode first: a batch that cannot be encoded fails alone and only its caller
            # hears of it. Then the whole group is one transaction (one fsync).
            refused: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            for _, batch, future in saves:
                try:
                    self._pending.append((Rows.of(batch), future))
                except (TypeError, ValueError) as exc:
                    refused.append((future, None, exc))
            if refused:
                self._resolve_all(refused)
            if not self.health.failing:  # else they wait for the retry, behind older writes
                self._commit_pending(connection)
        for kind, call, future in work:
            if kind == "save":
                continue
            # "commit" (the intake's deliveries) records the store's health itself.
            try:
                value = call(connection)
            except Exception as exc:
                if connection.in_transaction:  # what the call left open is undone
                    connection.execute("ROLLBACK")
                error: Exception = exc
                if kind == "write" and passing(exc):
                    self.health.failed(exc)
                    error = StoreError(f"the store {self.path} cannot write: {exc}")
                    error.__cause__ = exc
                self._resolve(future, error=error)
                continue
            if kind == "write" and not self._pending:
                self.health.succeeded()
            self._resolve(future, value)

    def _commit_pending(self, connection: sqlite3.Connection) -> None:
        """Write every pending batch in one transaction; on a passing failure keep them."""
        if not self._pending:
            return
        rows = Rows.joined([r for r, _ in self._pending])
        error: Exception | None = None
        try:
            if rows:
                connection.execute("BEGIN IMMEDIATE")
                rows.write(connection)
                connection.execute("COMMIT")
                self.commits += 1
        except Exception as exc:  # nothing of the group is saved
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if passing(exc):
                self.health.failed(exc)
                return
            error = exc
        group, self._pending = self._pending, []
        if error is None:
            self.health.succeeded()
        # One wake-up of the event loop settles the whole group (a wake-up per future cost
        # more than the commit's Python work).
        self._resolve_all([(future, None, error) for _, future in group])

    def _probe(self, connection: sqlite3.Connection) -> None:
        """A small write that needs new pages, undone in the same transaction."""
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT OR REPLACE INTO service_state (key, value) VALUES ('store.probe', ?)",
                ("0" * PROBE_BYTES,),
            )
            connection.execute("DELETE FROM service_state WHERE key = 'store.probe'")
            connection.execute("COMMIT")
        except Exception as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            self.health.failed(exc)
        else:
            self.health.succeeded()

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
        """Run ``call`` on the writer's connection, in order with the batches; fails fast."""
        return await self._submit("write", call)

    # -- drills ------------------------------------------------------------------------------
    async def simulate_full_disk(self, full: bool = True) -> None:
        """Make the database full, as a full disk does, or (``full=False``) give it room again.

        For tests and drills: caps the writer's database at its size (``PRAGMA
        max_page_count``) and uses up its free pages, so every write that needs a new page fails
        with SQLite's own ``database or disk is full`` (SQLITE_FULL)."""

        def apply(connection: sqlite3.Connection) -> None:
            if not full:
                connection.execute("PRAGMA max_page_count = 4294967294")  # SQLite clamps it
                connection.execute("DELETE FROM service_state WHERE key LIKE 'store.filler.%'")
                return
            (pages,) = connection.execute("PRAGMA page_count").fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
            connection.execute(f"PRAGMA max_page_count = {int(pages)}")
            filler = 0
            while size >= 16:  # smaller and smaller rows, until not even a small one fits
                try:
                    connection.execute(
                        "INSERT INTO service_state (key, value) VALUES (?, ?)",
                        (f"store.filler.{filler}", "0" * size),
                    )
                    filler += 1
                except sqlite3.OperationalError as exc:
                    if getattr(exc, "sqlite_errorname", "") != "SQLITE_FULL":
                        raise
                    size //= 2

        await self._submit("read", apply)

    # -- the Store interface (reads: :mod:`.sqlite_executions`, :mod:`.sqlite_intake`) ---------
    async def save(self, batch: Batch) -> None:
        if batch:
            await self._submit("save", batch)


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
