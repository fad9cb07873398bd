"""The ``Settings`` kind: optional repository-level settings read from the user's Git repo.

At most one per repository. Not to be confused with :mod:`reconciler.settings`, the engine's own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.definitions.base import Envelope, Model

ReportFormat = Literal["markdown", "json", "html"]


class PullRequests(Model):
    target_branch: str = "main"
    branch_prefix: str = "reconciler/"
    labels: list[str] = Field(default_factory=lambda: ["reconciler"])
    reviewers: list[str] = Field(default_factory=list)


class Reports(Model):
    enabled: bool = True
    path: str = "reports/"
    formats: list[ReportFormat] = Field(default_factory=lambda: list[ReportFormat](["markdown"]))


class Learning(Model):
    enabled: bool = False
    min_executions: int = Field(5, ge=1, description="evidence needed before proposing a change")


class AI(Model):
    enabled: bool = False
    model: str = "claude-sonnet-4-5"


class RepoSettingsSpec(Model):
    pull_requests: PullRequests = PullRequests()
    reports: Reports = Reports()
    learning: Learning = Learning()
    ai: AI = AI()


class RepoSettings(Envelope):
    kind: Literal["Settings"]
    spec: RepoSettingsSpec
