"""After a crash: what to do with a step whose attempt started but has no recorded outcome.

An idempotent call runs again (an idempotent action, or an HTTP request whose method is). Otherwise the action's ``check`` hook decides (Kubernetes
actions look for their idempotency marker); otherwise the step's ``verify`` decides; if nothing
can tell, the execution waits for a person (``waiting_approval``): approving runs the attempt
again, rejecting fails the step.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.actions.spec import ActionContext, ActionSpec, CheckResult
from reconciler.engine import durations
from reconciler.engine.state import Execution, Node, Phase, iso
from reconciler.validation.compiled import CompiledWorkflow

if TYPE_CHECKING:
    from reconciler.engine.parts import EngineParts


async def recover_node(
    engine: EngineParts,
    execution: Execution,
    workflow: CompiledWorkflow,
    node: Node,
) -> CheckResult | None:
    step = workflow.steps[node.step].step
    action = engine.registry.get(step.action or "")
    now = engine.clock.now()
    node.attempt_open = False
    execution.touch(node)
    if action is not None and _idempotent(engine, execution, workflow, node, action):
        _run_again(execution, node, now, "idempotent call: running the attempt again")
        return None
    if action is not None and action.check is not None:
        result = await _check(engine, execution, workflow, node)
        if result is CheckResult.NOT_DONE:
            _run_again(
                execution, node, now, "check: the effect is absent; running the attempt again"
            )
            return result
        if result is CheckResult.DONE:
            node.action_done = True
            node.output = node.output or {}
            execution.note(now, "recovered", key=node.key, how="check: the effect is there")
            if step.verify is not None:
                node.waiting, node.wake_at = "verify", iso(now)
                node.data["verify_deadline"] = iso(
                    now + durations.value(node, step.verify.within, "verify.within")
                )
            else:
                execution.transition(node, Phase.SUCCEEDED, now)
            return result
    if step.verify is not None:
        node.action_done = True
        node.waiting, node.wake_at = "verify", iso(now)
        node.data["verify_deadline"] = iso(
            now + durations.value(node, step.verify.within, "verify.within")
        )
        execution.note(now, "recovered", key=node.key, how="verify decides")
        return None
    node.waiting, node.wake_at = "unknown_outcome", None
    message = (
        f"step {node.key} attempt {node.attempts} was running when the engine stopped and its outcome is "
        f"unknown; approve to run it again, reject to fail it"
    )
    node.data["message"] = message
    execution.note(now, "unknown_outcome", key=node.key, message=message)
    return CheckResult.UNKNOWN


def _run_again(execution: Execution, node: Node, now: datetime, how: str) -> None:
    node.attempts = max(
        node.attempts - 1, 0
    )  # the interrupted attempt is made again, not a new one
    node.waiting, node.wake_at = "backoff", iso(now)
    execution.note(now, "recovered", key=node.key, how=how)


def _idempotent(
    engine: EngineParts,
    execution: Execution,
    workflow: CompiledWorkflow,
    node: Node,
    action: ActionSpec,
) -> bool:
    """Whether calling again is safe: the action always is, or this call is (an HTTP method
    that RFC 9110 makes idempotent). A call whose params cannot be rendered is not."""
    if action.idempotent or action.idempotent_when is None:
        return action.idempotent
    try:
        params = engine.steps._render(
            execution, workflow, node, workflow.steps[node.step].with_, "with"
        )
    except Exception:
        return False
    return action.is_idempotent(params)


async def _check(
    engine: EngineParts, execution: Execution, workflow: CompiledWorkflow, node: Node
) -> CheckResult:
    compiled = workflow.steps[node.step]
    action = engine.registry.get(compiled.step.action or "")
    assert action is not None and action.check is not None
    try:
        params = engine.steps._render(execution, workflow, node, compiled.with_, "with")
        parsed = action.params.model_validate(params)
        context = ActionContext(
            execution.id,
            node.key,
            node.attempts,
            cluster=engine.steps.cluster,
            http=engine.steps.http,
            clock=engine.steps.clock,
        )
        return await action.check(parsed, context)
    except Exception:
        return CheckResult.UNKNOWN
