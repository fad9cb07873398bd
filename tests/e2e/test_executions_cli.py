"""``reconciler executions list|show|watch`` against a running service (real HTTP, the SQLite
store): an execution a person reads, with times in a named zone, attempts, approvals, outputs
and captured logs; ``watch`` followed to the end; filters; errors as JSON with ``-o json``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servicekit import GIT_ENV, Remote, Running, alert, settings, wait_for
from typer.testing import CliRunner, Result

from reconciler.app.auth import Tokens
from reconciler.cli import app

SHOW = Path(__file__).resolve().parents[1] / "fixtures" / "service-show" / "show.yaml"
runner = CliRunner()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test, so that times name a zone the test can expect."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def running(tmp_path: Path, utc: None) -> Iterator[Running]:
    remote = Remote(tmp_path / "git", files={"show.yaml": SHOW.read_text()})
    with Running(settings(tmp_path, remote.url), api=Tokens({"alice": "alice-token"})) as service:
        wait_for(lambda: service.status()["active_revision"])
        yield service


def cli(running: Running, *args: str) -> Result:
    env = {"RECONCILER_SERVER": running.url, "RECONCILER_TOKEN": "alice-token"}
    return runner.invoke(app, list(args), env=env)


def started(running: Running, tmp_path: Path) -> dict[str, Any]:
    fired = alert("Show", "web-1")
    fired["labels"]["marker"] = str(tmp_path / "marker")
    assert running.fire(fired).status_code == 200
    (execution,) = wait_for(lambda: running.executions(status="waiting_approval"), timeout=30)
    return execution


def test_show_reads_as_steps_in_workflow_order_with_attempts_times_and_approvals(
    running: Running, tmp_path: Path
) -> None:
    execution = started(running, tmp_path)
    shown = cli(running, "executions", "show", execution["id"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    # Workflow order, the pending step included (not alphabetical: zz_flaky is declared first).
    rows = [line.split()[0] for line in lines if re.match(r"(zz_flaky|ask|speak)\s", line)]
    assert rows == ["zz_flaky", "ask", "speak"]
    assert re.search(r"created:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", shown.stdout)
    assert "STARTED (UTC)" in shown.stdout
    # The step succeeded on its second attempt: its own row shows no error, its attempts do.
    (flaky,) = [line for line in lines if line.startswith("zz_flaky")]
    assert "succeeded" in flaky and "exited with 3" not in flaky
    (first,) = [line for line in lines if line.strip().startswith("attempt 1")]
    assert "failed" in first and "exited with 3: boom" in first
    assert re.search(r"\d\d:\d\d:\d\d\s+\d+(ms|\.\ds)", first)  # when, and for how long
    (second,) = [line for line in lines if line.strip().startswith("attempt 2")]
    assert "succeeded" in second

    approved = cli(
        running, "executions", "approve", execution["id"], "--comment", "looked at the logs"
    )
    assert approved.exit_code == 0, approved.output
    wait_for(lambda: running.execution(execution["id"])["status"] == "succeeded", timeout=30)
    shown = cli(running, "executions", "show", execution["id"])
    assert re.search(
        r'approved step ask by alice at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: "looked at the logs"',
        shown.stdout,
    )
    assert re.search(r"finished: .* UTC \(took \d+", shown.stdout)
    # Outputs as YAML, not a Python dict.
    assert "outputs:" in shown.stdout and "    attempts: 2" in shown.stdout
    assert "{'" not in shown.stdout
    assert "--- speak: stdout" not in shown.stdout  # logs only when asked
    logs = cli(running, "executions", "show", execution["id"], "--logs")
    assert "--- speak: stdout\nhello\n--- speak: stderr\ncareful" in logs.stdout

    view = json.loads(cli(running, "executions", "show", execution["id"], "-o", "json").stdout)
    (flaky_view,) = [s for s in view["steps"] if s["key"] == "zz_flaky"]
    assert flaky_view["error"] is None
    assert [a["outcome"] for a in flaky_view["attempt_history"]] == ["failed", "succeeded"]
    assert all(a["started_at"] and a["finished_at"] for a in flaky_view["attempt_history"])
    assert view["approvals"][0]["by"] == "alice"


def test_watch_follows_an_execution_until_it_ends(running: Running, tmp_path: Path) -> None:
    execution = started(running, tmp_path)
    env = {**GIT_ENV, "RECONCILER_SERVER": running.url, "RECONCILER_TOKEN": "alice-token"}
    watch = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "executions", "watch", execution["id"],
         "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "TZ": "UTC"},
    )  # fmt: skip
    try:
        # Still watching while the execution waits for a person.
        with pytest.raises(subprocess.TimeoutExpired):
            watch.wait(timeout=0.5)
        running.client.post(f"/api/v1/executions/{execution['id']}/approve", json={})
        out, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    assert watch.returncode == 0, err
    # Off a terminal, the final state is printed once.
    assert f"{execution['id']}  succeeded" in out
    assert re.search(r"speak\s+succeeded", out)


def test_list_filters_by_target_alert_and_time_and_refuses_an_unknown_status(
    running: Running, tmp_path: Path
) -> None:
    execution = started(running, tmp_path)

    def ids(*filters: str) -> list[str]:
        listed = cli(running, "executions", "list", "-o", "json", *filters)
        assert listed.exit_code == 0, listed.output
        return [row["id"] for row in json.loads(listed.stdout)]

    assert ids("--target", "web-1") == [execution["id"]]
    assert ids("--target", "web-2") == []
    assert ids("--alert", "Show") == [execution["id"]]
    assert ids("--alert", "Other") == []
    assert ids("--since", "1h") == [execution["id"]]
    assert ids("--since", "2999-01-01T00:00:00Z") == []
    assert ids("--status", "waiting_approval") == [execution["id"]]
    table = cli(running, "executions", "list")
    assert "CREATED (UTC)" in table.stdout and execution["id"] in table.stdout

    unknown = cli(running, "executions", "list", "--status", "bogus")
    assert unknown.exit_code == 2 and "waiting_approval" in unknown.stderr
    bad_time = cli(running, "executions", "list", "--since", "yesterday")
    assert bad_time.exit_code == 2 and "--since" in bad_time.stderr
    # The API refuses an unknown status too, rather than listing nothing.
    assert running.client.get("/api/v1/executions", params={"status": "bogus"}).status_code == 422


def test_with_json_output_errors_are_json_too(running: Running) -> None:
    missing = cli(running, "executions", "show", "no-such-execution", "-o", "json")
    assert missing.exit_code == 2
    error = json.loads(missing.stdout)
    assert "404" in error["error"] and error["exit_code"] == 2
    text = cli(running, "executions", "show", "no-such-execution")
    assert text.exit_code == 2 and text.stdout == "" and "404" in text.stderr
