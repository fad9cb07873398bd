"""The end of an execution: rollback, the final status, workflow outputs, the parent of a
subflow told; and the end forced by an internal error (:meth:`Finishing.abort`). The
:class:`Finishing` part of :class:`~reconciler.engine.engine.Engine`."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from reconciler.engine import scheduler
from reconciler.engine.compensation import compensate
from reconciler.engine.parts import EngineParts
from reconciler.engine.scope import outputs_activation
from reconciler.engine.state import TERMINAL_PHASES, Execution, Phase, Status
from reconciler.errors import ExpressionError, sanitize
from reconciler.validation.compiled import CompiledWorkflow

log = structlog.get_logger("reconciler.engine")


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
        if final is Status.SUCCEEDED and execution.failing:
            final = Status.FAILED  # an output failed
        if execution.status is Status.PAUSED:
            execution.set_status(Status.RUNNING, now)
        execution.set_status(final, self.clock.now(), paused=False)
        await self.save(execution)
        self.hooks.execution_finished(execution)
        if execution.parent:
            await self._child_finished(execution)
        self._evict(execution.id)
        self._release_slot()

    def _release_slot(self) -> None:
        """An execution ended: those waiting for a slot may be admitted now."""
        waiting, self._waiting_for_a_slot = self._waiting_for_a_slot, set()
        for execution_id in waiting:
            self.kick(execution_id)

    def _outputs(self, execution: Execution, workflow: CompiledWorkflow) -> dict[str, Any]:
        """The workflow's outputs. One that fails to evaluate is null, noted in the timeline,
        and fails an execution that would otherwise have succeeded: its result is not what
        the workflow promised."""
        outputs: dict[str, Any] = {}
        activation = outputs_activation(execution, workflow, self.clock.now())
        for name, expression in workflow.outputs.items():
            try:
                outputs[name] = expression.evaluate(activation)  # recorded redacted
            except ExpressionError as exc:
                outputs[name] = None
                where = workflow.located.where(("spec", "outputs", name))
                error = self.secrets.text(f"{where}: {exc.explain(self.secrets.text)}")
                execution.note(self.clock.now(), "output_error", output=name, error=error)
                if not execution.failing and not execution.cancel_requested:
                    execution.failing = True
                    execution.error = f"output {name} failed: {error}"
        return outputs

    async def abort(self, execution: Execution, where: str, exc: BaseException) -> None:
        """An unexpected exception escaped the engine while it drove this execution: fail it at
        once (nothing more is called, no rollback: after a bug nothing can be trusted), with
        the error recorded, logged and counted. Never raises."""
        message = self.secrets.redact(
            sanitize(f"internal error in {where}: {type(exc).__name__}: {exc}")
        )
        log.error(
            "execution failed on an internal error",
            execution=execution.id,
            error=message,
            exc_info=exc,
        )
        with contextlib.suppress(Exception):
            self.hooks.engine_error(execution, where, exc)
        self._cancel_tasks(execution.id)
        try:
            if not execution.finished:
                now = self.clock.now()
                for node in execution.nodes.values():
                    if node.phase not in TERMINAL_PHASES:
                        node.attempt_open = False
                        execution.transition(
                            node, Phase.CANCELLED, now, error=message, error_kind="internal"
                        )
                execution.failing = True
                execution.error = message
                execution.set_status(Status.FAILED, now, reason=None, paused=False)
            await self.save(execution)
        except Exception:
            log.exception("recording the internal error failed", execution=execution.id)
        self._evict(execution.id)
        self._release_slot()
        if execution.parent and execution.finished:
            with contextlib.suppress(Exception):
                await self._child_finished(execution)

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
