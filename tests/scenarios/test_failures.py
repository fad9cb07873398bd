"""An expression or render error fails its step, never the engine; any exception escaping a
step, a driver or a hook fails the execution, recorded and counted — none is left running."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from harness import Harness, Recorder

from reconciler.engine.clock import SystemClock
from reconciler.engine.engine import Limits
from reconciler.engine.hooks import Gate
from reconciler.engine.state import Execution, Phase, Status

ALERT = {"labels": {"alertname": "PodDown", "namespace": "prod"}, "annotations": {}}


def run(harness: Harness, workflow: str, **start: Any) -> Execution:
    harness.fixture("failures.yaml")
    return harness.run(workflow, alert=ALERT, **start)


def test_values_of_every_cel_type_render_to_json(harness: Harness) -> None:
    execution = run(harness, "every-cel-type")
    assert execution.status is Status.SUCCEEDED, execution.error
    (_, _, params), *_ = harness.hooks.calls
    assert params["at"] == "2026-01-01T00:00:00Z"
    assert params["hold"] == "90s"
    assert base64.b64decode(params["raw"]) == b"abc"
    assert params["both"] == ["2026-01-01T00:00:00Z", "90s"]
    assert params["text"] == "since 2026-01-01T00:00:00Z for 90s"
    assert params["kind"] == "int"
    assert execution.outputs == {"started": "2026-01-01T00:00:00Z", "hold": "90s"}


def test_an_if_that_errors_fails_its_step_with_the_expression_and_what_it_read(
    harness: Harness,
) -> None:
    execution = run(harness, "if-fails")
    guarded = execution.nodes["guarded"]
    assert guarded.phase is Phase.FAILED and guarded.error_kind == "permanent"
    assert "workflows.yaml:" in (guarded.error or "") and "].if: " in (guarded.error or "")
    assert '`alert.labels.pod == "web-1"`' in (guarded.error or "")
    assert 'no such key: "pod"' in (guarded.error or "")
    assert (
        '(it read alert.labels = {"alertname": "PodDown", "namespace": "prod"}, which has no key "pod")'
        in (guarded.error or "")
    )
    assert execution.status is Status.FAILED
    assert execution.nodes["after"].phase is Phase.SKIPPED
    assert harness.hooks.steps_called() == ["first"]


@pytest.mark.parametrize(
    ("workflow", "step", "field", "expression"),
    [
        ("for-each-fails", "each", "for_each", 'alert.labels.pods.split(",")'),
        ("template-fails", "call", "with", "alert.labels.pod"),
        ("wait-until-fails", "ready", "wait_until", "steps.probe.output.status.readyReplicas"),
        ("verify-fails", "change", "verify", "steps.change.output.applied"),
    ],
)
def test_an_expression_that_errors_fails_its_step_at_once(
    harness: Harness, workflow: str, step: str, field: str, expression: str
) -> None:
    execution = run(harness, workflow)
    node = execution.nodes[step]
    assert node.phase is Phase.FAILED, node
    assert node.error_kind == "permanent"  # never retried, never polled until the timeout
    assert f".{field}: " in (node.error or "") and expression in (node.error or "")
    assert "(it read " in (node.error or "")
    assert execution.status is Status.FAILED
    # It failed when it first ran, not after a poll or verify window.
    assert node.finished_at == "2026-01-01T00:00:00.000000Z"


def test_an_output_that_errors_fails_an_execution_that_would_have_succeeded(
    harness: Harness,
) -> None:
    execution = run(harness, "outputs-fail")
    assert execution.nodes["only"].phase is Phase.SUCCEEDED
    assert execution.status is Status.FAILED
    assert execution.outputs == {"restarted": None}
    assert "output restarted failed" in (execution.error or "")
    assert "steps.only.output.restarted" in (execution.error or "")


def test_an_action_that_raises_anything_fails_its_step_and_is_reported(harness: Harness) -> None:
    hooks = HostileHooks("nowhere")
    harness.hooks = hooks
    execution = run(harness, "raises")
    boom = execution.nodes["boom"]
    assert boom.phase is Phase.FAILED
    assert "test.raise raised KeyError" in (boom.error or "")
    assert hooks.errors == [("action", "KeyError")]  # counted as a bug (of the action)
    # continue_on_failure: the next step runs; the execution fails for that step only.
    assert execution.nodes["after"].phase is Phase.SUCCEEDED


class HostileHooks(Recorder):
    """Hooks with a bug: the guardrail check raises, or the observer of attempts does."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where
        self.errors: list[tuple[str, str]] = []

    async def before_action(
        self, execution: Any, node: Any, action: str, params: Any, mutating: bool
    ) -> Gate:
        if self.where == "guardrail":
            raise RuntimeError("rules unreadable")
        return Gate()

    def attempt_finished(
        self, execution: Any, node: Any, action: str, seconds: float, outcome: str
    ) -> None:
        if self.where == "observer":
            raise ValueError("metrics broke")

    def engine_error(self, execution: Any, where: str, error: BaseException) -> None:
        self.errors.append((where, type(error).__name__))


def test_a_guardrail_hook_that_raises_denies_the_call(harness: Harness) -> None:
    harness.hooks = HostileHooks("guardrail")
    execution = run(harness, "if-fails")
    first = execution.nodes["first"]
    assert first.phase is Phase.FAILED
    assert "denied: the guardrail check failed: RuntimeError: rules unreadable" in (
        first.error or ""
    )
    assert harness.hooks.calls == []  # fail closed: nothing was called
    assert harness.hooks.errors == [("guardrail", "RuntimeError")]


@pytest.mark.parametrize("sequential", [True, False])
def test_an_observer_hook_that_raises_fails_the_execution_visibly(
    harness: Harness, sequential: bool
) -> None:
    hooks = HostileHooks("observer")
    harness.hooks = hooks
    harness.fixture("failures.yaml", sequential=sequential)
    engine = harness.engine
    assert engine is not None

    async def go() -> Execution:
        execution = await engine.start(revision="r1", workflow="if-fails", params={}, alert=ALERT)
        if sequential:
            await engine.run_until_idle()
        else:
            for _ in range(500):
                if (await engine.store.load(execution.id)).header["status"] == "failed":  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0.01)
            await engine.close()
        return await engine.get(execution.id)

    execution = asyncio.run(go())
    assert execution.status is Status.FAILED
    assert "internal error in hook: ValueError: metrics broke" in (execution.error or "")
    first = execution.nodes["first"]
    assert first.error_kind == "internal"
    assert first.action_done  # the call was made: the record says so
    assert ("hook", "ValueError") in hooks.errors
    assert harness.hooks.steps_called() == ["first"]  # nothing after the bug


class FinishRaises(Recorder):
    """The observer of finished executions has a bug."""

    def execution_finished(self, execution: Any) -> None:
        raise RuntimeError("observer broke")


def test_an_execution_ended_by_an_internal_error_gives_back_its_slot(harness: Harness) -> None:
    """With room for one running execution, the second waits as pending; the first ending on
    a bug (its observer raised) must still let the second in."""
    harness.hooks = FinishRaises()
    harness.fixture("failures.yaml", sequential=False, limits=Limits(max_running_executions=1))
    engine = harness.engine
    assert engine is not None

    async def go() -> list[str]:
        first = await engine.start(revision="r1", workflow="template-fails", params={}, alert={})
        second = await engine.start(revision="r1", workflow="if-fails", params={}, alert={})
        for _ in range(1000):
            stored = [await engine.store.load(e.id) for e in (first, second)]
            statuses = [s.header["status"] for s in stored if s is not None]
            if all(status in ("succeeded", "failed", "cancelled") for status in statuses):
                break
            await asyncio.sleep(0.01)
        await engine.close()
        return statuses

    assert asyncio.run(go()) == ["failed", "failed"]


REDACTED = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: reads-secrets}
spec:
  steps:
    - {id: login, action: test.record, with: {password: "{{ secret('db', 'password') }}"}}
    - {id: check, if: 'alert.annotations.missing == "x"', action: test.record, with: {}}
"""
PASSWORD = "hunter2-" + "s" * 40


@pytest.mark.parametrize("offset", [150, 170, 185])
def test_what_an_expression_read_is_redacted_before_it_is_cut_short(offset: int) -> None:
    """A secret (or URL credentials) in a value the failing expression read never reaches the
    record, even where the value is cut short in the middle of it."""
    harness = Harness(secrets={"db": {"password": PASSWORD}})
    harness.load(REDACTED)
    alert = {
        "labels": {"alertname": "X"},
        "annotations": {
            "a": "p" * offset + PASSWORD,  # straddles the cut at 200 characters
            "b": "https://deploy:hunter3hunter3@ci.example/hook",
        },
    }
    execution = harness.run("reads-secrets", alert=alert)
    error = execution.nodes["check"].error or ""
    assert "(it read alert.annotations = " in error
    assert "hunter2" not in error and "hunter3" not in error
    assert "https://***@ci.example" in error or "…" in error


SLOW_CHECKS = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: slow-checks}
spec:
  steps:
    - id: change
      action: test.record
      with: {}
      timeout: 5s
      verify: {action: test.slow, with: {seconds: 0.3}, within: 1s, interval: 100ms}
    - id: ready
      timeout: 5s
      wait_until: {action: test.slow, with: {seconds: 0.3}, expr: "true", interval: 100ms, timeout: 1s}
"""


def test_verify_and_polled_actions_get_their_own_timeout_not_the_interval() -> None:
    """A check slower than its interval (but within the step's timeout) is a slow answer, not
    a failed check: with the interval as its timeout every call would time out."""
    harness = Harness()
    engine = harness.load(SLOW_CHECKS, sequential=False)
    engine.clock = engine.steps.clock = SystemClock()

    async def go() -> Execution:
        execution = await engine.start(revision="r1", workflow="slow-checks", params={})
        for _ in range(1000):
            stored = await engine.store.load(execution.id)
            if stored is not None and stored.header["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.01)
        await engine.close()
        return await engine.get(execution.id)

    execution = asyncio.run(go())
    assert execution.status is Status.SUCCEEDED, {k: n.error for k, n in execution.nodes.items()}


def test_core_fail_is_permanent_whatever_the_step_retry_says(harness: Harness) -> None:
    harness.load(
        """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: give-up}
spec:
  steps:
    - id: stop
      action: core.fail
      with: {message: nothing to do here}
      retry: {limit: 3, backoff: 1s, on: [error, timeout]}
"""
    )
    execution = harness.run("give-up")
    stop = execution.nodes["stop"]
    assert stop.phase is Phase.FAILED and stop.error_kind == "permanent"
    assert stop.attempts == 1 and stop.error == "nothing to do here"
