"""Property: whatever raises — expressions, templates, actions, hooks — every execution ends,
visibly. Random workflows mix step kinds with expressions that error at run time, values of
every CEL type, actions that raise anything or return what JSON cannot hold, and hooks with
bugs; every execution must end terminal, or wait for a person with the reason, and the store
must say the same as memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import yaml
from harness import AnyParams, Harness, Recorder
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.actions.spec import ActionContext, ActionSpec
from reconciler.engine.clock import SystemClock
from reconciler.engine.hooks import Gate
from reconciler.engine.state import Execution, Status
from reconciler.errors import PermanentError, TemporaryError

CONDITIONS = [
    "true",
    "false",
    'alert.labels.missing == "x"',
    "1 / 0 == 1",
    "alert.annotations.gone > ''",
]
VALUES = [
    "{{ now }}",
    "{{ b'bytes' }}",
    "{{ duration('5s') }}",
    "{{ alert.labels.missing }}",
    "{{ 1 / 0 }}",
    "{{ [now, 1u, type(1)] }}",
    "plain",
    "{{ {1: now} }}",
]
LISTS = ["[1, 2]", "alert.labels.missing.split(',')", "[now, now]", "dyn(1)", "[]"]
OUTCOMES = ["ok", "temporary", "permanent", "KeyError", "TypeError", "weird", "not-a-map"]
HOOK_POINTS = ["before_action", "action_called", "attempt_finished", "mock", "none"]


def _chaos_registry(harness: Harness) -> None:
    async def chaos(params: AnyParams, context: ActionContext) -> Any:
        outcome = (params.model_extra or {}).get("outcome", "ok")
        if outcome == "temporary":
            raise TemporaryError("flaky")
        if outcome == "permanent":
            raise PermanentError("refused")
        if outcome in ("KeyError", "TypeError"):
            raise {"KeyError": KeyError, "TypeError": TypeError}[outcome]("a bug in the action")
        if outcome == "weird":  # values JSON cannot hold
            return {"when": timedelta(seconds=3), "blob": b"\xff\x00", "set": {1, 2}}
        if outcome == "not-a-map":
            return ["a", "list"]  # type: ignore[return-value]
        return {"ok": True}

    harness.registry.register(
        ActionSpec(
            "test.chaos",
            "anything",
            AnyParams,
            mutating=True,
            idempotent=False,
            dry_run=True,
            effect="write",
            run=chaos,
        )
    )


class BuggyHooks(Recorder):
    """Hooks whose ``point`` raises (a bug in a plug-in), every time."""

    def __init__(self, point: str) -> None:
        super().__init__()
        self.point = point
        self.errors: list[str] = []

    def engine_error(self, execution: Any, where: str, error: BaseException) -> None:
        self.errors.append(f"{where}: {type(error).__name__}: {error}")

    def _maybe(self, point: str) -> None:
        if point == self.point:
            raise RuntimeError(f"bug in {point}")

    async def before_action(
        self, execution: Any, node: Any, action: str, params: Any, mutating: bool
    ) -> Gate:
        self._maybe("before_action")
        return Gate()

    def action_called(self, execution: Any, node: Any, action: str, params: Any) -> None:
        super().action_called(execution, node, action, params)
        self._maybe("action_called")

    async def mock(self, execution: Any, node: Any, action: str, params: Any) -> Any:
        self._maybe("mock")
        return None

    def attempt_finished(
        self, execution: Any, node: Any, action: str, seconds: float, outcome: str
    ) -> None:
        self._maybe("attempt_finished")


def _action(draw: st.DrawFn, index: int) -> dict[str, Any]:
    step: dict[str, Any] = {
        "action": "test.chaos",
        "with": {"outcome": draw(st.sampled_from(OUTCOMES)), "v": draw(st.sampled_from(VALUES))},
    }
    if draw(st.integers(0, 3)) == 0:
        step["retry"] = {"limit": 1, "backoff": "1s"}
    if draw(st.integers(0, 4)) == 0:
        step["verify"] = {
            "expr": draw(st.sampled_from(CONDITIONS)),
            "within": "2s",
            "interval": "1s",
        }
    if draw(st.integers(0, 4)) == 0:
        step["compensate"] = {
            "action": "test.chaos",
            "with": {"outcome": draw(st.sampled_from(OUTCOMES))},
        }
    return step


@st.composite
def steps(draw: st.DrawFn, prefix: str, depth: int = 0) -> list[dict[str, Any]]:
    found = []
    for index in range(draw(st.integers(1, 4))):
        step: dict[str, Any] = {"id": f"{prefix}{index}"}
        kind = draw(
            st.sampled_from(
                [
                    "action",
                    "action",
                    "wait",
                    "wait_until",
                    "approval",
                    "decide",
                    "for_each",
                    "group",
                ]
                if depth < 2
                else ["action", "wait_until", "decide"]
            )
        )
        if kind == "action":
            step.update(_action(draw, index))
        elif kind == "wait":
            step["wait"] = "1s"
        elif kind == "wait_until":
            step["wait_until"] = {
                "expr": draw(st.sampled_from(CONDITIONS)),
                "interval": "1s",
                "timeout": "3s",
            }
        elif kind == "approval":
            step["approval"] = {"message": "go on? {{ alert.labels.alertname }}", "timeout": "1h"}
        elif kind == "decide":
            step["decide"] = {
                "options": ["a", "b"],
                "rules": [{"if": draw(st.sampled_from(CONDITIONS)), "choose": "a"}],
                **({"fallback": "b"} if draw(st.booleans()) else {}),
            }
        elif kind == "for_each":
            step["for_each"] = draw(st.sampled_from(LISTS))
            step["do"] = draw(steps(f"{prefix}{index}e", depth + 1))
        else:
            step["steps"] = draw(steps(f"{prefix}{index}g", depth + 1))
        if draw(st.integers(0, 3)) == 0:
            step["if"] = draw(st.sampled_from(CONDITIONS))
        if draw(st.integers(0, 3)) == 0:
            step["continue_on_failure"] = True
        if index and draw(st.integers(0, 3)) == 0:
            step["when"] = draw(st.sampled_from(["failure", "always"]))
        found.append(step)
    return found


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    workflow = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "chaos"},
        "spec": {
            "timeout": "1h",
            "on_failure": draw(st.sampled_from(["none", "rollback"])),
            "steps": draw(steps("s")),
            "outputs": {"out": draw(st.sampled_from([*CONDITIONS, "now", "b'x'"]))},
        },
    }
    return workflow, draw(st.sampled_from(HOOK_POINTS))


def _ends_visibly(execution: Execution, stored: dict[str, Any], hooks: Any) -> None:
    assert execution.finished or (
        execution.status is Status.WAITING_APPROVAL and execution.reason
    ), f"{execution.status} reason={execution.reason} nodes={execution.nodes}"
    assert stored["status"] == execution.status.value
    assert stored.get("reason") == execution.reason
    if execution.status is Status.FAILED:
        assert execution.error
    if hooks.point == "none":  # failing expressions are no bug: only the actions' are reported
        assert all(error.startswith("action: ") for error in hooks.errors), hooks.errors


def _prepare(workflow: dict[str, Any], point: str, sequential: bool) -> Harness:
    harness = Harness()
    _chaos_registry(harness)
    harness.hooks = BuggyHooks(point)
    harness.load(yaml.safe_dump(workflow, sort_keys=False), sequential=sequential)
    return harness


ALERT = {"labels": {"alertname": "Chaos"}, "annotations": {}}


@given(scenarios())
def test_every_execution_ends_or_visibly_waits_whatever_raises(
    scenario: tuple[dict[str, Any], str],
) -> None:
    workflow, point = scenario
    harness = _prepare(workflow, point, sequential=True)
    execution = harness.run("chaos", alert=ALERT)
    stored = asyncio.run(harness.store.load(execution.id))
    assert stored is not None
    _ends_visibly(execution, stored.header, harness.hooks)


@settings(max_examples=15)
@given(scenarios())
def test_the_service_dispatch_too_leaves_no_execution_running(
    scenario: tuple[dict[str, Any], str],
) -> None:
    """The driver tasks of the service, on the real clock (the waits are seconds long)."""
    workflow, point = scenario
    # Seconds become tens of milliseconds: real timers, a short test.
    text = yaml.safe_dump(workflow, sort_keys=False)
    for seconds in ("1s", "2s", "3s"):
        text = text.replace(f": {seconds}\n", f": {seconds[0]}0ms\n")
    harness = _prepare(yaml.safe_load(text), point, sequential=False)
    engine = harness.engine
    assert engine is not None
    engine.clock = engine.steps.clock = SystemClock()

    async def go() -> tuple[Execution, dict[str, Any]]:
        execution = await engine.start(revision="r1", workflow="chaos", params={}, alert=ALERT)
        for _ in range(3000):
            stored = await engine.store.load(execution.id)
            assert stored is not None
            status = stored.header["status"]
            settled = status in ("succeeded", "failed", "cancelled") or (
                status == "waiting_approval" and execution.id not in engine._drivers
            )
            if settled and not engine._tasks.get(execution.id):
                break
            await asyncio.sleep(0.01)
        await engine.close()
        return await engine.get(execution.id), stored.header

    execution, header = asyncio.run(go())
    _ends_visibly(execution, header, harness.hooks)
