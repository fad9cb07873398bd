"""Fixtures for the store tests: records shaped as the engine writes them, and a store runner.

Batches come from the engine's own :meth:`Engine.batch`, so the stores are tested with exactly the
headers (including the ``wake_at`` the engine adds) and node records they get in service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution, Node, Status
from reconciler.store.base import Batch, Store
from reconciler.store.memory import MemoryStore
from reconciler.store.sqlite import SqliteStore


class Records:
    """Builds executions and the batches the engine would save for them."""

    def __init__(self) -> None:
        # Engine.batch only reads the execution it is given; the engine's own store is unused.
        self._engine = Engine(MemoryStore())

    def execution(
        self,
        execution_id: str,
        *,
        status: Status = Status.RUNNING,
        created_at: str = "2024-05-01T10:00:00Z",
        workflow: str = "restart-pod",
        policy: str = "crashloop",
        deadline: str | None = None,
        nodes: Iterable[Node] = (),
    ) -> Execution:
        execution = Execution(
            id=execution_id,
            workflow=workflow,
            revision="rev-1",
            params={"namespace": "shop", "deployment": execution_id},
            policy=policy,
            target=f"shop/{execution_id}",
            status=status,
            created_at=created_at,
            deadline=deadline,
        )
        execution.header_dirty = True
        for node in nodes:
            execution.add_node(node)
        return execution

    def batch(self, *executions: Execution) -> Batch:
        """What the engine saves for these executions (and, like the engine, marks them clean)."""
        batch = Batch()
        for execution in executions:
            batch.extend(self._engine.batch(execution))
        return batch


@pytest.fixture
def records() -> Records:
    return Records()


Body = Callable[[Any], Awaitable[Any]]


@pytest.fixture
def run() -> Callable[[Store, Body], Any]:
    """Open the store, run ``body(store)`` in a fresh event loop, and always close the store."""

    def run_in_store(store: Store, body: Body) -> Any:
        async def main() -> Any:
            await store.open()
            try:
                return await body(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return run_in_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Store:
    """Each contract test runs against both stores."""
    if request.param == "memory":
        return MemoryStore()
    return SqliteStore(tmp_path / "s.db")
