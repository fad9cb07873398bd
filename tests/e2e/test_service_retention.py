"""`reconciler run --retention`: finished executions past it are pruned in the background (at
start, then hourly), counted in a metric; recent and unfinished ones stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servicekit import Remote, Running, settings, wait_for

from reconciler.app.service import store_path
from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution, Status, iso
from reconciler.store.memory import MemoryStore
from reconciler.store.sqlite import SqliteStore


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def finished(execution_id: str, at: datetime) -> Execution:
    execution = Execution(
        id=execution_id,
        workflow="restart-pod",
        revision="rev-1",
        params={},
        policy="crashloop",
        status=Status.SUCCEEDED,
        created_at=iso(at),
        finished_at=iso(at),
    )
    execution.header_dirty = True
    return execution


def fill(path: Path, *executions: Execution) -> None:
    """Executions written as the engine writes them, into the store the service will open."""

    async def write() -> None:
        store = SqliteStore(path)
        await store.open()
        try:
            engine = Engine(MemoryStore())  # only its batch() is used: the records it saves
            for execution in executions:
                await store.save(engine.batch(execution))
        finally:
            await store.close()

    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(write())


def test_finished_executions_past_the_retention_are_pruned_at_start_and_counted(
    tmp_path: Path, remote: Remote
) -> None:
    configured = settings(tmp_path, remote.url, retention="30d")
    now = datetime.now(UTC)
    fill(
        store_path(configured),
        finished("old", now - timedelta(days=31)),
        finished("recent", now - timedelta(days=29)),
    )
    with Running(configured) as running:
        wait_for(lambda: running.client.get("/api/v1/executions/old").status_code == 404)
        assert running.client.get("/api/v1/executions/recent").status_code == 200
        metrics = running.client.get("/metrics").text
        assert "reconciler_executions_pruned_total 1.0" in metrics


def test_without_retention_nothing_is_pruned(tmp_path: Path, remote: Remote) -> None:
    configured = settings(tmp_path, remote.url)
    fill(store_path(configured), finished("old", datetime(2020, 1, 1, tzinfo=UTC)))
    with Running(configured) as running:
        wait_for(lambda: running.status().get("active_revision"))
        assert running.client.get("/api/v1/executions/old").status_code == 200
        assert "reconciler_executions_pruned_total 0.0" in running.client.get("/metrics").text
