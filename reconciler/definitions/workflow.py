"""The ``Workflow`` kind: typed params, an overall timeout, and a tree of steps (SPEC §1.2).

Read by the loader, checked by ``validation``, executed by ``engine``. Field names follow the
YAML; ``with``/``if`` are Python keywords, so they are aliased (``with_``, ``if_``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from reconciler.definitions.base import Envelope, Model
from reconciler.definitions.durations import Duration, TemplatedDuration

ParamType = Literal["string", "int", "number", "bool", "list", "map"]
When = Literal["success", "failure", "always"]
RetryOn = Literal["error", "timeout"]

STEP_KINDS = (
    "action",
    "steps",
    "parallel",
    "for_each",
    "wait",
    "wait_until",
    "workflow",
    "approval",
    "decide",
)


class ParamSpec(Model):
    """One declared workflow parameter; without ``default`` it is required."""

    type: ParamType = "string"
    default: Any = None
    description: str | None = None

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


class Retry(Model):
    """How a failed attempt is retried (after Temporal's RetryPolicy and Argo's retryStrategy)."""

    limit: int = Field(0, ge=0, le=100, description="retries after the first attempt")
    backoff: TemplatedDuration = Field(
        timedelta(seconds=10), description="wait before the first retry"
    )
    factor: float = Field(2.0, ge=1.0, le=10.0, description="backoff multiplier per retry")
    max_backoff: TemplatedDuration = Field(timedelta(minutes=5), description="cap on one backoff")
    jitter: float = Field(0.0, ge=0.0, le=1.0, description="random fraction added to a backoff")
    on: list[RetryOn] = Field(default_factory=lambda: list[RetryOn](["error", "timeout"]))


class Verify(Model):
    """A post-condition checked after the action succeeds: ``expr`` or an ``action``."""

    expr: str | None = None
    action: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    within: TemplatedDuration = timedelta(minutes=2)
    interval: TemplatedDuration = timedelta(seconds=10)


class Compensate(Model):
    """The undo of a step, run on rollback."""

    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class WaitUntil(Model):
    """Wait until ``expr`` holds: over the scope alone, or over a polled action's ``output``."""

    expr: str
    action: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    interval: TemplatedDuration = timedelta(seconds=10)
    timeout: TemplatedDuration = timedelta(minutes=10)


class Approval(Model):
    """Wait for a person to approve or reject (CLI or API)."""

    message: str = "approval required"
    timeout: TemplatedDuration = timedelta(hours=24)


class DecideRule(Model):
    if_: str = Field(alias="if")
    choose: str


class DecideAI(Model):
    """The model picks an option (implemented by a later issue; validated now)."""

    prompt: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    min_confidence: float = Field(0.7, ge=0.0, le=1.0)


class Decide(Model):
    options: list[str] = Field(min_length=1)
    rules: list[DecideRule] = Field(default_factory=list)
    ai: DecideAI | None = None
    fallback: str | None = None


class Step(Model):
    """One step; exactly one of the kinds in ``STEP_KINDS`` is set (checked by validation)."""

    id: str
    description: str | None = None
    needs: list[str] | None = None
    when: When = "success"
    if_: str | None = Field(None, alias="if")

    action: str | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")
    steps: list[Step] | None = None
    parallel: list[Step] | None = None
    max_concurrency: int | None = Field(None, ge=1)
    for_each: str | None = None
    do: list[Step] | None = None
    wait: TemplatedDuration | None = None
    wait_until: WaitUntil | None = None
    workflow: str | None = None
    approval: Approval | None = None
    decide: Decide | None = None

    timeout: TemplatedDuration | None = None
    retry: Retry | None = None
    verify: Verify | None = None
    continue_on_failure: bool = False
    compensate: Compensate | None = None

    @property
    def kinds(self) -> list[str]:
        """The step kinds this step sets (valid steps have exactly one)."""
        return [kind for kind in STEP_KINDS if getattr(self, kind) is not None]

    @property
    def kind(self) -> str:
        kinds = self.kinds
        return kinds[0] if kinds else ""

    @property
    def children(self) -> list[Step]:
        """Nested steps of a group, parallel block or for_each body."""
        return self.steps or self.parallel or self.do or []


class WorkflowSpec(Model):
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    timeout: Duration = timedelta(hours=1)
    on_failure: Literal["none", "rollback"] = "none"
    on_cancel: Literal["none", "rollback"] = "none"
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, str] = Field(default_factory=dict)


class Workflow(Envelope):
    kind: Literal["Workflow"]
    spec: WorkflowSpec

    def all_steps(self) -> list[tuple[Step, tuple[str | int, ...]]]:
        """Every step, nested ones included, with its path in the document."""
        found: list[tuple[Step, tuple[str | int, ...]]] = []

        def visit(steps: list[Step], path: tuple[str | int, ...]) -> None:
            for index, step in enumerate(steps):
                here = (*path, index)
                found.append((step, here))
                for field in ("steps", "parallel", "do"):
                    nested = getattr(step, field)
                    if nested:
                        visit(nested, (*here, field))

        visit(self.spec.steps, ("spec", "steps"))
        return found
