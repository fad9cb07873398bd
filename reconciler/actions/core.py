"""``core.*`` actions: log a message, fail on purpose, set values as the step's output."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.errors import PermanentError


class LogParams(Params):
    message: str = Field(description="text to log")
    level: Literal["debug", "info", "warning", "error"] = "info"


class FailParams(Params):
    message: str = Field(
        description="the step fails with this message: a permanent failure, never retried "
        "(its step's retry does not apply)"
    )


class SetParams(Params):
    """Any map: it becomes the step's output."""

    model_config = ConfigDict(frozen=True, extra="allow")


async def _log(params: LogParams, context: ActionContext) -> dict[str, Any]:
    context.log("workflow message", {"message": params.message, "level": params.level})
    return {"message": params.message, "level": params.level}


async def _fail(params: FailParams, context: ActionContext) -> dict[str, Any]:
    raise PermanentError(params.message)


async def _set(params: SetParams, context: ActionContext) -> dict[str, Any]:
    return dict(params.model_extra or {})


ACTIONS = [
    ActionSpec(
        "core.log",
        "log a message in the execution record",
        LogParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        effect="internal",
        run=_log,
    ),
    ActionSpec(
        "core.fail",
        "fail the step with a message, permanently (not retried, whatever its retry says)",
        FailParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        effect="internal",
        run=_fail,
    ),
    ActionSpec(
        "core.set",
        "make the `with:` map the step's output",
        SetParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        effect="internal",
        run=_set,
    ),
]
