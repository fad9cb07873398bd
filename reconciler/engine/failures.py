"""How a step attempt fails, and which waits need a person: shared by the step runner's halves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.engine.state import holds_mark

if TYPE_CHECKING:
    from reconciler.engine.state import Execution, Node
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


def lost_secret(
    execution: Execution, workflow: CompiledWorkflow, node: Node, field: str, rendered: Any
) -> str | None:
    """Why a step must not be called with what it rendered, or None. A value that held a
    secret is kept unredacted in memory only; after a restart the record's ``***`` is all
    there is, and sending ``***`` to a server in its place would be wrong without a word."""
    if not holds_mark(rendered):
        return None
    lost = execution.lost_secrets()
    if not lost:
        return None  # nothing was lost: the ``***`` is the workflow's own text
    return (
        f"{workflow.where(node.step, field)}: it reads a value that held a secret "
        f"({', '.join(lost)}); such values are kept in memory only and were lost when the "
        "execution was reloaded (a restart or a retry), so the step fails rather than send "
        "`***` in their place; start the remediation again (a new execution reads them anew)"
    )
