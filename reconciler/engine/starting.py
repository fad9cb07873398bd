"""Starting the step kinds that are not an action call: ``for_each`` (its items), ``approval``
(its message and timeout), ``decide`` (its rules), and a ``workflow:`` subflow. The
:class:`Starting` part of :class:`~reconciler.engine.steps.StepRunner`; an expression that fails
fails its step, never the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from reconciler.engine import durations
from reconciler.engine.failures import expression_failure, lost_secret
from reconciler.engine.state import Execution, Node, Phase, iso
from reconciler.engine.waiting import WaitingParts
from reconciler.errors import ExpressionError, ReconcilerError
from reconciler.expressions import templates
from reconciler.expressions.compiler import secrets_from
from reconciler.expressions.values import check_bounds
from reconciler.validation.compiled import CompiledStep, CompiledWorkflow

StartSubflow = Callable[[Execution, Node, dict[str, Any]], Awaitable[str]]


class Starting(WaitingParts):
    start_subflow: StartSubflow

    def _begin_for_each(
        self, execution: Execution, workflow: CompiledWorkflow, compiled: CompiledStep, node: Node
    ) -> None:
        now = self.clock.now()
        assert compiled.for_each is not None
        try:
            items = compiled.for_each.evaluate(self._activation(execution, workflow, node))
            if not isinstance(items, list):
                raise ExpressionError(
                    f"for_each must give a list, got {type(items).__name__}",
                    source=compiled.for_each.source,
                )
            check_bounds(items, "for_each items")
        except ExpressionError as exc:
            self._fail(
                execution,
                node,
                expression_failure(workflow, node, "for_each", exc, self.secrets.text),
                "permanent",
            )
            return
        execution.transition(node, Phase.RUNNING, now, items=items)

    def _begin_approval(
        self, execution: Execution, workflow: CompiledWorkflow, compiled: CompiledStep, node: Node
    ) -> None:
        now = self.clock.now()
        approval = compiled.step.approval
        assert approval is not None
        message = approval.message
        try:
            rendered = templates.render(
                compiled.approval_message, self._activation(execution, workflow, node)
            )
            message = str(rendered)
        except ExpressionError as exc:
            message = f"{approval.message} (message failed to render: {exc.message})"
        execution.transition(
            node,
            Phase.RUNNING,
            now,
            waiting="approval",
            wake_at=iso(now + durations.value(node, approval.timeout, "approval.timeout")),
            data={**node.data, "message": message},
        )
        execution.note(now, "approval_requested", key=node.key, message=message)

    def _decide(
        self, execution: Execution, workflow: CompiledWorkflow, compiled: CompiledStep, node: Node
    ) -> None:
        now = self.clock.now()
        decide = compiled.step.decide
        assert decide is not None
        activation = self._activation(execution, workflow, node)
        for index, (rule, choice) in enumerate(compiled.decide_rules):
            try:
                matched = rule.evaluate(activation) is True
            except ExpressionError as exc:
                execution.note(
                    now,
                    "decide_rule_error",
                    key=node.key,
                    rule=index,
                    error=exc.explain(self.secrets.text),
                )
                continue
            if matched:
                output = {
                    "choice": choice,
                    "confidence": 1.0,
                    "reason": f"rule {index + 1}: {rule.source}",
                }
                execution.transition(node, Phase.SUCCEEDED, now, output=output)
                return
        # The AI mode (decide.ai) plugs in here in a later issue; until then the fallback decides.
        if decide.fallback is not None:
            reason = (
                "no rule matched; fallback"
                if decide.ai is None
                else "no rule matched; AI mode not available yet; fallback"
            )
            output = {"choice": decide.fallback, "confidence": 0.0, "reason": reason}
            execution.transition(node, Phase.SUCCEEDED, now, output=output)
            return
        self._fail(execution, node, "decide: no rule matched and there is no fallback", "permanent")

    async def _begin_subflow(
        self, execution: Execution, workflow: CompiledWorkflow, compiled: CompiledStep, node: Node
    ) -> None:
        now = self.clock.now()
        execution.transition(node, Phase.RUNNING, now)
        try:
            with secrets_from(self.secrets.read):
                params = (
                    templates.render(compiled.with_, self._activation(execution, workflow, node))
                    or {}
                )
        except ExpressionError as exc:
            self._fail(
                execution,
                node,
                expression_failure(workflow, node, "with", exc, self.secrets.text),
                "permanent",
            )
            return
        except LookupError as exc:
            self._fail(execution, node, f"{workflow.where(node.step, 'with')}: {exc}", "permanent")
            return
        lost = lost_secret(execution, workflow, node, "with", params)
        if lost is not None:
            self._fail(execution, node, lost, "permanent")
            return
        try:
            child = await self.start_subflow(execution, node, params)
        except ReconcilerError as exc:  # the child cannot start (its revision, its workflow)
            self._fail(execution, node, f"subflow {compiled.step.workflow}: {exc}", "permanent")
            return
        node.child = child
        node.waiting = "subflow"
        execution.touch(node)
