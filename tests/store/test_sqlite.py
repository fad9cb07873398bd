"""SqliteStore beyond the shared contract: durability on disk, schema, pragmas, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime

import pytest

from reconciler.engine.state import Node, Phase, Status
from reconciler.store.base import Batch
from reconciler.store.migrations import MIGRATIONS
from reconciler.store.sqlite import SqliteStore

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "s.db"


def inspect(path, sql):
    """Read the database file through a connection of its own, as another process would."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def test_data_survives_closing_and_reopening_the_store(path, run, records):
    execution = records.execution(
        "e1",
        nodes=[Node(key="wait", step="wait", phase=Phase.RUNNING, wake_at="2024-05-01T10:05:00Z")],
    )
    execution.note(NOW, "created", policy="crashloop")
    batch = records.batch(execution)
    files = {"workflows/restart.yaml": b"kind: Workflow\n\xff"}

    async def write(store):
        await store.save(batch)
        await store.save_revision("rev-1", files)

    async def read(store):
        return (
            await store.load("e1"),
            await store.unfinished(),
            await store.timeline("e1"),
            await store.due("2024-05-01T10:05:00Z"),
            await store.load_revision("rev-1"),
        )

    run(SqliteStore(path), write)
    stored, unfinished, timeline, due, revision = run(SqliteStore(path), read)

    assert stored.header == batch.executions[0]
    assert stored.nodes == [execution.node("wait").record()]
    assert [s.header["id"] for s in unfinished] == ["e1"]
    assert timeline == [
        {"at": "2024-05-01T10:00:00.000000Z", "kind": "created", "policy": "crashloop"}
    ]
    assert due == ["e1"]
    assert revision == files


def test_migrations_are_recorded_and_not_applied_again_on_reopen(path, run):
    async def nothing(store):
        return None

    run(SqliteStore(path), nothing)
    first = inspect(path, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    run(SqliteStore(path), nothing)
    second = inspect(path, "SELECT version, applied_at FROM schema_migrations ORDER BY version")

    assert [version for version, _ in first] == list(range(1, len(MIGRATIONS) + 1))
    assert all(applied_at for _, applied_at in first)
    assert second == first


def test_journal_mode_is_wal(path, run):
    async def body(store):
        return inspect(path, "PRAGMA journal_mode")

    assert run(SqliteStore(path), body) == [("wal",)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, 2), ({"synchronous": "FULL"}, 2), ({"synchronous": "NORMAL"}, 1)],
    ids=["default-is-full", "full", "normal"],
)
def test_synchronous_setting_reaches_the_writer_connection(path, run, options, expected):
    async def body(store):
        return await store._write(
            lambda connection: connection.execute("PRAGMA synchronous").fetchone()[0]
        )

    assert run(SqliteStore(path, **options), body) == expected


def test_concurrent_saves_all_complete_in_fewer_commits_than_saves(path, run, records):
    batches = [
        records.batch(records.execution(f"e{i:03}", nodes=[Node(key="restart", step="restart")]))
        for i in range(200)
    ]

    async def body(store):
        # Hold the writer on a read while the saves queue up, so how they are grouped does not
        # depend on thread timing. call_soon runs after the saves' tasks have queued their batches.
        gate = threading.Event()
        held = asyncio.ensure_future(store._write(lambda connection: gate.wait(timeout=60)))
        saves = asyncio.gather(*(store.save(batch) for batch in batches))
        asyncio.get_running_loop().call_soon(gate.set)
        await held
        await saves
        return store.commits, await store.query(limit=1000)

    commits, stored = run(SqliteStore(path), body)

    assert commits < 200
    assert sorted(h["id"] for h in stored) == [f"e{i:03}" for i in range(200)]


def test_batch_that_fails_writes_none_of_its_changes(path, run, records):
    execution = records.execution(
        "bad",
        nodes=[
            Node(key="a-fine", step="a"),
            Node(key="b-unserialisable", step="b", data={"seen": {(1, 2): "tuple keys"}}),
        ],
    )
    execution.note(NOW, "created")
    batch = records.batch(execution)

    async def body(store):
        with pytest.raises(TypeError, match="keys must be"):
            await store.save(batch)
        return store.commits

    assert run(SqliteStore(path), body) == 0
    for table in ("executions", "nodes", "timeline"):
        assert inspect(path, f"SELECT count(*) FROM {table}") == [(0,)]


def test_saving_an_empty_batch_commits_nothing(path, run):
    async def body(store):
        await store.save(Batch())
        return store.commits

    assert run(SqliteStore(path), body) == 0


def test_finished_execution_keeps_its_records_but_leaves_recovery(path, run, records):
    execution = records.execution("e1", nodes=[Node(key="restart", step="restart")])
    started = records.batch(execution)
    execution.set_status(Status.CANCELLED, NOW)
    finished = records.batch(execution)

    async def write(store):
        await store.save(started)
        await store.save(finished)

    async def read(store):
        return await store.unfinished(), await store.load("e1")

    run(SqliteStore(path), write)
    unfinished, stored = run(SqliteStore(path), read)

    assert unfinished == []
    assert stored.header["status"] == "cancelled"
    assert stored.nodes == [execution.node("restart").record()]


CALLS = {
    "save": lambda store: store.save(Batch(timeline=[("e1", {"kind": "note"})])),
    "load": lambda store: store.load("e1"),
    "unfinished": lambda store: store.unfinished(),
    "query": lambda store: store.query(),
    "timeline": lambda store: store.timeline("e1"),
    "due": lambda store: store.due("2024-05-01T10:00:00Z"),
    "save_revision": lambda store: store.save_revision("rev-1", {"a": b"a"}),
    "load_revision": lambda store: store.load_revision("rev-1"),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_store_used_before_open_raises_a_clear_error(path, call):
    store = SqliteStore(path)

    async def body():
        with pytest.raises(RuntimeError, match="the store is not open"):
            await call(store)

    asyncio.run(body())


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_store_used_after_close_raises_a_clear_error(path, call):
    store = SqliteStore(path)

    async def body():
        await store.open()
        await store.close()
        with pytest.raises(RuntimeError, match="the store is not open"):
            await call(store)

    asyncio.run(body())


def test_close_is_idempotent_and_stops_the_writer_thread(path):
    store = SqliteStore(path)
    threads_before = set(threading.enumerate())

    async def body():
        await store.close()  # never opened: nothing to do
        await store.open()
        assert set(threading.enumerate()) - threads_before
        await store.close()
        await store.close()

    asyncio.run(body())

    assert set(threading.enumerate()) <= threads_before
