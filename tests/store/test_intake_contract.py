"""What every Store promises the intake: alerts keyed by fingerprint and startsAt, pending until
evaluated, decisions, the service's state, and admission's lookups (memory and SQLite alike)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.engine.state import Status


def alert(fingerprint: str = "f1", status: str = "firing", **extra: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "starts_at": "2026-01-01T00:00:00Z",
        "status": status,
        "labels": {"alertname": "A"},
        **extra,
    }  # ``starts_at=None``: an alert without startsAt


def test_a_redelivered_alert_is_one_row_marked_as_a_repeat_and_pending_again(store, run):
    async def body(store):
        first = await store.receive_alerts([alert()], "2026-01-01T00:00:01Z")
        (pending,) = await store.pending_alerts()
        await store.finish_alert("f1", pending["starts_at"], pending["deliveries"])
        after_finish = await store.pending_alerts()
        again = await store.receive_alerts([alert()], "2026-01-01T00:00:05Z")
        return first, after_finish, again, await store.pending_alerts(), await store.alerts()

    first, after_finish, again, pending, listed = run(store, body)

    assert first == [False] and again == [True]
    assert after_finish == []
    assert [(a["fingerprint"], a["deliveries"]) for a in pending] == [("f1", 2)]
    assert len(listed) == 1
    assert listed[0]["first_received_at"] == "2026-01-01T00:00:01Z"
    assert listed[0]["received_at"] == "2026-01-01T00:00:05Z"
    assert listed[0]["pending"] is True


def test_a_resolution_is_not_a_repeat_and_updates_the_stored_alert(store, run):
    async def body(store):
        await store.receive_alerts([alert()], "t1")
        resolved = await store.receive_alerts([alert(status="resolved", ends_at="x")], "t2")
        return resolved, await store.alerts(status="resolved"), await store.alerts(status="firing")

    resolved, listed, firing = run(store, body)

    assert resolved == [False]
    assert [(a["status"], a["ends_at"]) for a in listed] == [("resolved", "x")]
    assert firing == []


def test_finishing_an_alert_delivered_again_meanwhile_keeps_it_pending(store, run):
    async def body(store):
        await store.receive_alerts([alert()], "t1")
        (seen,) = await store.pending_alerts()
        await store.receive_alerts([alert()], "t2")  # arrives while the first is evaluated
        await store.finish_alert("f1", seen["starts_at"], seen["deliveries"])
        return await store.pending_alerts()

    assert [a["deliveries"] for a in run(store, body)] == [2]


def test_pending_alerts_come_oldest_delivery_first(store, run):
    async def body(store):
        await store.receive_alerts([alert("a"), alert("b")], "t1")
        await store.receive_alerts([alert("c")], "t2")
        await store.receive_alerts([alert("a")], "t3")  # delivered again: now the newest
        return [a["fingerprint"] for a in await store.pending_alerts()]

    assert run(store, body) == ["b", "c", "a"]


def test_decisions_are_found_by_alert_and_by_execution_in_order(store, run):
    def decision(policy: str, outcome: str, execution: str | None = None) -> dict[str, Any]:
        return {
            "fingerprint": "f1",
            "starts_at": "s",
            "policy": policy,
            "decision": outcome,
            "execution": execution,
            "reason": "",
        }

    async def body(store):
        await store.save_decision(decision("p1", "refused"))
        await store.save_decision(decision("p1", "started", "e1"))
        await store.save_decision({**decision("p2", "started", "e2"), "fingerprint": "f2"})
        return (
            await store.decisions(fingerprint="f1", starts_at="s"),
            await store.decisions(execution="e2"),
            await store.decisions(limit=1),
        )

    by_alert, by_execution, last = run(store, body)

    assert [(d["policy"], d["decision"]) for d in by_alert] == [
        ("p1", "refused"),
        ("p1", "started"),
    ]
    assert [d["policy"] for d in by_execution] == ["p2"]
    assert [d["execution"] for d in last] == ["e2"]


def test_service_state_round_trips_json_values(store, run):
    async def body(store):
        before = await store.get_state("suspended")
        await store.set_state("suspended", {"by": "alice", "at": "t"})
        await store.set_state("suspended", {"by": "bob", "at": "t2"})
        return before, await store.get_state("suspended")

    assert run(store, body) == (None, {"by": "bob", "at": "t2"})


def test_policy_history_holds_open_executions_and_recent_ones(store, run, records):
    old_done = records.execution("old", status=Status.SUCCEEDED)
    old_done.policy, old_done.created_at = "p", "2026-01-01T00:00:00.000000Z"
    old_open = records.execution("open", status=Status.RUNNING)
    old_open.policy, old_open.created_at = "p", "2026-01-01T00:00:00.000000Z"
    recent = records.execution("recent", status=Status.FAILED)
    recent.policy, recent.created_at = "p", "2026-01-02T00:00:00.000000Z"
    other = records.execution("other", status=Status.RUNNING)
    other.policy = "q"

    async def body(store):
        await store.save(records.batch(old_done, old_open, recent, other))
        return (
            await store.policy_history("p", "2026-01-01T12:00:00.000000Z"),
            await store.count_by_status(),
        )

    history, counts = run(store, body)

    assert sorted(h["id"] for h in history) == ["open", "recent"]
    assert counts == {"succeeded": 1, "running": 2, "failed": 1}


def test_decisions_and_evaluated_alerts_commit_with_the_execution_they_start(store, run, records):
    from reconciler.store.base import Batch

    execution = records.execution("e1")
    started = records.batch(execution)
    started.decisions.append(
        {"fingerprint": "f1", "starts_at": "s1", "policy": "p", "decision": "started",
         "execution": "e1"}
    )  # fmt: skip
    started.alerts_done.append(("f1", "2026-01-01T00:00:00Z", 1))

    async def body(store):
        await store.receive_alerts([alert()], "t1")
        await store.save(started)
        await store.save(Batch(decisions=[{**started.decisions[0], "fingerprint": "f2"}]))
        return (
            await store.pending_alerts(),
            await store.decisions_of([("f1", "s1"), ("f2", "s1"), ("f3", "s1")]),
            await store.load("e1"),
        )

    pending, found, loaded = run(store, body)

    assert pending == []
    assert [d["fingerprint"] for d in found] == ["f1", "f2"]
    assert loaded is not None


# -- which record a delivery belongs to (decided inside the write) --------------------------------
S1, S2 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def stored_keys(listed: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    return sorted((a["fingerprint"], a["starts_at"], a["status"], a["deliveries"]) for a in listed)


def test_an_alert_without_starts_at_continues_the_firing_record_of_its_fingerprint(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S1)], "2026-01-01T00:00:01.000000Z")
        again = await store.receive_alerts([alert(starts_at=None)], "2026-01-01T00:09:00.000000Z")
        return again, await store.alerts()

    again, listed = run(store, body)

    assert again == [True]
    assert stored_keys(listed) == [("f1", S1, "firing", 2)]


def test_an_alert_without_starts_at_and_nothing_firing_starts_at_the_receive_time(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S1, status="resolved")], "t0")
        await store.receive_alerts([alert(starts_at=None)], "2026-01-01T00:09:00.000000Z")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [
        ("f1", S1, "resolved", 1),
        ("f1", "2026-01-01T00:09:00.000000Z", "firing", 1),
    ]


def test_an_alert_without_starts_at_continues_the_newest_firing_record(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S1), alert(starts_at=S2)], "t1")
        await store.receive_alerts([alert(starts_at=None)], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", S1, "firing", 1), ("f1", S2, "firing", 2)]


def test_alerts_without_starts_at_in_one_delivery_share_one_record(store, run):
    async def body(store):
        repeats = await store.receive_alerts([alert(starts_at=None)] * 3, "2026-01-01T00:09:00Z")
        return repeats, await store.alerts()

    repeats, listed = run(store, body)

    assert repeats == [False, True, True]
    assert stored_keys(listed) == [("f1", "2026-01-01T00:09:00Z", "firing", 3)]


def test_concurrent_deliveries_without_starts_at_make_one_record(store, run):
    async def body(store):
        await asyncio.gather(
            *(
                store.receive_alerts([alert(starts_at=None)], f"2026-01-01T00:09:{i:02d}Z")
                for i in range(20)
            )
        )
        return await store.alerts()

    listed = run(store, body)

    assert len(listed) == 1 and listed[0]["deliveries"] == 20


def test_an_earlier_starts_at_joins_the_later_firing_record_and_so_does_its_resolution(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S2)], "t1")
        merged = await store.receive_alerts([alert(starts_at=S1)], "t2")
        await store.receive_alerts([alert(starts_at=S1, status="resolved")], "t3")
        return merged, await store.alerts()

    merged, listed = run(store, body)

    assert merged == [True]  # the same firing, delivered again
    assert stored_keys(listed) == [("f1", S2, "resolved", 3)]
    assert listed[0]["reported_starts_at"] == S1


def test_times_are_compared_as_times_not_as_strings(store, run):
    precise = "2026-01-01T00:00:00.500000Z"  # later than S1, though "." sorts before "Z"

    async def body(store):
        await store.receive_alerts([alert(starts_at=precise)], "t1")
        await store.receive_alerts([alert(starts_at=S1)], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", precise, "firing", 2)]


def test_a_later_starts_at_is_a_new_firing(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S1)], "t1")
        await store.receive_alerts([alert(starts_at=S2)], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", S1, "firing", 1), ("f1", S2, "firing", 1)]


def test_an_earlier_starts_at_already_stored_keeps_its_own_record(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S1), alert(starts_at=S2)], "t1")
        await store.receive_alerts([alert(starts_at=S1, status="resolved")], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", S1, "resolved", 2), ("f1", S2, "firing", 1)]


def test_an_earlier_starts_at_after_that_firing_resolved_is_a_record_of_its_own(store, run):
    async def body(store):
        await store.receive_alerts([alert(starts_at=S2, status="resolved")], "t1")
        await store.receive_alerts([alert(starts_at=S1)], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", S1, "firing", 1), ("f1", S2, "resolved", 1)]


def test_other_fingerprints_are_never_joined(store, run):
    async def body(store):
        await store.receive_alerts([alert("f1", starts_at=S2)], "t1")
        await store.receive_alerts([alert("f2", starts_at=S1), alert("f2", starts_at=None)], "t2")
        return await store.alerts()

    assert stored_keys(run(store, body)) == [("f1", S2, "firing", 1), ("f2", S1, "firing", 2)]


def test_a_delivery_with_an_alert_that_is_not_json_stores_nothing(store, run):
    async def body(store):
        with pytest.raises(TypeError):
            await store.receive_alerts([alert("f1"), alert("f2", bad={1})], "t1")
        return await store.alerts()

    assert run(store, body) == []
