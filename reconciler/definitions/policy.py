"""The ``Policy`` kind: which alerts start which workflow, with what params and guardrails (§1.3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reconciler.definitions.base import Envelope, Model
from reconciler.definitions.durations import Duration


class ExecutionBudget(Model):
    """At most ``count`` executions per (policy, target) in a sliding window ``per``."""

    count: int = Field(ge=1)
    per: Duration


class PolicyGuardrails(Model):
    cooldown: Duration | None = None
    max_executions: ExecutionBudget | None = None
    max_concurrent: int | None = Field(None, ge=1)
    require_approval: bool = False
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)


class PolicySpec(Model):
    match: str
    workflow: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None
    priority: int = 0
    mode: Literal["enforce", "dry-run"] = "enforce"
    # `continue` by default: a remediation often resolves its own alert before it has verified.
    on_resolved: Literal["cancel", "continue"] = "continue"
    guardrails: PolicyGuardrails = PolicyGuardrails()


class Policy(Envelope):
    kind: Literal["Policy"]
    spec: PolicySpec
