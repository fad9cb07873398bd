"""How a step attempt fails, and which waits need a person: shared by the step runner's halves."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.engine.state import Node
    from reconciler.errors import ExpressionError, Redactor
    from reconciler.validation.compiled import CompiledWorkflow

APPROVAL_WAITS = {"approval", "gate", "unknown_outcome"}


class StepFailure(Exception):
    """An attempt failed; ``kind`` is error, timeout or permanent. ``rendering``: the step's
    templates could not be rendered (nothing was called)."""

    def __init__(
        self, message: str, kind: str, delay: float | None = None, *, rendering: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.delay = delay
        self.rendering = rendering


class NeedsApproval(Exception):
    """A guardrail gates this call on a person's approval."""


def expression_failure(
    workflow: CompiledWorkflow, node: Node, field: str, exc: ExpressionError, redact: Redactor
) -> str:
    """A step's error for an expression that failed: where, the expression, the message and
    what it read (each value redacted before it is cut short)."""
    return f"{workflow.where(node.step, field)}: {exc.explain(redact)}"
