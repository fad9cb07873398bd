"""Control per step over the API: cancel one waiting step, retry one failed step; pause and
resume apply to a whole execution and refuse a step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from servicekit import Remote, Running, alert, settings, wait_for


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def step(view: dict, key: str) -> dict:
    (found,) = [s for s in view["steps"] if s["key"] == key]
    return found


def test_one_step_is_cancelled_and_retried_through_the_api(tmp_path: Path, remote: Remote) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Gated", "s1"))
        running.settled()
        (gated,) = running.executions(policy="gated")
        url = f"/api/v1/executions/{gated['id']}"
        wait_for(lambda: running.execution(gated["id"])["status"] == "waiting_approval")
        paused = running.client.post(f"{url}/pause", json={"step": "ask"})
        assert paused.status_code == 409
        assert "pause applies to a whole execution: send no step" in paused.json()["detail"]
        cancelled = running.client.post(f"{url}/cancel", json={"step": "ask"})
        assert cancelled.status_code == 200, cancelled.text
        wait_for(lambda: running.execution(gated["id"])["status"] == "failed")
        view = running.execution(gated["id"])
        assert step(view, "ask")["error"].startswith("cancelled by ")
        assert step(view, "act")["phase"] == "skipped"
        unknown = running.client.post(f"{url}/retry", json={"step": "act"})
        assert unknown.status_code == 409
        assert "no failed or cancelled step named 'act'" in unknown.json()["detail"]
        assert running.client.post(f"{url}/retry", json={"step": "ask"}).status_code == 200
        wait_for(lambda: running.execution(gated["id"])["status"] == "waiting_approval")
        assert running.client.post(f"{url}/approve", json={"step": "ask"}).status_code == 200
        wait_for(lambda: running.execution(gated["id"])["status"] == "succeeded")


def test_the_cli_cancels_and_retries_one_step(tmp_path: Path, remote: Remote) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Gated", "s2"))
        running.settled()
        (gated,) = running.executions(policy="gated")
        wait_for(lambda: running.execution(gated["id"])["status"] == "waiting_approval")

        options = ("--step", "ask", "--server", running.url, "-o", "json")

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "reconciler", "executions", *args, gated["id"], *options],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        done = cli("cancel")
        assert done.returncode == 0, done.stderr
        assert step(json.loads(done.stdout), "ask")["phase"] == "failed"
        wait_for(lambda: running.execution(gated["id"])["status"] == "failed")
        done = cli("retry")
        assert done.returncode == 0, done.stderr
        wait_for(lambda: running.execution(gated["id"])["status"] == "waiting_approval")
