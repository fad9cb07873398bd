"""What the layers above plug into the engine: guardrails before actions, and observers.

The service issue wires policy guardrails and Guardrail rules into :meth:`Hooks.before_action`;
the WorkflowTest runner records action calls and answers mocks through the same hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.engine.state import Execution, Node


@dataclass(frozen=True)
class Gate:
    """A guardrail's answer before an action: go on, refuse, or wait for a person."""

    decision: Literal["allow", "deny", "approve"] = "allow"
    message: str = ""


ALLOW = Gate()


class Hooks:
    """Default hooks: allow everything, record nothing. Subclass to plug in."""

    async def before_action(
        self,
        execution: Execution,
        node: Node,
        action: str,
        params: Mapping[str, Any],
        mutating: bool,
    ) -> Gate:
        return ALLOW

    async def mock(
        self, execution: Execution, node: Node, action: str, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """An answer for the call without running the action, or None to run it."""
        return None

    def action_called(
        self, execution: Execution, node: Node, action: str, params: Mapping[str, Any]
    ) -> None:
        """Every action call the engine makes (compensations and verify actions included)."""

    def attempt_finished(
        self, execution: Execution, node: Node, action: str, seconds: float, outcome: str
    ) -> None:
        """An attempt's action call ended (``outcome``: succeeded or failed), for metrics."""

    def execution_finished(self, execution: Execution) -> None:
        """An execution reached succeeded, failed or cancelled."""

    def engine_error(self, execution: Execution | None, where: str, error: BaseException) -> None:
        """An unexpected exception (a bug) in a step, a driver, a hook or recovery; the engine
        failed what it was doing (``where``: step, driver, guardrail, recovery, ...)."""
