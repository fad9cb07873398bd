"""Scenario tests: each semantic of SPEC §1.2, a workflow in, one engine run, phases out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from harness import START, AnyParams, Harness

from reconciler.actions.spec import ActionContext, ActionSpec
from reconciler.engine import scheduler
from reconciler.engine.state import Execution, Phase, Status, parse_iso


def test_steps_run_in_the_order_written_and_see_earlier_outputs(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("sequential")
    assert execution.status is Status.SUCCEEDED
    assert harness.hooks.steps_called() == ["one", "two", "three"]
    assert execution.outputs == {"last": 3}


def test_needs_form_a_dag_and_an_empty_needs_starts_at_once(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("diamond")
    order = harness.hooks.steps_called()
    assert execution.status is Status.SUCCEEDED
    assert order.index("top") < order.index("left") < order.index("bottom")
    assert order.index("right") < order.index("bottom")
    # `needs: []` makes `independent` ready at the start, beside `top`.
    workflow = harness.engine.revisions["r1"].workflows["diamond"]  # type: ignore[union-attr]
    fresh = Execution(id="x", workflow="diamond", revision="r1", params={})
    assert scheduler.advance(fresh, workflow, START) == ["top", "independent"]


def test_when_failure_and_always_run_after_a_failed_step_and_success_is_skipped(
    harness: Harness,
) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("conditions")
    assert harness.phases(execution) == {
        "primary": "failed",
        "after_primary": "skipped",
        "if_primary_fails": "succeeded",
        "always_after": "succeeded",
        # after_primary was skipped while its own need had failed: the failure passes on.
        "after_skip": "succeeded",
    }
    assert execution.status is Status.FAILED
    assert "primary broke" in (execution.error or "")


def test_a_skip_by_if_passes_on_no_failure(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("skip-passes-nothing")
    assert harness.phases(execution) == {
        "maybe": "skipped",
        "next": "succeeded",
        "on_failure": "skipped",
    }
    assert execution.status is Status.SUCCEEDED


def test_a_skipped_step_with_a_false_if_after_success_keeps_success(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("conditions", {"fail": False})
    assert harness.phases(execution)["primary"] == "skipped"
    assert harness.phases(execution)["after_primary"] == "succeeded"
    assert harness.phases(execution)["if_primary_fails"] == "skipped"
    assert execution.status is Status.SUCCEEDED


def test_continue_on_failure_counts_both_ways_and_does_not_fail_the_execution(
    harness: Harness,
) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("continue-on-failure")
    assert harness.phases(execution) == {
        "optional": "failed",
        "on_success": "succeeded",
        "on_failure": "succeeded",
    }
    assert execution.status is Status.SUCCEEDED


def test_groups_and_parallel_blocks_run_their_members_and_expose_their_outputs(
    harness: Harness,
) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("groups")
    assert execution.status is Status.SUCCEEDED
    assert execution.nodes["after"].output == {"from_group": 2, "from_fan": "b"}
    assert execution.nodes["group"].output == {"g1": {"v": 1}, "g2": {"v": 2}}


def test_for_each_runs_its_body_per_item_and_collects_outputs_as_a_list(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("loop")
    assert execution.status is Status.SUCCEEDED
    assert [row["visit"] for row in execution.nodes["each"].output] == [
        {"item": "a", "index": 0},
        {"item": "b", "index": 1},
        {"item": "c", "index": 2},
    ]
    assert execution.nodes["each[1]/confirm"].output == {"seen": "b"}
    assert execution.nodes["after"].output == {"count": 3}
    assert execution.outputs == {"visited": ["a", "b", "c"]}


def test_for_each_over_an_empty_list_succeeds_with_an_empty_output(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("loop", {"items": []})
    assert execution.nodes["each"].output == []
    assert execution.nodes["after"].output == {"count": 0}


def test_waits_take_no_real_time_on_the_fake_clock(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("waits")
    phases = harness.phases(execution)
    assert phases == {"settle": "succeeded", "until_later": "succeeded", "never": "failed"}
    settle = execution.nodes["settle"]
    assert parse_iso(settle.finished_at or "") - parse_iso(settle.started_at or "") == timedelta(
        minutes=10
    )
    until = execution.nodes["until_later"]
    assert parse_iso(until.finished_at or "") - START >= timedelta(minutes=15)
    never = execution.nodes["never"]
    assert never.error_kind == "timeout"
    assert parse_iso(never.finished_at or "") - parse_iso(never.started_at or "") >= timedelta(
        minutes=20
    )


def test_wait_until_polls_an_action_and_tests_its_output(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("poll-action")
    assert execution.status is Status.SUCCEEDED
    assert harness.hooks.steps_called("test.flaky") == ["poll", "poll", "poll"]


def test_a_subflow_has_its_own_linked_execution_and_returns_its_outputs(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("parent")
    assert execution.status is Status.SUCCEEDED
    child_id = execution.nodes["call"].child
    assert child_id is not None
    child = asyncio.run(harness.engine.get(child_id))  # type: ignore[union-attr]
    assert child.parent == execution.id and child.parent_node == "call"
    assert child.revision == execution.revision
    assert execution.nodes["call"].output == {"doubled": 42}
    assert execution.nodes["use"].output == {"got": 42}


def test_an_approval_step_waits_and_an_approval_lets_it_continue(harness: Harness) -> None:
    engine = harness.fixture("semantics.yaml")

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="gated", params={})
        await engine.run_until_idle(advance_clock=False)
        assert execution.status is Status.WAITING_APPROVAL
        assert execution.reason == "restart web?"
        await engine.approve(execution.id, by="alice", step="confirm", comment="go ahead")
        await engine.run_until_idle()
        assert execution.status is Status.SUCCEEDED
        assert execution.nodes["confirm"].approval == {
            "decision": "approve",
            "by": "alice",
            "comment": "go ahead",
            "at": execution.nodes["confirm"].approval["at"],
        }
        timeline = await harness.store.timeline(execution.id)
        assert any(e["kind"] == "approval" and e["by"] == "alice" for e in timeline)

    asyncio.run(go())


def test_a_rejected_approval_fails_the_step_and_records_who(harness: Harness) -> None:
    engine = harness.fixture("semantics.yaml")

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="gated", params={})
        await engine.run_until_idle(advance_clock=False)
        await engine.reject(execution.id, by="bob", comment="not now")
        await engine.run_until_idle()
        assert execution.nodes["confirm"].phase is Phase.FAILED
        assert execution.nodes["confirm"].error == "rejected by bob: not now"
        assert execution.nodes["act"].phase is Phase.SKIPPED
        assert execution.status is Status.FAILED

    asyncio.run(go())


def test_an_approval_that_times_out_fails(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("gated")
    assert execution.nodes["confirm"].error == "approval timed out"
    assert execution.status is Status.FAILED


def test_decide_takes_the_first_matching_rule_or_the_fallback(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    restart = harness.run("decisions", {"restarts": 5})
    assert restart.nodes["analyse"].output == {
        "choice": "restart",
        "confidence": 1.0,
        "reason": "rule 2: params.restarts > 3",
    }
    assert harness.phases(restart)["restart"] == "succeeded"
    assert harness.phases(restart)["rollback"] == "skipped"
    escalate = harness.run("decisions", {"restarts": 1})
    assert escalate.nodes["analyse"].output["choice"] == "escalate"


def test_retries_back_off_exponentially_and_permanent_errors_are_never_retried(
    harness: Harness,
) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("retries")
    flaky = execution.nodes["flaky"]
    assert flaky.phase is Phase.SUCCEEDED and flaky.attempts == 3
    retries = [
        e
        for e in asyncio.run(harness.store.timeline(execution.id))
        if e["kind"] == "retry" and e["key"] == "flaky"
    ]
    assert [e["after"] for e in retries] == [10.0, 15.0]  # 10s, then 20s capped at max_backoff 15s
    assert (
        execution.nodes["exhausted"].phase is Phase.FAILED
        and execution.nodes["exhausted"].attempts == 2
    )
    assert execution.nodes["permanent"].attempts == 1
    assert execution.nodes["errors_not_retried"].attempts == 1
    assert execution.status is Status.SUCCEEDED  # every failure was continue_on_failure


def test_a_step_timeout_bounds_one_attempt_and_is_retried_when_listed(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("timeouts")
    slow = execution.nodes["slow"]
    assert slow.phase is Phase.FAILED
    assert slow.error_kind == "timeout"
    assert slow.attempts == 2


def test_the_workflow_timeout_fails_the_execution_and_rolls_back(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("workflow-timeout")
    assert execution.status is Status.FAILED
    assert execution.error == "workflow timed out after 30m"
    assert harness.phases(execution) == {
        "change": "compensated",
        "forever": "cancelled",
        "never": "cancelled",
    }
    assert ("test.record", "change", {"undo": "change"}) in harness.hooks.calls


def test_a_failed_verify_is_an_error_retried_under_retry(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    ok = harness.run("verified", {"target": 2})
    assert ok.nodes["scale"].phase is Phase.SUCCEEDED and ok.nodes["scale"].attempts == 2
    bad = harness.run("verified", {"target": 9})
    assert bad.nodes["scale"].phase is Phase.FAILED
    assert bad.nodes["scale"].attempts == 3
    assert "verify failed" in (bad.nodes["scale"].error or "")


def test_rollback_compensates_completed_steps_in_reverse_order(harness: Harness) -> None:
    harness.fixture("semantics.yaml")
    execution = harness.run("rollback")
    undo = [
        params["undo"]
        for action, _, params in harness.hooks.calls
        if action == "test.record" and "undo" in params
    ]
    assert undo == [2, 1]
    assert harness.phases(execution) == {
        "first": "compensated",
        "second": "compensated",
        "no_undo": "succeeded",
        "breaks": "failed",
        "never_ran": "skipped",
    }
    assert execution.nodes["second"].compensation["phase"] == "succeeded"  # type: ignore[index]
    assert execution.status is Status.FAILED


def test_cancel_stops_at_the_next_step_and_rolls_back_with_on_cancel(harness: Harness) -> None:
    engine = harness.fixture("semantics.yaml")

    async def go() -> None:
        execution = await engine.start(revision="r1", workflow="cancellable", params={})
        await engine.run_until_idle(advance_clock=False)
        await engine.cancel(execution.id, reason="alert resolved")
        await engine.run_until_idle()
        assert execution.status is Status.CANCELLED
        assert harness.phases(execution) == {
            "change": "compensated",
            "hold": "cancelled",
            "after": "cancelled",
        }
        assert execution.error == "alert resolved"

    asyncio.run(go())


def test_secret_values_are_redacted_from_recorded_inputs_outputs_and_errors() -> None:
    harness = Harness(secrets={"api": {"token": "s3cr3t-value"}})
    harness.fixture("semantics.yaml")
    execution = harness.run("secrets")
    call = execution.nodes["call"]
    assert call.data["input"] == {"token": "***", "note": "uses ***"}
    assert call.output == {"token": "***", "note": "uses ***"}
    assert execution.nodes["leak"].error == "failed with ***"
    stored = asyncio.run(harness.store.load(execution.id))
    assert stored is not None and "s3cr3t-value" not in str(stored)
    assert "s3cr3t-value" not in str(asyncio.run(harness.store.timeline(execution.id)))


def test_a_workflow_whose_only_step_fails_fails(harness: Harness) -> None:
    harness.load("""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: lone}
spec:
  steps:
    - {id: only, action: test.permanent, with: {message: nope}}
""")
    execution = harness.run("lone")
    assert execution.nodes["only"].phase is Phase.FAILED
    assert execution.status is Status.FAILED
    assert execution.error == "step only failed: nope"


def test_dry_run_calls_dry_runnable_actions_in_dry_run_skips_the_rest_and_verify(
    harness: Harness,
) -> None:
    seen: list[bool] = []

    async def remember(params: object, context: ActionContext) -> dict[str, object]:
        seen.append(context.dry_run)
        return {"applied": not context.dry_run}

    harness.registry.register(
        ActionSpec(
            "test.dryable",
            "mutating, dry-run capable",
            AnyParams,
            mutating=True,
            idempotent=True,
            dry_run=True,
            effect="write",
            run=remember,
        )
    )
    harness.registry.register(
        ActionSpec(
            "test.wet",
            "mutating, cannot dry-run",
            AnyParams,
            mutating=True,
            idempotent=False,
            dry_run=False,
            effect="write",
            run=remember,
        )
    )
    harness.load("""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: rehearse}
spec:
  steps:
    - {id: change, action: test.dryable, with: {}, verify: {expr: "false", within: 1m}}
    - {id: shell_out, action: test.wet, with: {cmd: x}}
""")
    execution = harness.run("rehearse", mode="dry-run")
    assert execution.status is Status.SUCCEEDED
    assert seen == [True]  # the dry-runnable action ran, told it is a dry run; the other never ran
    assert execution.nodes["change"].data["verify"] == "skipped in dry-run mode"
    assert execution.nodes["shell_out"].output == {
        "dry_run": True,
        "skipped": True,
        "action": "test.wet",
        "would_have": "would have called test.wet",
        "params": {"cmd": "x"},
    }
