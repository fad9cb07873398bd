"""Steps that wait: timers coming due (backoff, wait, polls, verify, approval timeouts) and a
person's approval. The :class:`Waiting` half of :class:`~reconciler.engine.steps.StepRunner`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reconciler.actions.registry import Registry
from reconciler.actions.spec import ActionSpec
from reconciler.engine import durations, scope
from reconciler.engine.clock import Clock
from reconciler.engine.failures import StepFailure, expression_failure
from reconciler.engine.scheduler import prefix_of
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution, Node, Phase, iso, parse_iso
from reconciler.errors import ExpressionError
from reconciler.validation.compiled import CompiledWorkflow


class WaitingParts:
    """Declarations: what :class:`Waiting` uses of the step runner."""

    clock: Clock
    registry: Registry
    secrets: SecretProvider

    async def _call(
        self,
        execution: Execution,
        node: Node,
        action: ActionSpec,
        params: dict[str, Any],
        timeout: timedelta | None,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _fail(self, execution: Execution, node: Node, message: str, kind: str) -> None:
        raise NotImplementedError

    def _attempt_failed(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node, failure: Any
    ) -> None:
        raise NotImplementedError

    def _activation(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> Any:
        raise NotImplementedError

    def _render(
        self, execution: Execution, workflow: CompiledWorkflow, node: Node, tree: Any, field: str
    ) -> dict[str, Any]:
        raise NotImplementedError


class Waiting(WaitingParts):
    # -- timers ------------------------------------------------------------------------------------
    async def on_timer(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> bool:
        """A waiting step's time has come. Returns True if an attempt should run now."""
        now = self.clock.now()
        waiting = node.waiting
        if waiting == "backoff":
            # The timer stays recorded until the attempt's write-ahead save replaces it, so a
            # crash in between leaves a due timer, not a step that nothing will wake.
            return True
        node.wake_at = None
        execution.touch(node)
        if waiting == "wait":
            execution.transition(node, Phase.SUCCEEDED, now)
        elif waiting == "approval":
            self._fail(execution, node, "approval timed out", "timeout")
        elif waiting == "poll":
            await self._poll(execution, workflow, node)
        elif waiting == "verify":
            return await self._verify(execution, workflow, node)
        return False

    async def _poll(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> None:
        compiled = workflow.steps[node.step]
        wait_until = compiled.step.wait_until
        assert wait_until is not None and compiled.wait_until is not None
        interval = durations.value(node, wait_until.interval, "wait_until.interval")
        timeout = durations.value(node, wait_until.timeout, "wait_until.timeout")
        step_timeout = durations.optional(node, compiled.step.timeout, "timeout")
        output: Any = None
        try:
            if wait_until.action:
                action = self.registry.get(wait_until.action)
                assert action is not None
                params = self._render(
                    execution, workflow, node, compiled.wait_until_with, "wait_until"
                )
                # The polled action's own timeout (its params, or the step's): never the interval.
                output = await self._call(execution, node, action, params, step_timeout)
            done = (
                compiled.wait_until.evaluate(
                    scope.activation(
                        execution,
                        workflow,
                        prefix_of(node.key),
                        self.clock.now(),
                        output=output,
                        polling=bool(wait_until.action),
                    )
                )
                is True
            )
        except StepFailure as failure:
            if failure.kind == "permanent":
                self._fail(execution, node, failure.message, "permanent")
                return
            done = False  # a failed poll is retried at the next interval, until the timeout
        except ExpressionError as exc:  # a broken condition never turns true: say so now
            self._fail(
                execution,
                node,
                expression_failure(workflow, node, "wait_until", exc, self.secrets.text),
                "permanent",
            )
            return
        now = self.clock.now()
        if done:
            execution.transition(node, Phase.SUCCEEDED, now, output=output or {})
        elif now >= parse_iso(node.data["deadline"]):
            self._fail(execution, node, f"wait_until: still false after {timeout}", "timeout")
        else:
            node.waiting, node.wake_at = "poll", iso(now + interval)

    async def _verify(self, execution: Execution, workflow: CompiledWorkflow, node: Node) -> bool:
        """Check a post-condition; a failed verify is an error, retried under ``retry``."""
        compiled = workflow.steps[node.step]
        verify = compiled.step.verify
        assert verify is not None
        interval = durations.value(node, verify.interval, "verify.interval")
        within = durations.value(node, verify.within, "verify.within")
        step_timeout = durations.optional(node, compiled.step.timeout, "timeout")
        ok = False
        try:
            if verify.action:
                action = self.registry.get(verify.action)
                assert action is not None
                params = self._render(execution, workflow, node, compiled.verify_with, "verify")
                # The action's own timeout (its params, or the step's): never the interval.
                await self._call(execution, node, action, params, step_timeout)
                ok = True
            else:
                assert compiled.verify is not None
                ok = compiled.verify.evaluate(self._activation(execution, workflow, node)) is True
        except StepFailure as failure:
            if failure.rendering:  # its `with:` cannot be rendered: no later check can pass
                self._fail(execution, node, failure.message, "permanent")
                return False
            ok = False  # the check did not pass (yet): checked again every interval
        except ExpressionError as exc:  # a broken check never passes: say so now
            self._fail(
                execution,
                node,
                expression_failure(workflow, node, "verify", exc, self.secrets.text),
                "permanent",
            )
            return False
        now = self.clock.now()
        if ok:
            execution.transition(node, Phase.SUCCEEDED, now)
            return False
        if now < parse_iso(node.data["verify_deadline"]):
            node.waiting, node.wake_at = "verify", iso(now + interval)
            return False
        self._attempt_failed(
            execution,
            workflow,
            node,
            StepFailure(f"verify failed: still false after {within}", "error"),
        )
        return False

    # -- approvals -------------------------------------------------------------------------------
    def decide_approval(
        self, execution: Execution, node: Node, approve: bool, by: str, comment: str | None
    ) -> bool:
        """Apply a person's decision to a waiting step. Returns True if an attempt should run now."""
        now = self.clock.now()
        waiting = node.waiting
        node.approval = {
            "decision": "approve" if approve else "reject",
            "by": by,
            "comment": comment,
            "at": iso(now),
        }
        execution.note(
            now,
            "approval",
            key=node.key,
            decision=node.approval["decision"],
            by=by,
            comment=comment,
        )
        node.waiting, node.wake_at = None, None
        execution.touch(node)
        if not approve:
            self._fail(
                execution,
                node,
                f"rejected by {by}" + (f": {comment}" if comment else ""),
                "permanent",
            )
            return False
        if waiting == "approval":
            execution.transition(
                node, Phase.SUCCEEDED, now, output={"approved_by": by, "comment": comment or ""}
            )
            return False
        if waiting == "gate":
            node.data["gate_approved"] = True
        return waiting in ("gate", "unknown_outcome")
