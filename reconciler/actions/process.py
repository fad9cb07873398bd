"""``shell``: run a program from an argv list, never through a shell.

Rendered values become arguments or environment variables, never text spliced into a command
line. The child gets a minimal environment (PATH, HOME, LANG and the step's ``env``), not the
engine's (which may hold tokens). Output is captured and cut at ``max_output_bytes``; the
process group is killed at the timeout. With ``image:`` it runs as a Kubernetes Job in the
cluster instead (:mod:`reconciler.actions.shell_job`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import timedelta
from typing import Any

from pydantic import Field

from reconciler.actions import shell_job
from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.definitions.durations import Duration
from reconciler.errors import ActionError, PermanentError


class ShellParams(Params):
    command: list[str] = Field(
        min_length=1, description="argv: program and arguments, never parsed by a shell"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    timeout: Duration = timedelta(minutes=1)
    max_output_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    image: str | None = Field(None, description="container image when run as a Kubernetes Job")
    namespace: str | None = Field(None, description="namespace of the Job in the cluster")


_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


class _Captured:
    """The head of a stream (up to a limit) and its last line, for the error message."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = b""
        self.truncated = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        # Read everything, so the child never blocks on a full pipe, but keep only the head.
        while chunk := await stream.read(65536):
            room = self.limit - len(self.head)
            if room > 0:
                self.head.extend(chunk[:room])
            self.truncated = self.truncated or len(chunk) > room
            self.tail = (self.tail + chunk)[-4096:]

    def text(self) -> str:
        return bytes(self.head).decode("utf-8", "replace")

    def last_line(self) -> str:
        lines = self.tail.decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:200] if lines else ""


async def _shell(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    if params.image is not None:
        return await shell_job.run_job(params, context)
    environment = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    environment.update(params.env)
    environment["RECONCILER_EXECUTION"] = context.execution
    environment["RECONCILER_STEP"] = context.step
    try:
        process = await asyncio.create_subprocess_exec(
            *params.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise PermanentError(f"shell: program {params.command[0]!r} not found") from exc
    except PermissionError as exc:
        raise PermanentError(f"shell: program {params.command[0]!r} is not executable") from exc
    except ValueError as exc:  # a NUL byte in an argument, '=' in an environment name
        raise PermanentError(f"shell: invalid command or environment: {exc}") from exc
    assert process.stdout is not None and process.stderr is not None
    out, err = _Captured(params.max_output_bytes), _Captured(params.max_output_bytes)

    async def complete() -> int:
        await asyncio.gather(out.read(process.stdout), err.read(process.stderr))  # type: ignore[arg-type]
        return await process.wait()

    try:
        code = await asyncio.wait_for(complete(), params.timeout.total_seconds())
    except (TimeoutError, asyncio.CancelledError):
        _kill(process)
        await process.wait()
        raise
    if code != 0:
        raise ActionError(f"shell: {params.command[0]} exited with {code}: {err.last_line()}")
    return {
        "exit_code": code,
        "stdout": out.text(),
        "stderr": err.text(),
        "truncated": out.truncated or err.truncated,
    }


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


ACTIONS: list[ActionSpec] = [
    ActionSpec(
        "shell",
        "run a program (argv list) locally or as a Kubernetes Job",
        ShellParams,
        mutating=True,
        idempotent=False,
        dry_run=False,
        effect="write",  # a program can do anything
        run=_shell,
        would=lambda params: "run " + " ".join(str(a) for a in params.get("command", [])),
    ),
]
