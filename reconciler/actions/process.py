"""``shell``: run a program from an argv list (never a shell string), locally or as a Job."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from reconciler.actions.spec import ActionSpec, Params, declared
from reconciler.definitions.durations import Duration


class ShellParams(Params):
    command: list[str] = Field(
        min_length=1, description="argv: program and arguments, never parsed by a shell"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    timeout: Duration = timedelta(minutes=1)
    max_output_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    image: str | None = Field(None, description="container image when run as a Kubernetes Job")
    namespace: str | None = Field(None, description="namespace of the Job in the cluster")


ACTIONS: list[ActionSpec] = [
    declared(
        "shell",
        "run a program (argv list) locally or as a Kubernetes Job",
        ShellParams,
        mutating=True,
        idempotent=False,
        dry_run=False,
        lands_with="the engine issue",
    ),
]
