"""Secret-bearing values: real inside the engine, ``***`` in every record, and never sent as
``***`` after a restart lost them (docs/engine.md, "Secrets")."""

from __future__ import annotations

import asyncio

from harness import Harness
from test_recovery import restart

from reconciler.engine.state import Status

TOKEN = "tok-3f9a8b7c6d5e4f3a"

FLOW = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: relay}
spec:
  steps:
    - {id: ask, action: test.record, with: {token: "{{ secret('api', 'token') }}"}}
    - {id: say, action: core.log, with: {message: "got {{ steps.ask.output.token }}"}}
    - {id: confirm, approval: {message: "send it on?"}}
    - {id: use, action: test.record, with: {token: "{{ steps.ask.output.token }}"}}
"""


def run_to_approval(harness: Harness) -> str:
    async def go() -> str:
        assert harness.engine is not None
        execution = await harness.engine.start(revision="r1", workflow="relay", params={})
        await harness.engine.run_until_idle(advance_clock=False)
        assert execution.status is Status.WAITING_APPROVAL
        return execution.id

    return asyncio.run(go())


def test_a_later_step_gets_the_real_value_while_records_hold_stars() -> None:
    harness = Harness(secrets={"api": {"token": TOKEN}})
    engine = harness.load(FLOW)
    execution_id = run_to_approval(harness)

    async def go() -> None:
        await engine.approve(execution_id, by="alice")
        await engine.run_until_idle()

    asyncio.run(go())
    sent = [params for action, key, params in harness.hooks.calls if key == "use"]
    assert sent == [{"token": TOKEN}]  # the real value, not ***
    stored = asyncio.run(harness.store.load(execution_id))
    timeline = asyncio.run(harness.store.timeline(execution_id))
    assert stored is not None
    for text in (str(stored), str(timeline)):
        assert TOKEN not in text
    nodes = {n["key"]: n for n in stored.nodes}
    assert nodes["use"]["output"] == {"token": "***"} and nodes["use"]["phase"] == "succeeded"
    assert any(e.get("message") == "got ***" for e in timeline)


def test_after_a_restart_a_step_reading_a_lost_secret_fails_rather_than_send_stars() -> None:
    harness = Harness(secrets={"api": {"token": TOKEN}})
    harness.load(FLOW)
    execution_id = run_to_approval(harness)

    async def go() -> None:
        second = await restart(harness)
        await second.approve(execution_id, by="alice")
        await second.run_until_idle()
        execution = await second.get(execution_id)
        use = execution.nodes["use"]
        assert use.phase.value == "failed" and use.error_kind == "permanent"
        assert "ask" in (use.error or "") and "kept in memory only" in (use.error or "")

    asyncio.run(go())
    assert [key for _, key, _ in harness.hooks.calls] == ["ask", "say"]  # `use` never called


SLACK = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: tell}
spec:
  steps:
    - id: tell
      action: notify.slack
      with: {url: "{{ secret('slack', 'url') }}", text: "pod restarted"}
"""


def test_a_slack_webhook_url_read_through_secret_is_not_recorded_in_the_step_input() -> None:
    hook = "https://hooks.slack.com/services/T0001/B0002/abcdefXYZ123"
    harness = Harness(secrets={"slack": {"url": hook}})
    harness.load(SLACK)
    execution = harness.run("tell", mode="dry-run")
    stored = asyncio.run(harness.store.load(execution.id))
    timeline = asyncio.run(harness.store.timeline(execution.id))
    assert stored is not None
    (node,) = stored.nodes
    assert node["data"]["input"]["url"] == "***"
    for text in (str(stored), str(timeline)):
        assert "abcdefXYZ123" not in text and "B0002" not in text
