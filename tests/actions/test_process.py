"""``shell``: real child processes (``sys.executable -c ...``), never a shell, never mocked.

Every process a test starts is killed by the test, even when it fails: programs that spawn
others write their pids to a file the test reads, and a finalizer kills whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.actions.registry import default_registry
from reconciler.actions.spec import ActionContext
from reconciler.errors import ActionError, PermanentError, TemporaryError

CONTEXT = ActionContext("e1", "s1", 1)
PY = sys.executable


def run(params: dict[str, Any]) -> dict[str, Any]:
    registry = default_registry()
    action = registry.get("shell")
    assert action is not None
    return asyncio.run(action.call(registry.parse("shell", params), CONTEXT))


def python(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


def is_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


def wait_until(condition: Callable[[], bool], *, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def wait_until_async(condition: Callable[[], bool], *, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where a test program writes the pids it started; they are killed after the test."""
    path = tmp_path / "pids.json"
    yield path
    with contextlib.suppress(FileNotFoundError, ValueError):
        for pid in json.loads(path.read_text()).values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# A program that starts a sleeping grandchild, writes both pids (atomically) and sleeps.
PARENT_OF_A_SLEEPER = """
import json, os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
target = sys.argv[1]
with open(target + ".tmp", "w") as f:
    json.dump({"program": os.getpid(), "grandchild": child.pid}, f)
os.replace(target + ".tmp", target)
time.sleep(120)
"""


# Running a program


def test_shell_runs_an_argv_list_and_returns_exit_code_stdout_and_stderr() -> None:
    output = run(
        {
            "command": python(
                "import sys; print('out', sys.argv[1]); print('err', file=sys.stderr)", "arg"
            )
        }
    )

    assert output == {"exit_code": 0, "stdout": "out arg\n", "stderr": "err\n", "truncated": False}


def test_arguments_reach_the_program_literally_without_any_shell_interpretation(
    tmp_path: Path,
) -> None:
    arguments = [
        "two words",
        'it\'s "quoted"',
        "$(echo pwned); echo hacked",
        "`echo pwned`",
        "a; echo hacked",
        "a | tee pwned",
        "a && echo hacked",
        "> pwned",
        "$HOME",
        "*",
        "",
        "new\nline",
    ]

    output = run(
        {
            "command": python(
                "import json, os, sys; os.chdir(sys.argv[1]); print(json.dumps(sys.argv[2:]))",
                str(tmp_path),
                *arguments,
            )
        }
    )

    assert json.loads(output["stdout"]) == arguments
    assert "hacked\n" not in output["stdout"]
    assert list(tmp_path.iterdir()) == []  # no redirection or pipe created a file


def test_the_program_sees_only_the_allowed_environment_plus_env_and_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECONCILER_GITHUB_TOKEN", "ghp_super_secret_value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
    monkeypatch.setenv("HOME", "/home/reconciler-test")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")

    output = run(
        {
            "command": python("import json, os; print(json.dumps(dict(os.environ)))"),
            "env": {"TARGET_NAMESPACE": "payments", "DRY": "1"},
        }
    )

    seen = json.loads(output["stdout"])
    assert "RECONCILER_GITHUB_TOKEN" not in seen
    assert "AWS_SECRET_ACCESS_KEY" not in seen
    assert "secret" not in output["stdout"]
    assert seen == {
        "PATH": os.environ["PATH"],
        "HOME": "/home/reconciler-test",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "TARGET_NAMESPACE": "payments",
        "DRY": "1",
        "RECONCILER_EXECUTION": "e1",
        "RECONCILER_STEP": "s1",
    }


def test_allowed_variables_the_engine_does_not_have_are_not_invented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # keeps Python from coercing the locale in the child

    output = run({"command": python("import json, os; print(json.dumps(dict(os.environ)))")})

    assert "TZ" not in json.loads(output["stdout"])


# Failures


def test_a_non_zero_exit_is_an_action_error_with_the_last_stderr_line() -> None:
    program = python(
        "import sys; print('starting', file=sys.stderr); "
        "print('fatal: disk full\\n', file=sys.stderr); sys.exit(3)"
    )

    with pytest.raises(ActionError) as caught:
        run({"command": program})

    assert type(caught.value) is ActionError  # retried like any error: neither kind of verdict
    assert not isinstance(caught.value, PermanentError | TemporaryError)
    assert str(caught.value) == f"shell: {PY} exited with 3: fatal: disk full"


def test_a_non_zero_exit_without_stderr_still_names_the_exit_code() -> None:
    with pytest.raises(ActionError, match=r"exited with 1: $"):
        run({"command": python("raise SystemExit(1)")})


def test_a_missing_program_fails_permanently(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="'reconciler-no-such-program' not found"):
        run({"command": ["reconciler-no-such-program", "--help"]})
    with pytest.raises(PermanentError, match="not found"):
        run({"command": [str(tmp_path / "missing")]})


def test_a_program_that_is_not_executable_fails_permanently(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)

    with pytest.raises(PermanentError, match="is not executable"):
        run({"command": [str(script)]})


# Output limits


def test_large_output_is_cut_at_the_limit_without_blocking_the_program() -> None:
    # 1 MB on each stream: far more than a pipe buffer, so a reader that stopped at the limit
    # would leave the program blocked in write() until the timeout.
    program = python(
        "import sys; sys.stdout.write('o' * 1_000_000); sys.stdout.flush(); "
        "sys.stderr.write('e' * 1_000_000); sys.stderr.flush()"
    )

    output = run({"command": program, "max_output_bytes": 4096, "timeout": "60s"})

    assert output["exit_code"] == 0  # it wrote everything and exited
    assert output["stdout"] == "o" * 4096
    assert output["stderr"] == "e" * 4096
    assert output["truncated"] is True


def test_output_of_exactly_max_output_bytes_is_not_truncated() -> None:
    program = python("import sys; sys.stdout.write('x' * 2048)")

    output = run({"command": program, "max_output_bytes": 2048})

    assert output["stdout"] == "x" * 2048
    assert output["truncated"] is False


# Timeouts and cancellation


def test_a_timeout_kills_the_program_and_its_children(pid_file: Path) -> None:
    with pytest.raises(TimeoutError):
        run({"command": python(PARENT_OF_A_SLEEPER, str(pid_file)), "timeout": "2s"})

    assert pid_file.exists(), "the program did not start its grandchild before the timeout"
    pids = json.loads(pid_file.read_text())
    assert wait_until(lambda: is_gone(pids["program"])), "the program outlived its timeout"
    assert wait_until(lambda: is_gone(pids["grandchild"])), "the grandchild outlived the timeout"


def test_cancelling_the_call_kills_the_program_and_its_children(pid_file: Path) -> None:
    registry = default_registry()
    action = registry.get("shell")
    assert action is not None
    params = registry.parse("shell", {"command": python(PARENT_OF_A_SLEEPER, str(pid_file))})

    async def cancel_once_started() -> None:
        task = asyncio.create_task(action.call(params, CONTEXT))
        started = await wait_until_async(pid_file.exists)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert started, "the program did not start its grandchild"

    asyncio.run(cancel_once_started())

    pids = json.loads(pid_file.read_text())
    assert wait_until(lambda: is_gone(pids["program"])), "the program outlived cancellation"
    assert wait_until(lambda: is_gone(pids["grandchild"])), "the grandchild outlived cancellation"


# As a Kubernetes Job


def test_shell_with_an_image_needs_a_cluster_and_runs_nothing_locally(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    with pytest.raises(PermanentError, match="no cluster configured"):
        run(
            {
                "command": python(
                    "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()", str(marker)
                ),
                "image": "busybox:1.36",
            }
        )

    assert not marker.exists()  # a Job in the cluster, never a local process


def test_the_timeout_fires_even_when_the_program_closes_its_output() -> None:
    with pytest.raises(TimeoutError):
        run(
            {
                "command": python("import os, time; os.close(1); os.close(2); time.sleep(5)"),
                "timeout": "500ms",
            }
        )


def test_the_error_names_the_last_stderr_line_even_past_the_output_limit() -> None:
    program = python(
        "import sys; [print('noise', i, file=sys.stderr) for i in range(500)];"
        " print('fatal: the real reason', file=sys.stderr); sys.exit(2)"
    )
    with pytest.raises(ActionError, match="fatal: the real reason"):
        run({"command": program, "max_output_bytes": 1024})


def test_a_nul_byte_in_an_argument_fails_permanently() -> None:
    with pytest.raises(PermanentError):
        run({"command": ["echo", "a\x00b"]})
