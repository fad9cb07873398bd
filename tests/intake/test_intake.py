"""The intake's rules on the memory store: identity, crash safety, resolution, suspension."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.definitions.alert import Alert
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import FakeClock
from reconciler.engine.engine import Engine
from reconciler.intake.intake import Intake
from reconciler.store.base import Batch
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision

DEFINITIONS = b"""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: hold}
spec:
  params: {pod: {type: string}}
  steps:
    - {id: ask, approval: {message: go?, timeout: 1h}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: hold}
spec:
  match: alert.labels.alertname == "Hold"
  workflow: hold
  params: {pod: "{{ alert.labels.pod }}"}
  target: "{{ alert.labels.pod }}"
  on_resolved: cancel
"""
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def hold(pod: str = "p", **fields: Any) -> Alert:
    return Alert.model_validate(
        {"labels": {"alertname": "Hold", "pod": pod}, "startsAt": "2026-01-01T11:00:00Z", **fields}
    )


async def intake_on(store: MemoryStore) -> Intake:
    files = {"defs.yaml": DEFINITIONS}
    outcome = revision.build([MemoryTree(files)])
    assert outcome.revision is not None, outcome.problems
    engine = Engine(store, clock=FakeClock(NOW), sequential=True)
    await engine.add_revision("r1", outcome.revision, files)
    intake = Intake(store, engine, clock=FakeClock(NOW))
    intake.activate("r1", outcome.revision)
    return intake


class FailingOnce(MemoryStore):
    """A store whose disk fails once, at the commit that starts an execution."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def save(self, batch: Batch) -> None:
        if batch.decisions and batch.executions and not self.failed:
            self.failed = True
            raise OSError("disk I/O error")
        await super().save(batch)


def test_a_start_and_its_decision_commit_together_so_a_failure_leaves_neither() -> None:
    async def go() -> None:
        store = FailingOnce()
        intake = await intake_on(store)
        await intake.receive([hold()])
        with pytest.raises(OSError):
            await intake.drain()
        assert await store.decisions() == [] and await store.query() == []
        assert len(await store.pending_alerts()) == 1  # evaluated again, not lost
        await intake.drain()
        (execution,) = await store.query()
        assert [(d["decision"], d["execution"]) for d in await store.decisions()] == [
            ("started", execution["id"])
        ]
        await intake.receive([hold()])  # a re-delivery afterwards starts nothing
        await intake.drain()
        assert len(await store.query()) == 1

    asyncio.run(go())


def test_a_new_firing_of_the_same_labels_is_a_new_alert_but_the_target_is_still_open() -> None:
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        await intake.receive([hold()])
        await intake.receive([hold(startsAt="2026-01-01T11:30:00Z")])
        await intake.drain()
        decisions = await store.decisions()
        assert [d["decision"] for d in decisions] == ["started", "refused"]
        assert "still open" in decisions[1]["reason"]

    asyncio.run(go())


def test_an_alert_without_starts_at_continues_the_one_firing_and_its_resolution_cancels() -> None:
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        bare = Alert.model_validate({"labels": {"alertname": "Hold", "pod": "q"}})
        await intake.receive([bare])
        await intake.drain()
        (started,) = await store.query()
        await intake.receive([bare])  # amtool again, no startsAt: the same alert
        resolved = Alert.model_validate({"labels": bare.labels, "status": "resolved"})
        await intake.receive([resolved])
        await intake.drain()
        assert [d["decision"] for d in await store.decisions()] == ["started", "cancelled"]
        await intake.engine.run_until_idle()  # this engine dispatches only when asked
        assert (await store.load(started["id"])).header["status"] == "cancelled"

    asyncio.run(go())


def test_while_suspended_matches_are_refused_with_the_reason_and_retried_on_redelivery() -> None:
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        await intake.engine.suspend("suspended by bob")
        await intake.receive([hold()])
        await intake.drain()
        await intake.engine.unsuspend()
        await intake.receive([hold()])
        await intake.drain()
        decisions = await store.decisions()
        assert [(d["decision"], d["reason"]) for d in decisions] == [
            ("refused", "suspended by bob"),
            ("started", ""),
        ]

    asyncio.run(go())


def test_nothing_is_evaluated_until_a_revision_is_active() -> None:
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        active, intake.active = intake.active, None
        await intake.receive([hold()])
        assert await intake.drain() == 0
        assert len(await store.pending_alerts()) == 1
        assert active is not None
        intake.activate(active.name, active.revision)
        assert await intake.drain() == 1
        assert len(await store.query()) == 1

    asyncio.run(go())


def test_an_alert_with_a_label_over_64_kib_records_an_error_decision_with_the_reason() -> None:
    # Issue 10, finding 3: such an alert matched no policy and left no trace but a log line.
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        huge = hold(annotations={"description": "x" * (65 * 1024)})
        await intake.receive([huge, hold(pod="q")])
        await intake.drain()
        decisions = await store.decisions()
        by_target = {d["target"]: d for d in decisions}
        error = by_target[huge.fingerprint]
        assert (error["policy"], error["decision"], error["execution"]) == ("hold", "error", None)
        assert error["reason"] == (
            "the alert was not evaluated: alert.annotations.description holds a string of "
            "66560 characters; the limit is 65536"
        )
        assert by_target["q"]["decision"] == "started"  # the rest of the page is unaffected
        assert await store.pending_alerts() == []

    asyncio.run(go())


def test_the_event_loop_gets_a_turn_between_alerts_while_a_page_is_matched() -> None:
    # cel-expr-python holds the GIL for a whole evaluation, so matching stays on the loop and
    # yields between alerts; with a zero turn it yields after every one.
    async def go() -> None:
        store = MemoryStore()
        intake = await intake_on(store)
        intake.turn = 0.0
        await intake.receive([hold(pod=f"p{i}") for i in range(20)])
        draining = asyncio.create_task(intake.drain())
        await asyncio.sleep(0)  # the drain starts and matches its first alert
        assert matched(intake) < 20
        receipt = await intake.receive([hold(pod="late")])  # the webhook's work, mid-page
        assert receipt.received == 1 and matched(intake) < 20
        await draining
        assert matched(intake) == 21

    asyncio.run(go())


def matched(intake: Intake) -> float:
    value = intake.metrics.registry.get_sample_value(
        "reconciler_alerts_matched_total", {"policy": "hold"}
    )
    return value or 0.0
