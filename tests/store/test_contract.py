"""The behaviour every Store promises, run against MemoryStore and SqliteStore alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution, Node, Phase, Status
from reconciler.store.base import Batch

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

UNFINISHED = [Status.PENDING, Status.RUNNING, Status.PAUSED, Status.WAITING_APPROVAL]
FINISHED = [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED]


def as_json(value: Any) -> str:
    """Order- and type-sensitive form for comparisons: ``1``, ``1.0`` and ``True`` differ here."""
    return json.dumps(value)


def by_run(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(nodes, key=lambda n: (n["key"], n["run"]))


def waiting(key: str, wake_at: str | None) -> Node:
    return Node(key=key, step=key, phase=Phase.RUNNING, waiting="wait", wake_at=wake_at)


# -- round trips -------------------------------------------------------------------------------


def test_saved_execution_loads_back_with_identical_header_and_node_records(store, run, records):
    execution = records.execution(
        "e1",
        nodes=[
            Node(
                key="restart",
                step="restart",
                phase=Phase.SUCCEEDED,
                attempts=2,
                output={
                    "replicas": 3,
                    "ratio": 0.25,
                    "whole": 1.0,
                    "ready": True,
                    "reason": None,
                    "pods": ["a-1", "b-2"],
                    "nested": {"empty": {}, "none": [], "deep": [[1, 2], {"x": -7}]},
                    "big": 2**62 + 1,
                    "text": 'naïve ✓ 日本 "quoted" \\ \n',
                },
                completed_seq=1,
                data={"attempt_ids": [1, 2], "approved": False},
            ),
            waiting("wait", "2024-05-01T10:05:00Z"),
        ],
    )
    execution.alert = {"labels": {"alertname": "KubePodCrashLooping", "severity": "critical"}}
    execution.outputs = {"restarted": 1, "score": 0.5}
    batch = records.batch(execution)
    [header] = batch.executions

    async def body(store):
        await store.save(batch)
        return await store.load("e1")

    stored = run(store, body)

    assert as_json(stored.header) == as_json(header)
    assert [as_json(n) for n in by_run(stored.nodes)] == [
        as_json(n) for n in by_run([record for _, record in batch.nodes])
    ]
    rebuilt = Execution.from_records(stored.header, stored.nodes)
    assert rebuilt.header() == execution.header()
    assert rebuilt.nodes == execution.nodes


def test_execution_saved_by_the_engine_is_rebuilt_from_its_records(store, run, records):
    execution = records.execution("e1", nodes=[Node(key="check", step="check")])
    node = execution.node("check")
    execution.transition(node, Phase.RUNNING, NOW)
    execution.transition(node, Phase.SUCCEEDED, NOW, output={"healthy": True})
    execution.set_status(Status.SUCCEEDED, NOW)

    async def body(store):
        await Engine(store).save(execution)
        return await store.load("e1"), await store.timeline("e1")

    stored, timeline = run(store, body)

    rebuilt = Execution.from_records(stored.header, stored.nodes)
    assert rebuilt.header() == execution.header()
    assert rebuilt.nodes == execution.nodes
    assert [(e["kind"], e["to"]) for e in timeline] == [
        ("step", "running"),
        ("step", "succeeded"),
        ("execution", "succeeded"),
    ]


def test_unknown_execution_loads_as_none_with_an_empty_timeline(store, run):
    async def body(store):
        return await store.load("missing"), await store.timeline("missing")

    assert run(store, body) == (None, [])


# -- upserts -----------------------------------------------------------------------------------


def test_node_saved_twice_keeps_only_the_last_record(store, run, records):
    node = Node(key="restart", step="restart")
    execution = records.execution("e1", nodes=[node])
    first = records.batch(execution)
    execution.transition(node, Phase.RUNNING, NOW, attempt_open=True, attempts=1)
    second = records.batch(execution)

    async def body(store):
        await store.save(first)
        await store.save(second)
        return await store.load("e1")

    stored = run(store, body)

    assert stored.nodes == [node.record()]
    assert stored.nodes[0]["phase"] == "running"


def test_runs_of_the_same_step_are_both_kept(store, run, records):
    first = Node(key="restart", step="restart", run=1, phase=Phase.FAILED, error="boom")
    second = Node(key="restart", step="restart", run=2, phase=Phase.RUNNING)
    execution = records.execution("e1")
    batch = Batch(
        executions=records.batch(execution).executions,
        nodes=[("e1", first.record()), ("e1", second.record())],
    )

    async def body(store):
        await store.save(batch)
        return await store.load("e1")

    stored = run(store, body)

    assert by_run(stored.nodes) == [first.record(), second.record()]
    rebuilt = Execution.from_records(stored.header, stored.nodes)
    assert rebuilt.node("restart").run == 2
    assert [n.run for n in rebuilt.history] == [1]


def test_header_saved_twice_keeps_only_the_last_header(store, run, records):
    execution = records.execution("e1")
    first = records.batch(execution)
    execution.set_status(Status.PAUSED, NOW, paused=True)
    second = records.batch(execution)

    async def body(store):
        await store.save(first)
        await store.save(second)
        return (
            await store.load("e1"),
            await store.query(status="running"),
            await store.query(status="paused"),
        )

    stored, running, paused = run(store, body)

    assert stored.header == second.executions[0]
    assert running == []
    assert [h["id"] for h in paused] == ["e1"]


def test_nodes_of_one_execution_do_not_leak_into_another(store, run, records):
    one = records.execution("one", nodes=[Node(key="restart", step="restart")])
    two = records.execution("two", nodes=[Node(key="restart", step="restart", attempts=5)])
    batch = records.batch(one, two)

    async def body(store):
        await store.save(batch)
        return await store.load("one"), await store.load("two")

    loaded_one, loaded_two = run(store, body)

    assert [n["attempts"] for n in loaded_one.nodes] == [0]
    assert [n["attempts"] for n in loaded_two.nodes] == [5]


# -- recovery and listing ----------------------------------------------------------------------


def test_unfinished_returns_only_executions_in_progress_with_their_nodes(store, run, records):
    executions = [
        records.execution(status.value, status=status, nodes=[Node(key=f"{status}-step", step="s")])
        for status in UNFINISHED + FINISHED
    ]
    batch = records.batch(*executions)

    async def body(store):
        await store.save(batch)
        return await store.unfinished()

    found = run(store, body)

    assert sorted(s.header["id"] for s in found) == sorted(s.value for s in UNFINISHED)
    for stored in found:
        assert [n["key"] for n in stored.nodes] == [f"{stored.header['id']}-step"]


def test_unfinished_pages_by_id_without_gaps_or_repeats(store, run, records):
    ids = [f"e{i:02d}" for i in range(7)]
    executions = [records.execution(i, nodes=[Node(key=f"{i}-a", step="a")]) for i in ids]
    executions.append(records.execution("done", status=Status.SUCCEEDED))

    async def body(store):
        await store.save(records.batch(*executions))
        pages, after = [], ""
        while page := await store.unfinished(after=after, limit=3):
            pages.append(page)
            after = page[-1].header["id"]
        return pages

    pages = run(store, body)

    assert [[s.header["id"] for s in page] for page in pages] == [ids[0:3], ids[3:6], ids[6:]]
    assert all(s.nodes[0]["key"] == f"{s.header['id']}-a" for page in pages for s in page)


def test_execution_that_finishes_is_no_longer_unfinished(store, run, records):
    execution = records.execution("e1")
    started = records.batch(execution)
    execution.set_status(Status.SUCCEEDED, NOW)
    finished = records.batch(execution)

    async def body(store):
        await store.save(started)
        before = await store.unfinished()
        await store.save(finished)
        return before, await store.unfinished()

    before, after = run(store, body)

    assert [s.header["id"] for s in before] == ["e1"]
    assert after == []


@pytest.fixture
def listed(records):
    """Five executions, created a minute apart, across two workflows, policies and statuses."""
    rows = [
        ("a", "restart-pod", "crashloop", Status.SUCCEEDED),
        ("b", "restart-pod", "oom", Status.RUNNING),
        ("c", "scale-up", "crashloop", Status.RUNNING),
        ("d", "restart-pod", "crashloop", Status.RUNNING),
        ("e", "scale-up", "oom", Status.FAILED),
    ]
    executions = [
        records.execution(
            execution_id,
            workflow=workflow,
            policy=policy,
            status=status,
            created_at=f"2024-05-01T10:0{minute}:00Z",
        )
        for minute, (execution_id, workflow, policy, status) in enumerate(rows)
    ]
    for execution in executions:
        # b and e were started by an OOM alert, the rest by a crash loop.
        name, fingerprint = (
            ("OOMKilled", "f-oom") if execution.policy == "oom" else ("Crash", "f-c")
        )
        execution.alert = {"labels": {"alertname": name}, "fingerprint": fingerprint}
    return records.batch(*executions)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e", "d", "c", "b", "a"]),
        ({"status": "running"}, ["d", "c", "b"]),
        ({"workflow": "restart-pod"}, ["d", "b", "a"]),
        ({"policy": "oom"}, ["e", "b"]),
        ({"status": "running", "workflow": "restart-pod", "policy": "crashloop"}, ["d"]),
        ({"status": "cancelled"}, []),
        ({"limit": 2}, ["e", "d"]),
        ({"workflow": "restart-pod", "limit": 1}, ["d"]),
        ({"target": "shop/c"}, ["c"]),
        ({"since": "2024-05-01T10:03:00Z"}, ["e", "d"]),
        ({"alert": "OOMKilled"}, ["e", "b"]),
        ({"alert": "f-c", "since": "2024-05-01T10:02:00Z"}, ["d", "c"]),
        ({"alert": "Nothing"}, []),
    ],
    ids=[
        "all",
        "status",
        "workflow",
        "policy",
        "all-filters",
        "no-match",
        "limit",
        "filter-limit",
        "target",
        "since",
        "alert-name",
        "alert-fingerprint",
        "alert-none",
    ],
)
def test_query_filters_and_lists_newest_first(store, run, listed, filters, expected):
    async def body(store):
        await store.save(listed)
        return await store.query(**filters)

    found = run(store, body)

    headers = {h["id"]: h for h in listed.executions}
    assert found == [headers[execution_id] for execution_id in expected]


def test_timeline_keeps_entries_in_the_order_they_were_saved(store, run, records):
    one = records.execution("one")
    two = records.execution("two")
    batches = []
    for i in range(3):
        one.note(NOW, "decision", index=i)
        two.note(NOW, "decision", index=10 + i)
        one.note(NOW, "guardrail", index=100 + i)
        batches.append(records.batch(two, one))

    async def body(store):
        for batch in batches:
            await store.save(batch)
        return await store.timeline("one"), await store.timeline("two")

    timeline_one, timeline_two = run(store, body)

    assert [e["index"] for e in timeline_one] == [0, 100, 1, 101, 2, 102]
    assert [e["index"] for e in timeline_two] == [10, 11, 12]
    assert timeline_one[0] == {"at": "2024-05-01T10:00:00.000000Z", "kind": "decision", "index": 0}


# -- timers ------------------------------------------------------------------------------------


def test_due_finds_unfinished_executions_whose_timer_is_at_or_before_the_moment(
    store, run, records
):
    batch = records.batch(
        records.execution("early", nodes=[waiting("w", "2024-05-01T10:01:00Z")]),
        records.execution("exact", nodes=[waiting("w", "2024-05-01T10:05:00Z")]),
        records.execution("later", nodes=[waiting("w", "2024-05-01T10:05:01Z")]),
        records.execution("deadline", deadline="2024-05-01T10:02:00Z"),
        records.execution("no-timer", nodes=[waiting("w", None)]),
    )

    async def body(store):
        await store.save(batch)
        return await store.due("2024-05-01T10:05:00Z"), await store.due("2024-05-01T10:00:00Z")

    due, none_yet = run(store, body)

    assert sorted(due) == ["deadline", "early", "exact"]
    assert none_yet == []


@pytest.mark.parametrize("status", FINISHED, ids=[s.value for s in FINISHED])
def test_due_ignores_finished_executions_even_with_a_timer(store, run, records, status):
    finished = records.execution(
        "finished", status=status, nodes=[waiting("w", "2024-05-01T10:01:00Z")]
    )
    batch = records.batch(finished)
    assert batch.executions[0]["wake_at"] == "2024-05-01T10:01:00Z"

    async def body(store):
        await store.save(batch)
        return await store.due("2024-05-02T00:00:00Z")

    assert run(store, body) == []


def test_due_stops_at_its_limit(store, run, records):
    batch = records.batch(
        *(
            records.execution(f"e{i}", nodes=[waiting("w", f"2024-05-01T10:0{i}:00Z")])
            for i in range(5)
        )
    )

    async def body(store):
        await store.save(batch)
        return await store.due("2024-05-02T00:00:00Z", limit=2)

    assert len(run(store, body)) == 2


def test_timer_cleared_by_a_later_save_is_no_longer_due(store, run, records):
    node = waiting("w", "2024-05-01T10:01:00Z")
    execution = records.execution("e1", nodes=[node])
    armed = records.batch(execution)
    execution.transition(node, Phase.SUCCEEDED, NOW)
    cleared = records.batch(execution)

    async def body(store):
        await store.save(armed)
        before = await store.due("2024-05-01T10:05:00Z")
        await store.save(cleared)
        return before, await store.due("2024-05-01T10:05:00Z")

    assert run(store, body) == (["e1"], [])


# -- revisions ---------------------------------------------------------------------------------


def test_revision_files_round_trip_as_exact_bytes(store, run):
    files = {
        "workflows/restart.yaml": b"kind: Workflow\nmetadata:\n  name: restart\n",
        "policies/caf\xe9.yaml": "name: café ✓\n".encode(),
        "bin/latin1.txt": b"caf\xe9 \xff\xfe\x00\x01",
        "empty": b"",
    }

    async def body(store):
        await store.save_revision("abc123", files)
        await store.save_revision("def456", {"only.yaml": b"x: 1\n"})
        return await store.load_revision("abc123"), await store.load_revision("def456")

    first, second = run(store, body)

    assert first == files
    assert all(type(data) is bytes for data in first.values())
    assert second == {"only.yaml": b"x: 1\n"}


def test_unknown_revision_loads_as_none(store, run):
    async def body(store):
        await store.save_revision("abc123", {"a.yaml": b"a: 1\n"})
        return await store.load_revision("0000000")

    assert run(store, body) is None


def test_count_overdue_counts_unfinished_executions_past_their_deadline(store, run, records):
    past = "2024-05-01T10:00:00.000000Z"
    future = "2024-05-01T12:00:00.000000Z"
    batch = records.batch(
        records.execution("stuck", deadline=past),
        records.execution("waiting", status=Status.WAITING_APPROVAL, deadline=past),
        records.execution("fine", deadline=future),
        records.execution("gated", status=Status.WAITING_APPROVAL),  # no deadline until approved
        records.execution("over", status=Status.FAILED, deadline=past),
    )

    async def body(store):
        await store.save(batch)
        return await store.count_overdue("2024-05-01T11:00:00.000000Z")

    assert run(store, body) == 2


# -- edge cases --------------------------------------------------------------------------------


def test_saving_an_empty_batch_stores_nothing(store, run):
    async def body(store):
        await store.save(Batch())
        return await store.query(), await store.unfinished(), await store.due("9999")

    assert run(store, body) == ([], [], [])


def test_values_json_cannot_hold_are_stored_as_cel_renders_them_never_refused(store, run, records):
    """A stray value (a set, bytes, a time) must not make an execution unwritable."""
    odd = records.execution(
        "odd",
        nodes=[
            Node(
                key="restart",
                step="restart",
                output={"seen": {2, 1}, "blob": b"\xff", "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        ],
    )

    async def body(store):
        await store.save(records.batch(odd))
        return await store.load("odd")

    loaded = run(store, body)
    assert loaded.nodes[0]["output"] == {
        "seen": [1, 2],
        "blob": "/w==",
        "at": "2026-01-01T00:00:00Z",
    }


def test_batch_that_cannot_be_serialised_raises_to_its_caller_and_keeps_earlier_saves(
    store, run, records
):
    good = records.execution("good", nodes=[Node(key="restart", step="restart")])
    good_batch = records.batch(good)
    bad = records.execution(
        "bad", nodes=[Node(key="restart", step="restart", data={"seen": {(1, 2): "tuple key"}})]
    )
    bad_batch = records.batch(bad)
    after = records.execution("after")
    after_batch = records.batch(after)

    async def body(store):
        await store.save(good_batch)
        with pytest.raises(TypeError, match="keys must be"):
            await store.save(bad_batch)
        await store.save(after_batch)
        return await store.load("good"), await store.load("after")

    loaded_good, loaded_after = run(store, body)

    assert loaded_good.header == good_batch.executions[0]
    assert loaded_good.nodes == [good.node("restart").record()]
    assert loaded_after.header == after_batch.executions[0]


# -- retention ---------------------------------------------------------------------------------


def finished(records, execution_id, status=Status.SUCCEEDED, at="2024-05-01T10:00:00Z", **kw):
    execution = records.execution(execution_id, status=status, **kw)
    execution.finished_at = at
    return execution


def test_prune_finished_deletes_only_finished_executions_older_than_the_moment(store, run, records):
    old = [finished(records, s.value, s, nodes=[Node(key="a", step="a")]) for s in FINISHED]
    recent = finished(records, "recent", at="2024-05-01T12:00:00Z")
    still_open = records.execution("open", status=Status.RUNNING, created_at="2024-04-01T00:00:00Z")
    old[0].timeline.append({"at": "2024-05-01T10:00:00Z", "kind": "log"})

    async def body(store):
        await store.save(records.batch(*old, recent, still_open))
        pruned = await store.prune_finished("2024-05-01T11:00:00Z")
        gone = [await store.load(s.value) for s in FINISHED]
        return pruned, gone, await store.timeline("succeeded"), await store.query(limit=10)

    pruned, gone, timeline, left = run(store, body)

    assert pruned == 3 and gone == [None, None, None] and timeline == []
    assert sorted(h["id"] for h in left) == ["open", "recent"]


def test_prune_finished_keeps_subflows_of_open_parents_and_parents_of_open_subflows(
    store, run, records
):
    parent = records.execution("parent", status=Status.RUNNING)
    done_child = finished(records, "done-child")
    done_child.parent = "parent"
    done_parent = finished(records, "done-parent")
    open_child = records.execution("open-child", status=Status.RUNNING)
    open_child.parent = "done-parent"
    lone = finished(records, "lone")

    async def body(store):
        await store.save(records.batch(parent, done_child, done_parent, open_child, lone))
        pruned = await store.prune_finished("2024-06-01T00:00:00Z")
        return pruned, sorted(h["id"] for h in await store.query(limit=10))

    pruned, left = run(store, body)

    assert pruned == 1
    assert left == ["done-child", "done-parent", "open-child", "parent"]


def test_prune_finished_stops_at_its_limit(store, run, records):
    executions = [finished(records, f"e{i}") for i in range(5)]

    async def body(store):
        await store.save(records.batch(*executions))
        first = await store.prune_finished("2024-06-01T00:00:00Z", limit=2)
        return first, len(await store.query(limit=10))

    assert run(store, body) == (2, 3)
