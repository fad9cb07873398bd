"""`reconciler run` and its store: readiness follows a full disk, and one service per store.

Over real HTTP, with a real full SQLite database (SQLITE_FULL), and with two real
``reconciler run`` processes on one state directory.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import GIT_ENV, Remote, Running, alert, settings, wait_for

from reconciler.cli import controlling

BIG = "x" * 20_000  # an annotation that needs new pages: a full database refuses it


def on_service_loop(running: Running, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` on the service's own event loop (its store's futures belong to it)."""
    loop = running.service.store._loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(work, loop).result(timeout=30)


def metric(running: Running, name: str) -> float:
    for line in running.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_readiness_and_the_webhook_follow_a_full_store_and_recover_without_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = Remote(tmp_path / "git")
    big = alert("Quick", "big")
    big["annotations"]["description"] = BIG
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        assert running.client.get("/readyz").status_code == 200
        assert metric(running, "reconciler_store_writable") == 1

        on_service_loop(running, running.service.store.simulate_full_disk())
        refused = running.fire(big)
        assert refused.status_code == 503  # Alertmanager sends it again
        ready = running.client.get("/readyz")
        assert ready.status_code == 503
        (problem,) = ready.json()["problems"]
        assert "database or disk is full" in problem
        assert str(tmp_path / "state" / "reconciler.db") in problem
        assert running.status()["ready"] is False
        controlling._print_status(running.status())  # what `reconciler status` prints
        assert "STORE CANNOT WRITE database or disk is full" in capsys.readouterr().out
        assert metric(running, "reconciler_store_writable") == 0
        assert metric(running, "reconciler_store_write_failures_total") >= 1
        wait_for(lambda: metric(running, "reconciler_store_write_failures_total") >= 3)
        assert running.client.get("/readyz").status_code == 503  # the probes fail too

        on_service_loop(running, running.service.store.simulate_full_disk(False))
        wait_for(lambda: running.client.get("/readyz").status_code == 200)  # no restart
        assert metric(running, "reconciler_store_writable") == 1
        assert running.fire(big).status_code == 200
        (execution,) = wait_for(lambda: running.executions(policy="quick"))
        wait_for(lambda: running.execution(execution["id"])["status"] == "succeeded")


def test_a_second_service_on_the_same_state_directory_refuses_to_start(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "git")
    state = tmp_path / "state"

    def start() -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "run",
                "--repo", remote.url,
                "--state-dir", str(state),
                "--listen", f"127.0.0.1:{port}",
                "--cluster", "none",
            ],
            env=GIT_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        return process, f"http://127.0.0.1:{port}/readyz"

    def ready(process: subprocess.Popen[str], url: str) -> bool:
        assert process.poll() is None, "the service exited"
        try:
            return httpx.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    first, url = start()
    try:
        wait_for(lambda: ready(first, url), 60)
        second, _ = start()
        try:
            output, _ = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
        assert second.returncode != 0
        assert f"pid {first.pid} on host" in output, output[-2000:]
        assert "stop it, or give this one another --state-dir" in output
        assert ready(first, url)  # the first one is untouched
    finally:
        first.terminate()
        first_output, _ = first.communicate(timeout=30)
    assert '"event": "service stopped"' in first_output
    assert not (state / "reconciler.db.lock").read_text()  # stopped: nobody holds it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
