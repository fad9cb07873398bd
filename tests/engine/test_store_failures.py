"""Executions survive a store that cannot write for a while (a real full SQLite database).

The engine runs as in the service (a driver task per execution) on a :class:`SqliteStore`.
Its writes start failing while actions are in flight: the executions wait (their drivers stay
alive), and once the database has room again they finish without a restart, every action
called exactly once; a result received while the disk was full is recorded, not left as an
"unknown outcome" for the next start.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from reconciler.actions.registry import Registry, catalogue
from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine
from reconciler.store.sqlite import SqliteStore
from reconciler.validation import revision

WORKFLOWS = b"""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: two-calls}
spec:
  steps:
    - {id: first, action: test.remote, with: {}}
    - {id: second, action: test.remote, with: {}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: one-call}
spec:
  steps:
    - {id: only, action: test.remote, with: {}}
"""
BIG = "x" * 20_000  # a result that needs new pages: a full database refuses to record it


class AnyParams(Params):
    model_config = ConfigDict(frozen=True, extra="allow")


class Remote:
    """A non-idempotent call with no check: after a crash its outcome would be unknown.
    Calls of the ``first``/``only`` steps are held until :attr:`release` is set."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.release = asyncio.Event()

    async def run(self, params: AnyParams, context: ActionContext) -> dict[str, Any]:
        self.calls[(context.execution, context.step)] += 1
        if context.step in ("first", "only"):
            await self.release.wait()
        return {"body": BIG}

    def registry(self) -> Registry:
        registry = catalogue()
        registry.register(
            ActionSpec(
                "test.remote",
                "a call to a server, not idempotent",
                AnyParams,
                mutating=True,
                idempotent=False,
                dry_run=False,
                effect="write",
                run=self.run,
            )
        )
        return registry


async def until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll (no fixed sleeps) until ``predicate`` is truthy; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.01)


async def engine_on(store: SqliteStore, remote: Remote) -> Engine:
    registry = remote.registry()
    files = {"flows.yaml": WORKFLOWS}
    outcome = revision.build([MemoryTree(files)], registry=registry)
    assert outcome.revision is not None, outcome.problems
    engine = Engine(store, registry=registry)
    await engine.add_revision("r1", outcome.revision, files)
    return engine


async def statuses(store: SqliteStore) -> Counter[str]:
    return Counter(h["status"] for h in await store.query(limit=1000))


def test_executions_wait_while_the_store_is_full_and_finish_once_it_has_room(tmp_path: Path):
    async def body() -> None:
        store, remote = SqliteStore(tmp_path / "engine.db"), Remote()
        await store.open()
        engine = await engine_on(store, remote)
        try:
            started = [
                await engine.start(revision="r1", workflow="two-calls", params={})
                for _ in range(10)
            ]
            await until(lambda: len(remote.calls) == 10)  # every first call is in flight
            await store.simulate_full_disk()
            remote.release.set()  # the results arrive while nothing can be recorded
            await until(lambda: store.health.failures >= 5)  # retried, again and again
            assert store.write_error is not None
            assert "database or disk is full" in store.write_error
            drivers = [engine._drivers.get(e.id) for e in started]
            assert all(d is not None and not d.done() for d in drivers)  # waiting, not dead
            assert await statuses(store) == Counter({"running": 10})

            await store.simulate_full_disk(False)
            await until(lambda: store.write_error is None)
            for _ in range(3000):
                if await statuses(store) == Counter({"succeeded": 10}):
                    break
                await asyncio.sleep(0.01)
            assert await statuses(store) == Counter({"succeeded": 10})
        finally:
            await engine.close()
            await store.close()
        expected = {(e.id, step): 1 for e in started for step in ("first", "second")}
        assert dict(remote.calls) == expected  # every call made exactly once

    asyncio.run(body())


def test_a_result_received_while_the_store_was_full_is_recorded_not_unknown_after_a_restart(
    tmp_path: Path,
):
    async def first_run(remote: Remote) -> str:
        store = SqliteStore(tmp_path / "engine.db")
        await store.open()
        engine = await engine_on(store, remote)
        try:
            execution = await engine.start(revision="r1", workflow="one-call", params={})
            await until(lambda: remote.calls)
            await store.simulate_full_disk()
            remote.release.set()
            await until(lambda: store.health.failures >= 2)  # the result could not be written
            await store.simulate_full_disk(False)
            for _ in range(3000):
                stored = await store.load(execution.id)
                if stored is not None and stored.header["status"] == "succeeded":
                    break
                await asyncio.sleep(0.01)
        finally:
            await engine.close()
            await store.close()
        return execution.id

    async def after_restart(execution_id: str, remote: Remote) -> tuple[str, list[str], int]:
        store = SqliteStore(tmp_path / "engine.db")
        await store.open()
        engine = await engine_on(store, remote)
        try:
            await engine.recover()
            stored = await store.load(execution_id)
            timeline = await store.timeline(execution_id)
        finally:
            await engine.close()
            await store.close()
        assert stored is not None
        (node,) = stored.nodes
        return stored.header["status"], [e["kind"] for e in timeline], node["attempts"]

    remote = Remote()
    execution_id = asyncio.run(first_run(remote))
    status, kinds, attempts = asyncio.run(after_restart(execution_id, remote))

    assert status == "succeeded"
    assert "unknown_outcome" not in kinds
    assert attempts == 1
    assert dict(remote.calls) == {(execution_id, "only"): 1}
