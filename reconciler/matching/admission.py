"""Policy guardrails: whether a match may start an execution now (SPEC §1.3).

A pure decision over what the caller knows about earlier executions of the same policy: the
service (from its store) and ``reconciler test`` (from its own run) both use it, and record the
decision either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reconciler.definitions.durations import format_duration
from reconciler.definitions.policy import PolicyGuardrails


@dataclass(frozen=True)
class Past:
    """An earlier execution of the same policy."""

    target: str
    started_at: datetime
    finished: bool
    execution: str = ""  # its id and status, to say which one holds the target
    status: str = ""


@dataclass(frozen=True)
class Admission:
    decision: Literal["start", "refuse", "approve"]
    reason: str = ""


START = Admission("start")


def admit(guardrails: PolicyGuardrails, target: str, now: datetime, past: list[Past]) -> Admission:
    """Refuse (open execution, cooldown, concurrency), gate on approval (circuit open,
    require_approval), or start."""
    same_target = [p for p in past if p.target == target]
    holding = [p for p in same_target if not p.finished]
    if holding:
        first = holding[0]
        which = f"execution {first.execution}" if first.execution else "an execution"
        state = f" ({first.status})" if first.status else ""
        return Admission("refuse", f"{which} for target {target} is still open{state}")
    if guardrails.cooldown is not None and same_target:
        last = max(p.started_at for p in same_target)
        if now - last < guardrails.cooldown:
            return Admission(
                "refuse",
                f"cooldown: the last execution for {target} started "
                f"{format_duration(now - last)} ago (cooldown {format_duration(guardrails.cooldown)})",
            )
    if guardrails.max_concurrent is not None:
        running = sum(not p.finished for p in past)
        if running >= guardrails.max_concurrent:
            return Admission(
                "refuse",
                f"max_concurrent: {running} executions of this policy are running "
                f"(at most {guardrails.max_concurrent})",
            )
    if guardrails.max_executions is not None:
        window = guardrails.max_executions
        recent = sum(now - p.started_at < window.per for p in same_target)
        if recent >= window.count:
            return Admission(
                "approve",
                f"circuit open: {recent} executions for {target} in the last "
                f"{format_duration(window.per)} (at most {window.count}); approval needed",
            )
    if guardrails.require_approval:
        return Admission("approve", "the policy requires approval before it starts")
    return START
