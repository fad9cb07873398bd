"""Rollback: run the ``compensate`` of every step whose action completed, most recent first.

Called by the engine when an execution fails with ``on_failure: rollback`` or is cancelled with
``on_cancel: rollback``. Each compensation is recorded on its step (``node.compensation``); a
compensated step ends ``compensated``. A compensation that fails is recorded and the others
still run: an undo half done is better reported than abandoned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.engine import durations, scheduler
from reconciler.engine.failures import StepFailure
from reconciler.engine.state import Execution, Phase, iso
from reconciler.validation.compiled import CompiledWorkflow

if TYPE_CHECKING:
    from reconciler.engine.parts import EngineParts


async def compensate(engine: EngineParts, execution: Execution, workflow: CompiledWorkflow) -> None:
    execution.compensating = True
    for node in scheduler.compensation_order(execution, workflow):
        compiled = workflow.steps[node.step]
        undo = compiled.step.compensate
        assert undo is not None
        action = engine.registry.get(undo.action)
        now = engine.clock.now()
        try:
            if action is None:
                raise StepFailure(f"unknown action {undo.action!r}", "permanent")
            params = engine.steps._render(
                execution, workflow, node, compiled.compensate_with, "compensate"
            )
            output = await engine.steps._call(
                execution,
                node,
                action,
                params,
                durations.optional(node, compiled.step.timeout, "timeout"),
            )
        except StepFailure as failure:
            node.compensation = {
                "phase": "failed",
                "action": undo.action,
                "error": engine.secrets.redact(failure.message),
                "at": iso(now),
            }
            execution.touch(node)
            execution.note(
                now, "compensation", key=node.key, phase="failed", error=node.compensation["error"]
            )
        else:
            node.compensation = {
                "phase": "succeeded",
                "action": undo.action,
                "output": engine.secrets.redact(output),
                "at": iso(now),
            }
            execution.transition(node, Phase.COMPENSATED, engine.clock.now())
            execution.note(now, "compensation", key=node.key, phase="succeeded")
        await engine.save(execution)
    execution.compensating = False
