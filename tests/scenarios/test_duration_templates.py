"""Durations written as templates: rendered when the step starts, a bad value fails that step."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from harness import Harness

from reconciler.engine.state import Execution, Phase, Status, parse_iso


def took(execution: Execution, key: str) -> timedelta:
    node = execution.nodes[key]
    return parse_iso(node.finished_at or "") - parse_iso(node.started_at or "")


def test_a_templated_wait_waits_as_long_as_its_rendered_value(harness: Harness) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("hold", {"hold": "45m30s"})
    assert execution.status is Status.SUCCEEDED
    assert took(execution, "pause") == timedelta(minutes=45, seconds=30)
    assert execution.nodes["pause"].data["durations"] == {"wait": "45m30s"}


def test_a_rendered_number_is_seconds_and_text_around_an_interpolation_is_kept(
    harness: Harness,
) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("hold-seconds", {"seconds": 45})
    assert took(execution, "pause") == timedelta(seconds=45)
    assert took(execution, "minutes") == timedelta(minutes=45)


def test_a_value_that_is_no_duration_fails_the_step_permanently_and_the_engine_goes_on(
    harness: Harness,
) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("hold", {"hold": "soon"})
    pause = execution.nodes["pause"]
    assert pause.phase is Phase.FAILED and pause.error_kind == "permanent"
    assert pause.error == (
        "workflows.yaml:8:19: spec.steps[0].wait: wait rendered to 'soon', which is not a "
        "duration: write 500ms, 30s, 5m or 1h30m, or a number of seconds"
    )
    assert execution.nodes["after"].phase is Phase.SUCCEEDED  # when: always still runs
    assert execution.status is Status.FAILED
    assert harness.run("hold", {"hold": "2s"}).status is Status.SUCCEEDED


def test_retry_backoffs_may_be_templates(harness: Harness) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("templated-retries")
    assert execution.nodes["flaky"].attempts == 4
    retries = [
        e["after"]
        for e in asyncio.run(harness.store.timeline(execution.id))
        if e["kind"] == "retry"
    ]
    assert retries == [7.0, 9.0, 9.0]  # 7s, then 14s and 28s capped at 9s


def test_wait_until_approval_and_verify_take_templated_durations(harness: Harness) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("templated-waits")
    never, confirm, checked = (execution.nodes[k] for k in ("never", "confirm", "checked"))
    assert never.error == "wait_until: still false after 0:03:00"
    assert took(execution, "never") == timedelta(minutes=3)
    assert confirm.error == "approval timed out" and took(execution, "confirm") == timedelta(
        hours=2
    )
    assert checked.error == "verify failed: still false after 0:03:00"
    assert took(execution, "checked") == timedelta(minutes=3)


def test_a_templated_step_timeout_bounds_the_attempt(harness: Harness) -> None:
    harness.fixture("durations.yaml")
    execution = harness.run("templated-timeout")
    slow = execution.nodes["slow"]
    assert slow.phase is Phase.FAILED and slow.error_kind == "timeout"
