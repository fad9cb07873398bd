"""Status conditions of the reconcile loop, Kubernetes style (``Ready``, ``Reconciling``,
``Stalled``), written in one place and read by ``GET /api/v1/status`` and the metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str
    last_transition_time: str


@dataclass
class SourceStatus:
    """What the reconcile loop knows: the active revision, the last pass, and why not ready."""

    source: str = ""
    active_revision: str | None = None
    active_message: str = ""
    last_attempted_revision: str | None = None
    last_sync: str | None = None  # the last pass that ended without error
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)  # a rejected revision's problems
    conditions: dict[str, Condition] = field(default_factory=dict)

    def set(self, type_: str, status: ConditionStatus, reason: str, message: str, now: str) -> None:
        """Change a condition; its transition time moves only when its status does."""
        current = self.conditions.get(type_)
        since = current.last_transition_time if current and current.status == status else now
        self.conditions[type_] = Condition(type_, status, reason, message, since)

    @property
    def ready(self) -> bool:
        condition = self.conditions.get("Ready")
        return condition is not None and condition.status == "True"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["conditions"] = [asdict(c) for c in self.conditions.values()]
        return data
