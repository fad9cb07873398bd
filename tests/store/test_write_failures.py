"""A store whose writes fail (a real full database: SQLite's own SQLITE_FULL) is survived.

Saves wait and are retried, in order, until they commit; the intake's writes fail fast; the
store says why it cannot write, counts the failures, logs a streak once, and notices on its own
(a probe) when writes work again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

import pytest
import structlog
from structlog.testing import capture_logs

from reconciler.errors import StoreError
from reconciler.store.base import Batch
from reconciler.store.health import WriteHealth, passing
from reconciler.store.sqlite import SqliteStore

BIG = "x" * 20_000  # a record that needs new pages: refused by a full database


def header(execution_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": execution_id,
        "status": "running",
        "workflow": "w",
        "policy": "p",
        "created_at": "2024-05-01T10:00:00Z",
        **extra,
    }


async def until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll (no fixed sleeps) until ``predicate`` is truthy; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.01)


def alert(fingerprint: str) -> dict[str, object]:
    return {
        "fingerprint": fingerprint,
        "starts_at": "2024-05-01T10:00:00Z",
        "status": "firing",
        "labels": {"alertname": "Big"},
        "annotations": {"description": BIG},
    }


def test_a_save_on_a_full_database_waits_and_commits_once_there_is_room(tmp_path):
    async def body(store: SqliteStore) -> None:
        await store.save(Batch(executions=[header("e1", note="small")]))
        await store.simulate_full_disk()
        first = asyncio.ensure_future(store.save(Batch(executions=[header("e1", note=BIG)])))
        await until(lambda: store.health.failures >= 3)  # retried, with backoff
        assert not first.done()  # waiting, not failed
        assert "database or disk is full" in (store.write_error or "")
        # A later save of the same row joins the queue behind it: it must not be overtaken.
        second = asyncio.ensure_future(store.save(Batch(executions=[header("e1", note="last")])))
        await until(lambda: store.health.failures >= 4)
        assert not second.done()
        await store.simulate_full_disk(False)
        await asyncio.wait_for(asyncio.gather(first, second), timeout=20)
        assert store.write_error is None
        stored = await store.load("e1")
        assert stored is not None and stored.header["note"] == "last"

    asyncio.run(run(tmp_path, body))


def test_the_intakes_writes_fail_fast_and_the_store_recovers_without_another_write(tmp_path):
    async def body(store: SqliteStore) -> None:
        await store.simulate_full_disk()
        with pytest.raises(StoreError) as refused:
            await store.receive_alerts([alert("a1")], "2024-05-01T10:00:01Z")
        assert str(tmp_path / "s.db") in str(refused.value)
        assert "database or disk is full" in str(refused.value)
        assert store.write_error is not None
        await until(lambda: store.health.failures >= 3)  # probes keep failing while full
        assert store.write_error is not None
        await store.simulate_full_disk(False)
        await until(lambda: store.write_error is None)  # a probe succeeded: no restart, no write
        assert await store.receive_alerts([alert("a1")], "2024-05-01T10:00:02Z") == [False]

    asyncio.run(run(tmp_path, body))


def test_a_streak_of_failures_is_logged_once_and_its_end_once(tmp_path):
    async def body(store: SqliteStore) -> None:
        await store.simulate_full_disk()
        saved = asyncio.ensure_future(store.save(Batch(timeline=[("e1", {"big": BIG})])))
        await until(lambda: store.health.failures >= 4)
        await store.simulate_full_disk(False)
        await saved

    with capture_logs() as logs:
        asyncio.run(run(tmp_path, body))

    events = [e["event"] for e in logs if e.get("store") == str(tmp_path / "s.db")]
    assert events == [
        "the store cannot write; the writes wait and are retried until it can",
        "the store writes again",
    ]
    (ended,) = [e for e in logs if e["event"] == "the store writes again"]
    assert ended["failed_attempts"] >= 4


def test_closing_a_store_answers_the_saves_still_waiting(tmp_path):
    async def body() -> None:
        store = SqliteStore(tmp_path / "s.db")
        await store.open()
        await store.simulate_full_disk()
        saved = asyncio.ensure_future(store.save(Batch(timeline=[("e1", {"big": BIG})])))
        await until(lambda: store.health.failures >= 1)
        await store.close()
        with pytest.raises(StoreError, match="closed before 1 write"):
            await asyncio.wait_for(saved, timeout=20)

    asyncio.run(body())


def test_a_batch_that_cannot_be_encoded_fails_at_once_even_while_writes_fail(tmp_path):
    async def body(store: SqliteStore) -> None:
        await store.simulate_full_disk()
        waiting = asyncio.ensure_future(store.save(Batch(timeline=[("e1", {"big": BIG})])))
        await until(lambda: store.health.failures >= 1)
        with pytest.raises(TypeError):
            await store.save(Batch(timeline=[("e1", {"keys": {(1, 2): "a tuple key"}})]))
        await store.simulate_full_disk(False)
        await waiting

    asyncio.run(run(tmp_path, body))


def test_retries_back_off_with_jitter_up_to_a_bound():
    now = [0.0]
    health = WriteHealth("s.db", first=0.1, maximum=5.0, clock=lambda: now[0], jitter=lambda: 1.0)
    waits = []
    for _ in range(9):
        health.failed(sqlite3.OperationalError("database or disk is full"))
        waits.append(health.wait())
        assert not health.due()
        now[0] += waits[-1] or 0
        assert health.due()
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    low = WriteHealth("s.db", first=0.1, clock=lambda: 0.0, jitter=lambda: 0.0)
    low.failed(sqlite3.OperationalError("disk I/O error"))
    assert low.wait() == pytest.approx(0.05)  # half the delay at the least
    health.succeeded()
    assert (health.error, health.wait(), health.failures) == (None, None, 9)


def test_only_failures_that_can_pass_are_retried(tmp_path):
    connection = sqlite3.connect(tmp_path / "s.db")
    connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as constraint:
        connection.execute("INSERT INTO t VALUES (1)")
    connection.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.OperationalError) as readonly:
        connection.execute("INSERT INTO t VALUES (2)")
    connection.close()
    assert passing(readonly.value)
    assert not passing(constraint.value)
    assert not passing(TypeError("not JSON serializable"))


async def run(tmp_path, body):
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        await body(store)
    finally:
        await store.close()


def test_the_writer_outlives_a_log_call_that_raises(tmp_path):
    """Logging to a closed stream (a CLI run in-process, a closed pipe) raises on the writer
    thread; the thread must go on, or every later save waits forever."""
    closed = (tmp_path / "log.txt").open("w")
    closed.close()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(closed))

    async def body(store: SqliteStore) -> None:
        await store.simulate_full_disk()  # the failure streak logs, and that log raises
        saved = asyncio.ensure_future(store.save(Batch(executions=[header("e1", note=BIG)])))
        await until(lambda: store.health.failures >= 2)
        await store.simulate_full_disk(False)
        await asyncio.wait_for(saved, timeout=30)
        await asyncio.wait_for(store.save(Batch(executions=[header("e2")])), timeout=30)
        assert await store.load("e2") is not None

    try:
        asyncio.run(run(tmp_path, body))
    finally:
        structlog.reset_defaults()
