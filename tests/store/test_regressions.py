"""Regression tests for store bugs found in review: grouped batches fail alone, memory and
SQLite agree, migrations are atomic, close and failed opens never leave callers hanging."""

from __future__ import annotations

import asyncio
import threading
from unittest import mock

import pytest

import reconciler.store.sqlite as sqlite_store
from reconciler.errors import StoreError
from reconciler.store.base import Batch
from reconciler.store.memory import MemoryStore
from reconciler.store.sqlite import SqliteStore


def header(execution_id, **extra):
    return {
        "id": execution_id,
        "status": "running",
        "workflow": "w",
        "policy": "p",
        "created_at": "2024-05-01T10:00:00Z",
        **extra,
    }


def test_a_failing_batch_does_not_undo_the_batches_committed_with_it(tmp_path):
    async def body():
        store = SqliteStore(tmp_path / "s.db")
        await store.open()
        try:
            gate = threading.Event()  # hold the writer so both saves land in one group
            held = asyncio.ensure_future(store._write(lambda c: gate.wait(timeout=60)))
            good = asyncio.ensure_future(store.save(Batch(executions=[header("good")])))
            bad = asyncio.ensure_future(
                store.save(
                    Batch(
                        nodes=[
                            (
                                "bad",
                                {
                                    "key": "k",
                                    "run": 1,
                                    "phase": "pending",
                                    "x": {(1, 2): "tuple keys cannot be JSON"},
                                },
                            )
                        ]
                    )
                )
            )
            asyncio.get_running_loop().call_soon(gate.set)
            await held
            with pytest.raises(TypeError):
                await bad
            await good  # raises TypeError: the bad batch's error
            assert await store.load("good") is not None
        finally:
            await store.close()

    asyncio.run(body())


def test_memory_store_saves_none_of_a_batch_that_fails():
    async def body():
        store = MemoryStore()
        bad = Batch(
            executions=[header("e1")],
            nodes=[
                (
                    "e1",
                    {
                        "key": "k",
                        "run": 1,
                        "phase": "pending",
                        "x": {(1, 2): "tuple keys cannot be JSON"},
                    },
                )
            ],
        )
        with pytest.raises(TypeError):
            await store.save(bad)
        assert await store.load("e1") is None  # the header was kept

    asyncio.run(body())


def test_memory_store_due_uses_the_header_wake_at():
    async def body():
        store = MemoryStore()
        await store.save(Batch(executions=[header("e1", wake_at="2024-05-01T10:00:00Z")]))
        assert await store.due("2024-05-01T10:00:00Z") == ["e1"]

    asyncio.run(body())


def test_memory_store_due_with_a_limit_returns_the_earliest_timers():
    async def body():
        store = MemoryStore()
        for execution_id, when in [
            ("late", "2024-05-01T10:09:00Z"),
            ("early", "2024-05-01T10:01:00Z"),
        ]:
            node = {"key": "w", "run": 1, "phase": "running", "wake_at": when}
            await store.save(
                Batch(executions=[header(execution_id, wake_at=when)], nodes=[(execution_id, node)])
            )
        assert await store.due("2024-05-02T00:00:00Z", limit=1) == ["early"]

    asyncio.run(body())


def test_a_crash_between_a_migration_and_its_record_does_not_brick_the_database(tmp_path):
    class Crash:
        @staticmethod
        def now(tz=None):
            raise RuntimeError("process killed here")

    async def body():
        with mock.patch.object(sqlite_store, "datetime", Crash), pytest.raises(RuntimeError):
            await SqliteStore(tmp_path / "s.db").open()
        store = SqliteStore(tmp_path / "s.db")
        await store.open()  # sqlite3.OperationalError: table executions already exists
        await store.close()

    asyncio.run(body())


def test_a_save_racing_close_does_not_hang(tmp_path):
    async def body():
        store = SqliteStore(tmp_path / "s.db")
        await store.open()
        save = asyncio.gather(
            store.close(), store.save(Batch(executions=[header("e1")])), return_exceptions=True
        )
        await asyncio.wait_for(save, timeout=10)  # TimeoutError: the save's future is never settled

    asyncio.run(body())


def test_store_whose_open_failed_refuses_calls_instead_of_hanging(tmp_path):
    (tmp_path / "file").write_text("")

    async def body():
        store = SqliteStore(tmp_path / "file" / "s.db")  # parent is a file: open fails
        with pytest.raises(StoreError, match="is not a directory"):
            await store.open()
        with pytest.raises(RuntimeError, match="not open"):
            await asyncio.wait_for(store.load("e1"), timeout=10)  # TimeoutError instead

    asyncio.run(body())
