"""MemoryStore beyond the shared contract: what it stores never aliases what callers hold."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.engine.state import Node
from reconciler.store.memory import MemoryStore

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_changing_a_batch_after_saving_it_does_not_change_the_store(run, records):
    execution = records.execution("e1", nodes=[Node(key="restart", step="restart", output={})])
    batch = records.batch(execution)
    header = batch.executions[0]
    _, record = batch.nodes[0]
    saved_header, saved_record = repr(header), repr(record)

    async def body(store):
        await store.save(batch)
        header["status"] = "succeeded"
        header["params"]["namespace"] = "changed"
        record["output"]["changed"] = True
        return await store.load("e1")

    stored = run(MemoryStore(), body)

    assert repr(stored.header) == saved_header
    assert repr(stored.nodes[0]) == saved_record


def test_changing_what_was_read_does_not_change_the_store(run, records):
    execution = records.execution("e1", nodes=[Node(key="restart", step="restart")])
    execution.note(NOW, "created")
    batch = records.batch(execution)

    async def body(store):
        await store.save(batch)
        loaded = await store.load("e1")
        loaded.header["params"]["namespace"] = "changed"
        loaded.nodes[0]["phase"] = "failed"
        (await store.query())[0]["status"] = "failed"
        (await store.unfinished())[0].nodes.clear()
        (await store.timeline("e1"))[0]["kind"] = "changed"
        return await store.load("e1"), await store.timeline("e1")

    stored, timeline = run(MemoryStore(), body)

    assert stored.header == batch.executions[0]
    assert stored.nodes == [batch.nodes[0][1]]
    assert timeline == [entry for _, entry in batch.timeline]


def test_changing_revision_files_after_saving_them_does_not_change_the_store(run):
    files = {"a.yaml": b"a: 1\n"}

    async def body(store):
        await store.save_revision("rev-1", files)
        files["b.yaml"] = b"b: 2\n"
        loaded = await store.load_revision("rev-1")
        loaded["c.yaml"] = b"c: 3\n"
        return await store.load_revision("rev-1")

    assert run(MemoryStore(), body) == {"a.yaml": b"a: 1\n"}
