"""The SQLite store commits deliveries of alerts that wait together in one transaction (one
fsync), each in its own savepoint: a bad delivery fails alone, and none is left waiting."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler.store.sqlite import SqliteStore


class CountingStore(SqliteStore):
    """Counts the writer's delivery commits (the real ones run)."""

    commits_of_deliveries = 0

    def _commit_deliveries(self, connection: sqlite3.Connection) -> None:
        self.commits_of_deliveries += 1
        super()._commit_deliveries(connection)


def alert(fingerprint: str, **extra: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "starts_at": "2026-01-01T00:00:00Z",
        "status": "firing",
        "labels": {"alertname": "A"},
        **extra,
    }


def test_deliveries_waiting_together_share_one_commit_and_a_bad_one_fails_alone(
    tmp_path: Path,
) -> None:
    async def body() -> tuple[list[Any], int, list[str]]:
        store = CountingStore(tmp_path / "s.db")
        await store.open()
        try:
            gate = threading.Event()
            busy = asyncio.ensure_future(store._write(lambda c: gate.wait(timeout=30)))
            deliveries = [
                store.receive_alerts([alert(f"f{i}", **({"bad": {1}} if i == 3 else {}))], "t")
                for i in range(8)
            ]
            waiting = asyncio.gather(*deliveries, return_exceptions=True)
            await asyncio.sleep(0)  # every delivery is queued behind the busy writer
            gate.set()
            await busy
            results = await waiting
            stored = sorted(a["fingerprint"] for a in await store.alerts())
            return results, store.commits_of_deliveries, stored
        finally:
            await store.close()

    results, commits, stored = asyncio.run(body())

    assert isinstance(results[3], TypeError)
    assert [r for i, r in enumerate(results) if i != 3] == [[False]] * 7
    assert commits == 1
    assert stored == [f"f{i}" for i in range(8) if i != 3]


def test_a_delivery_to_a_closed_store_fails_instead_of_waiting(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path / "s.db")
        await store.open()
        await store.close()
        with pytest.raises(RuntimeError, match="not open"):
            await asyncio.wait_for(store.receive_alerts([alert("f1")], "t"), 10)

    asyncio.run(body())
