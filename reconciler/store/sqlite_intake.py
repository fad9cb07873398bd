"""The intake's records in SQLite: alerts, decisions, the service's state, admission lookups.

Mixed into :class:`~reconciler.store.sqlite.SqliteStore`; every call runs on its writer thread
(``_read`` queues a function for it), in order with the engine's writes. Each write here is one
transaction, durable when the call returns. Deliveries of alerts share transactions: the writer
commits every delivery waiting when it gets to them at once (one fsync for a burst, each in its
own savepoint so a bad one fails alone), so the webhook's answer does not wait behind one fsync
per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from reconciler.errors import StoreError
from reconciler.store import firings
from reconciler.store.base import Batch
from reconciler.store.health import WriteHealth, passing

_FINAL = "('succeeded', 'failed', 'cancelled')"


class SqliteIntake:
    path: str
    health: WriteHealth
    _pending: list[Any]

    async def _submit(self, kind: str, payload: Any) -> Any:
        raise NotImplementedError

    async def _read(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    async def _write(self, call: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    async def save(self, batch: Batch) -> None:
        raise NotImplementedError

    def _resolve_all(
        self, outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]
    ) -> None:
        raise NotImplementedError

    @property
    def _deliveries(self) -> _Deliveries:
        found = self.__dict__.get("_intake_deliveries")
        if found is None:  # first used on the event loop, before the writer can see it
            found = self.__dict__["_intake_deliveries"] = _Deliveries()
        return found

    async def count_by_status(self) -> dict[str, int]:
        def read(connection: sqlite3.Connection) -> dict[str, int]:
            rows = connection.execute("SELECT status, COUNT(*) FROM executions GROUP BY status")
            return dict(rows)

        counts: dict[str, int] = await self._read(read)
        return counts

    async def policy_history(self, policy: str, since: str) -> list[dict[str, Any]]:
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            # Two indexed lookups (open ones; recent ones), not a scan of the policy's history.
            found = {}
            for query, values in (
                (
                    "SELECT id, target, status, created_at FROM executions WHERE policy = ? "  # noqa: S608
                    f"AND status NOT IN {_FINAL}",
                    (policy,),
                ),
                (
                    "SELECT id, target, status, created_at FROM executions "
                    "WHERE policy = ? AND created_at >= ?",
                    (policy, since),
                ),
            ):
                for i, t, s, c in connection.execute(query, values):
                    found[i] = {"id": i, "target": t, "status": s, "created_at": c}
            return list(found.values())

        history: list[dict[str, Any]] = await self._read(read)
        return history

    async def receive_alerts(self, alerts: list[dict[str, Any]], received_at: str) -> list[bool]:
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        if self._deliveries.add((alerts, received_at, future)):
            # The first delivery waiting asks the writer for a commit; every delivery waiting
            # when the writer gets to it shares that commit.
            self._deliveries.watch(
                asyncio.ensure_future(self._submit("commit", self._commit_deliveries))
            )
        return await future

    def _commit_deliveries(self, connection: sqlite3.Connection) -> None:
        """On the writer thread: store every delivery waiting, in one transaction."""
        taken = self._deliveries.take()
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for alerts, received_at, future in taken:
                connection.execute("SAVEPOINT delivery")
                try:
                    outcomes.append((future, _receive(connection, alerts, received_at), None))
                except Exception as exc:  # this delivery alone (an alert that is not JSON)
                    if not connection.in_transaction:
                        raise  # SQLite rolled everything back itself (a full disk): all fail
                    connection.execute("ROLLBACK TO delivery")
                    outcomes.append((future, None, exc))
                connection.execute("RELEASE delivery")
            connection.execute("COMMIT")
        except Exception as exc:  # the transaction failed (disk full, I/O): nothing is stored
            with contextlib.suppress(Exception):  # every delivery taken must hear back
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            error: Exception = exc
            if passing(exc):  # readiness hears of it before the webhook answers 503
                self.health.failed(exc)
                error = StoreError(f"the store {self.path} cannot write: {exc}")
            self._resolve_all([(future, None, error) for _, _, future in taken])
            return
        if not self._pending:
            self.health.succeeded()
        self._resolve_all(outcomes)

    async def pending_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = connection.execute(
                "SELECT record, deliveries, first_received_at, received_at, pending FROM alerts "
                "WHERE pending = 1 ORDER BY seq LIMIT ?",
                (limit,),
            )
            return [_alert(*row) for row in rows]

        pending: list[dict[str, Any]] = await self._read(read)
        return pending

    async def finish_alert(self, fingerprint: str, starts_at: str, deliveries: int) -> None:
        await self.save(Batch(alerts_done=[(fingerprint, starts_at, deliveries)]))

    async def alerts(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            where = "WHERE status = ?" if status is not None else ""
            values = (status, limit) if status is not None else (limit,)
            rows = connection.execute(
                "SELECT record, deliveries, first_received_at, received_at, pending FROM alerts "  # noqa: S608
                f"{where} ORDER BY received_at DESC, seq DESC LIMIT ?",
                values,
            )
            return [_alert(*row) for row in rows]

        found: list[dict[str, Any]] = await self._read(read)
        return found

    async def save_decision(self, decision: dict[str, Any]) -> None:
        await self.save(Batch(decisions=[decision]))

    async def decisions_of(self, alerts: list[tuple[str, str]]) -> list[dict[str, Any]]:
        if not alerts:
            return []

        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            pairs = ", ".join("(?, ?)" for _ in alerts)  # placeholders only; values are bound
            rows = connection.execute(
                "SELECT record FROM decisions WHERE (fingerprint, starts_at) IN "  # noqa: S608
                f"(VALUES {pairs}) ORDER BY seq",
                [value for pair in alerts for value in pair],
            )
            return [json.loads(record) for (record,) in rows]

        found: list[dict[str, Any]] = await self._read(read)
        return found

    async def decisions(
        self,
        *,
        fingerprint: str | None = None,
        starts_at: str | None = None,
        execution: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        clauses, values = [], []
        for column, value in (
            ("fingerprint", fingerprint),
            ("starts_at", starts_at),
            ("execution", execution),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def read(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            # The clauses are fixed strings; every value is a bound parameter.
            rows = connection.execute(
                f"SELECT record FROM (SELECT seq, record FROM decisions {where} "  # noqa: S608
                "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (*values, limit),
            )
            return [json.loads(record) for (record,) in rows]

        found: list[dict[str, Any]] = await self._read(read)
        return found

    async def get_state(self, key: str) -> Any:
        def read(connection: sqlite3.Connection) -> Any:
            row = connection.execute(
                "SELECT value FROM service_state WHERE key = ?", (key,)
            ).fetchone()
            return json.loads(row[0]) if row else None

        return await self._read(read)

    async def set_state(self, key: str, value: Any) -> None:
        encoded = json.dumps(value)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO service_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, encoded),
            )

        await self._write(write)


_Delivery = tuple[list[dict[str, Any]], str, "asyncio.Future[list[bool]]"]


class _Deliveries:
    """Deliveries waiting for the writer (appended on the event loop, taken on the writer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Delivery] = []
        self._commits: set[asyncio.Future[Any]] = set()

    def add(self, delivery: _Delivery) -> bool:
        """Queue a delivery; True if no commit is pending for it yet (the caller asks one)."""
        with self._lock:
            self._waiting.append(delivery)
            return len(self._waiting) == 1

    def take(self) -> list[_Delivery]:
        with self._lock:
            taken, self._waiting = self._waiting, []
        return taken

    def watch(self, commit: asyncio.Future[Any]) -> None:
        self._commits.add(commit)  # held: the loop keeps only weak references to tasks
        commit.add_done_callback(self._committed)

    def _committed(self, commit: asyncio.Future[Any]) -> None:
        self._commits.discard(commit)
        if commit.cancelled() or commit.exception() is None:
            return
        # The writer never ran it (the store is closed or not open): fail what still waits.
        for _, _, future in self.take():
            if not future.done():
                future.set_exception(commit.exception() or RuntimeError("the store failed"))


_UPSERT = (
    "INSERT INTO alerts (fingerprint, starts_at, status, first_received_at, received_at, "
    "deliveries, pending, seq, record) VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?) "
    "ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = excluded.status, "
    "received_at = excluded.received_at, deliveries = deliveries + 1, "
    "pending = 1, seq = excluded.seq, record = excluded.record"
)
_CHUNK = 5000  # bound parameters per lookup (SQLite allows 32,766)


def _receive(
    connection: sqlite3.Connection, alerts: list[dict[str, Any]], received_at: str
) -> list[bool]:
    """Store a delivery inside the caller's transaction: each alert under the startsAt
    :func:`~reconciler.store.firings.place` gives it, looked up in one pass for the delivery."""
    known = _known(connection, alerts)
    (seq,) = connection.execute("SELECT COALESCE(MAX(seq), 0) FROM alerts").fetchone()
    rows, repeats = [], []
    for alert in alerts:
        mine = known.setdefault(alert["fingerprint"], {})
        starts_at, reported = firings.place(alert["starts_at"], mine.items(), received_at)
        record = {**alert, "starts_at": starts_at}
        if reported is not None:
            record["reported_starts_at"] = reported
        repeats.append(mine.get(starts_at) == alert["status"])
        mine[starts_at] = alert["status"]  # what a later alert of the same delivery sees
        seq += 1
        rows.append(
            (alert["fingerprint"], starts_at, alert["status"], received_at, received_at, seq,
             json.dumps(record))
        )  # fmt: skip
    connection.executemany(_UPSERT, rows)
    return repeats


def _known(
    connection: sqlite3.Connection, alerts: list[dict[str, Any]]
) -> dict[str, dict[str, str]]:
    """fingerprint -> {starts_at: status} of the stored records that matter to this delivery:
    those firing, and those with exactly a delivered key."""
    known: dict[str, dict[str, str]] = {}
    fingerprints = sorted({a["fingerprint"] for a in alerts})
    keys = sorted({(a["fingerprint"], a["starts_at"]) for a in alerts if a["starts_at"]})
    for i in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))  # placeholders only; values are bound
        for f, s, status in connection.execute(
            "SELECT fingerprint, starts_at, status FROM alerts "  # noqa: S608
            f"WHERE status = 'firing' AND fingerprint IN ({marks})",
            chunk,
        ):
            known.setdefault(f, {})[s] = status
    for i in range(0, len(keys), _CHUNK // 2):
        pairs = keys[i : i + _CHUNK // 2]
        marks = ", ".join("(?, ?)" for _ in pairs)
        for f, s, status in connection.execute(
            "SELECT fingerprint, starts_at, status FROM alerts "  # noqa: S608
            f"WHERE (fingerprint, starts_at) IN (VALUES {marks})",
            [value for pair in pairs for value in pair],
        ):
            known.setdefault(f, {})[s] = status
    return known


def _alert(record: str, deliveries: int, first: str, last: str, pending: int) -> dict[str, Any]:
    alert: dict[str, Any] = json.loads(record)
    alert.update(
        deliveries=deliveries, first_received_at=first, received_at=last, pending=bool(pending)
    )
    return alert
