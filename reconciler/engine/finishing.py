"""The end of an execution: rollback, the final status, workflow outputs, the parent of a
subflow told. The :class:`Finishing` part of :class:`~reconciler.engine.engine.Engine`."""

from __future__ import annotations

from typing import Any

from reconciler.engine import scheduler
from reconciler.engine.compensation import compensate
from reconciler.engine.parts import EngineParts
from reconciler.engine.scope import outputs_activation
from reconciler.engine.state import Execution, Phase, Status
from reconciler.errors import ExpressionError
from reconciler.validation.compiled import CompiledWorkflow


class Finishing(EngineParts):
    async def _finish(self, execution: Execution, workflow: CompiledWorkflow) -> None:
        now = self.clock.now()
        spec = workflow.definition.spec
        execution.failing = execution.failing or scheduler.is_failing(execution, workflow)
        timed_out = bool(execution.error and execution.error.startswith("workflow timed out"))
        if execution.cancel_requested and not timed_out:
            if spec.on_cancel == "rollback":
                await compensate(self, execution, workflow)
            final = Status.CANCELLED
        elif execution.failing or timed_out:
            if spec.on_failure == "rollback":
                await compensate(self, execution, workflow)
            final = Status.FAILED
            if execution.error is None:
                failed = [n for n in execution.nodes.values() if n.phase is Phase.FAILED]
                execution.error = (
                    f"step {failed[0].key} failed: {failed[0].error}" if failed else "a step failed"
                )
        else:
            final = Status.SUCCEEDED
        # Outputs are computed whatever the outcome: a failed execution's report needs them too.
        execution.outputs = self._outputs(execution, workflow)
        if execution.status is Status.PAUSED:
            execution.set_status(Status.RUNNING, now)
        execution.set_status(final, self.clock.now(), paused=False)
        await self.save(execution)
        self.hooks.execution_finished(execution)
        if execution.parent:
            await self._child_finished(execution)
        self._evict(execution.id)
        waiting, self._waiting_for_a_slot = self._waiting_for_a_slot, set()
        for execution_id in waiting:
            self.kick(execution_id)  # a slot is free: they may be admitted now

    def _outputs(self, execution: Execution, workflow: CompiledWorkflow) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        activation = outputs_activation(execution, workflow, self.clock.now())
        for name, expression in workflow.outputs.items():
            try:
                outputs[name] = self.secrets.redact(expression.evaluate(activation))
            except ExpressionError as exc:
                outputs[name] = None
                execution.note(self.clock.now(), "output_error", output=name, error=exc.message)
        return outputs

    async def _child_finished(self, child: Execution) -> None:
        parent = await self.get(child.parent or "")
        node = parent.nodes.get(child.parent_node or "")
        if node is None or node.phase is not Phase.RUNNING:
            return
        now = self.clock.now()
        node.waiting = None
        if child.status is Status.SUCCEEDED:
            parent.transition(node, Phase.SUCCEEDED, now, output=child.outputs)
        else:
            parent.transition(
                node,
                Phase.FAILED,
                now,
                error=f"subflow {child.id} {child.status.value}: {child.error or ''}".strip(),
                error_kind="error",
            )
        await self.save(parent)
        self._activate(parent)
        self.kick(parent.id)
