"""How a step attempt fails, and which waits need a person: shared by the step runner's halves."""

from __future__ import annotations

APPROVAL_WAITS = {"approval", "gate", "unknown_outcome"}


class StepFailure(Exception):
    """An attempt failed; ``kind`` is error, timeout or permanent."""

    def __init__(self, message: str, kind: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.delay = delay


class NeedsApproval(Exception):
    """A guardrail gates this call on a person's approval."""
