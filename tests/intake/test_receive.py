"""Receiving on the real SQLite store: which record a delivery lands on when deliveries race or
Alertmanager's startsAt moves, and what the intake then does with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from reconciler.definitions.alert import Alert
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine
from reconciler.intake.intake import Intake
from reconciler.store.sqlite import SqliteStore
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
EARLIER, LATER = "2026-01-01T10:00:00Z", "2026-01-01T10:00:30Z"


def hold(**fields: Any) -> Alert:
    return Alert.model_validate({"labels": {"alertname": "Hold", "pod": "p"}, **fields})


async def intake_on(store: SqliteStore) -> Intake:
    """An intake on the system clock (each delivery has its own receive time)."""
    files = {"defs.yaml": DEFINITIONS}
    outcome = revision.build([MemoryTree(files)])
    assert outcome.revision is not None, outcome.problems
    engine = Engine(store, sequential=True)
    await engine.add_revision("r1", outcome.revision, files)
    intake = Intake(store, engine)
    intake.activate("r1", outcome.revision)
    return intake


def test_concurrent_deliveries_of_an_alert_without_starts_at_store_one_record(
    tmp_path: Path,
) -> None:
    async def body() -> tuple[list[dict[str, Any]], int]:
        store = SqliteStore(tmp_path / "r.db")
        await store.open()
        try:
            intake = await intake_on(store)
            await asyncio.gather(*(intake.receive([hold()]) for _ in range(20)))
            await intake.drain()
            return await store.alerts(), len(await store.query())
        finally:
            await store.close()

    listed, executions = asyncio.run(body())

    assert len(listed) == 1
    assert listed[0]["deliveries"] == 20
    assert executions == 1


def test_a_resolution_with_an_earlier_starts_at_cancels_what_the_firing_started(
    tmp_path: Path,
) -> None:
    """An HA Prometheus pair: Alertmanager first sends the later startsAt, then merges in the
    earlier one (which its resolution carries too)."""

    async def body() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        store = SqliteStore(tmp_path / "r.db")
        await store.open()
        try:
            intake = await intake_on(store)
            await intake.receive([hold(startsAt=LATER)])
            await intake.drain()
            await intake.receive([hold(startsAt=EARLIER)])  # the same firing, merged
            await intake.drain()
            resolved = hold(startsAt=EARLIER, endsAt="2026-01-01T10:05:00Z", status="resolved")
            await intake.receive([resolved])
            await intake.drain()
            await intake.engine.run_until_idle()  # this engine dispatches only when asked
            return await store.query(), await store.alerts()
        finally:
            await store.close()

    executions, listed = asyncio.run(body())

    assert [e["status"] for e in executions] == ["cancelled"]
    assert [(a["starts_at"], a["status"]) for a in listed] == [(LATER, "resolved")]
    assert listed[0]["reported_starts_at"] == EARLIER
