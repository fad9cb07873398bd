"""Commands that only read files, and the client commands, start without the service, the HTTP
server or the Kubernetes client (SPEC §3: they answer at once).

Each command runs in a fresh interpreter, as a user runs it, and reports which of the heavy
packages it imported by the time it finished. The client commands talk to a real service
(``servicekit.Running``: the app under uvicorn on 127.0.0.1:0). No timing thresholds here:
``bench/cli.py`` measures the time."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# servicekit lives with the end-to-end tests; this module borrows its running service.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from servicekit import Remote, Running, settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example-repo"
HEAVY = ("kubernetes", "fastapi", "uvicorn", "starlette")

# Runs the command as the console script does, then writes the exit code and the heavy
# packages in sys.modules to the file named by argv[1].
PROBE = """
import json, sys
report, heavy, args = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
sys.argv = ["reconciler", *args]
from reconciler.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
with open(report, "w") as out:
    json.dump({"code": code, "loaded": [m for m in heavy if m in sys.modules]}, out)
"""


def imported_by(tmp_path: Path, *args: str) -> tuple[int, list[str], str]:
    """Run ``reconciler ARGS`` in a fresh interpreter: its exit code, the heavy packages it
    imported, and its output (for failure messages)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), ",".join(HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert report.exists(), f"the command crashed: {done.stderr}"
    found = json.loads(report.read_text())
    return found["code"], found["loaded"], done.stdout + done.stderr


READ_ONLY = {
    "help": ["--help"],
    "validate": ["validate", str(EXAMPLE)],
    "test": ["test", str(EXAMPLE), "-k", "watchdog"],
    "plan": ["plan", "--alert", str(EXAMPLE / "alerts" / "KubePodCrashLooping.json"), str(EXAMPLE)],
    "schema": ["schema"],
    "actions": ["actions"],
    "actions-json": ["actions", "-o", "json"],
    "executions-help": ["executions", "--help"],
    "run-help": ["run", "--help"],
}


@pytest.mark.parametrize("args", READ_ONLY.values(), ids=READ_ONLY.keys())
def test_a_command_that_reads_files_loads_no_service_and_no_kubernetes_client(
    tmp_path: Path, args: list[str]
) -> None:
    code, loaded, output = imported_by(tmp_path, *args)

    assert code == 0, output
    assert loaded == [], f"reconciler {' '.join(args)} imported {loaded}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("service")
    example = {
        str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*") if p.is_file()
    }
    remote = Remote(root / "git", files=example)
    with Running(settings(root, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"], timeout=60)
        yield running


def test_the_client_commands_load_no_service_and_no_kubernetes_client(
    tmp_path: Path, service: Running
) -> None:
    server = ["--server", service.url]
    fired = imported_by(tmp_path, "fire", str(EXAMPLE / "alerts" / "Watchdog.json"), *server)
    assert fired[:2] == (0, []), fired[2]
    (execution,) = wait_for(service.executions)
    commands = [
        ["executions", "list", *server],
        ["executions", "list", "-o", "json", *server],
        ["executions", "show", execution["id"], *server],
        ["status", *server],
        ["suspend", *server],
        ["unsuspend", *server],
    ]
    for args in commands:
        code, loaded, output = imported_by(tmp_path, *args)

        assert code == 0, f"reconciler {' '.join(args)}: {output}"
        assert loaded == [], f"reconciler {' '.join(args)} imported {loaded}"
