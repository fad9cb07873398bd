"""``shell``: run a program from an argv list, never through a shell.

Rendered values become arguments or environment variables, never text spliced into a command
line. The child gets a minimal environment (PATH, HOME, LANG and the step's ``env``), not the
engine's (which may hold tokens). Output is captured and cut at ``max_output_bytes``; the
process group is killed at the timeout. As a Kubernetes Job (``image:``) it lands with the
Kubernetes issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import timedelta
from typing import Any

from pydantic import Field

from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.definitions.durations import Duration
from reconciler.errors import ActionError, NotImplementedAction, PermanentError


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


async def _read_limited(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read everything (so the child never blocks on a full pipe) but keep at most ``limit``."""
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        if room > 0:
            kept.extend(chunk[:room])
        truncated = truncated or len(chunk) > room
    return bytes(kept), truncated


async def _shell(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    if params.image is not None:
        raise NotImplementedAction(
            "shell as a Kubernetes Job (image:) is not implemented yet (it lands with the Kubernetes issue)"
        )
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
    assert process.stdout is not None and process.stderr is not None
    reading = asyncio.gather(
        _read_limited(process.stdout, params.max_output_bytes),
        _read_limited(process.stderr, params.max_output_bytes),
    )
    try:
        (stdout, out_cut), (stderr, err_cut) = await asyncio.wait_for(
            reading, params.timeout.total_seconds()
        )
        code = await process.wait()
    except (TimeoutError, asyncio.CancelledError):
        _kill(process)
        await process.wait()
        raise
    errors = stderr.decode("utf-8", "replace")
    output = {
        "exit_code": code,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": errors,
        "truncated": out_cut or err_cut,
    }
    if code != 0:
        tail = errors.strip().splitlines()[-1:] or [""]
        raise ActionError(f"shell: {params.command[0]} exited with {code}: {tail[0][:200]}")
    return output


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
        run=_shell,
    ),
]
