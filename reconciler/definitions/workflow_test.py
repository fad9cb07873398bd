"""The ``WorkflowTest`` kind: a scenario in, expected executions and effects out (SPEC §1.5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from reconciler.definitions.base import Envelope, Model
from reconciler.definitions.durations import Duration

StepPhase = Literal[
    "pending", "running", "succeeded", "failed", "skipped", "cancelled", "compensated"
]
ExecutionStatus = Literal[
    "pending", "running", "paused", "waiting_approval", "succeeded", "failed", "cancelled"
]


class ClusterFile(Model):
    file: str = Field(description="manifests file, relative to the test's own file")


class TestAlert(Model):
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    at: Duration = Field(timedelta(0), description="offset on the test's fake clock")
    fingerprint: str | None = None


class Mock(Model):
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(None, description="the mocked call fails with this message")


class TestApproval(Model):
    step: str | None = Field(None, description="the step that waits; any waiting step when absent")
    decision: Literal["approve", "reject"] = "approve"
    by: str = "workflow-test"
    comment: str | None = None


class ExpectedExecution(Model):
    policy: str
    workflow: str | None = None
    status: ExecutionStatus | None = None


class Expect(Model):
    executions: list[ExpectedExecution] | None = None
    steps: dict[str, StepPhase] | None = None
    actions: list[str] | None = None
    exact: bool = False
    not_actions: list[str] | None = None
    outputs: dict[str, Any] | None = None
    cluster: list[str] | None = None


class WorkflowTestSpec(Model):
    description: str | None = None
    cluster: ClusterFile | list[dict[str, Any]] | None = None
    alerts: list[TestAlert] = Field(min_length=1)
    mocks: dict[str, Mock] = Field(default_factory=dict)
    approvals: list[TestApproval] = Field(default_factory=list)
    secrets: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="fake secrets for secret(name, key): name -> key -> value"
    )
    expect: Expect


class WorkflowTest(Envelope):
    kind: Literal["WorkflowTest"]
    spec: WorkflowTestSpec
