"""The service as the README runs it: `reconciler run` as a process, driven by the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from servicekit import GIT_ENV, Remote, wait_for

ROOT = Path(__file__).resolve().parents[2]
WATCHDOG = ROOT / "example-repo" / "alerts" / "Watchdog.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_run_fire_and_operate_executions_from_the_command_line(tmp_path: Path) -> None:
    example = {
        str(p.relative_to(ROOT / "example-repo")): p.read_text()
        for p in (ROOT / "example-repo").rglob("*")
        if p.is_file()
    }
    remote = Remote(tmp_path / "git", files=example)
    port = free_port()
    (tmp_path / "tokens").write_text("# name: token\nalice: alice-secret\n")
    (tmp_path / "alice").write_text("alice-secret\n")
    env = {
        **GIT_ENV,
        "RECONCILER_SERVER": f"http://127.0.0.1:{port}",
        "RECONCILER_INTERVAL": "0.5",
        # With tokens set, reads need one too (they show alerts, outputs and approvals).
        "RECONCILER_TOKEN_FILE": str(tmp_path / "alice"),
    }
    # The service's log goes to a file: a pipe nobody reads fills up (64 KiB) on a slow machine
    # and blocks the service at its next log line.
    log = (tmp_path / "service.log").open("w")
    service = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "run",
            "--repo", remote.url,
            "--state-dir", str(tmp_path / "state"),
            "--listen", f"127.0.0.1:{port}",
            "--api-token-file", str(tmp_path / "tokens"),
            "--cluster", "none",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        status_url = f"http://127.0.0.1:{port}/api/v1/status"

        def active() -> str | None:
            try:
                answer = httpx.get(status_url, headers={"Authorization": "Bearer alice-secret"})
                revision: str | None = answer.json()["active_revision"]
            except httpx.HTTPError:
                return None
            return revision

        wait_for(active, timeout=60)
        fired = cli("fire", str(WATCHDOG), env=env)
        assert fired.returncode == 0, fired.stderr
        assert "sent 1 alert(s)" in fired.stdout

        def listed() -> list[dict[str, str]]:
            rows: list[dict[str, str]] = json.loads(
                cli("executions", "list", "-o", "json", env=env).stdout
            )
            return [r for r in rows if r["status"] == "succeeded"]

        (execution,) = wait_for(listed)
        assert (execution["workflow"], execution["target"]) == (
            "watchdog-heartbeat",
            "monitoring/kube-prometheus-stack-prometheus",
        )
        shown = cli("executions", "show", execution["id"], env=env)
        assert "heartbeat" in shown.stdout and "succeeded" in shown.stdout
        table = cli("executions", "list", env=env)
        assert execution["id"] in table.stdout

        # A policy whose workflow needs a cluster fails clearly, never silently.
        crashloop = ROOT / "example-repo" / "alerts" / "KubePodCrashLooping.json"
        assert cli("fire", str(crashloop), env=env).returncode == 0
        # An alert made of labels, as amtool does: a second Prometheus's Watchdog.
        made = cli("fire", "--label", "alertname=Watchdog", "--label", "prometheus=dr/k8s", env=env)
        assert made.returncode == 0, made.stderr

        def failed() -> list[dict[str, str]]:
            done = cli("executions", "list", "-o", "json", env=env)
            assert done.returncode == 0, done.stderr
            rows = json.loads(done.stdout)
            return [r for r in rows if r["status"] == "failed"]

        (broken,) = wait_for(failed)
        assert "no cluster configured" in broken["error"]
        wait_for(lambda: len(listed()) == 2)  # the label-made Watchdog ran too

        # Control and reads need the token; the kill switch records who pulled it.
        tokenless = {k: v for k, v in env.items() if k != "RECONCILER_TOKEN_FILE"}
        for command in (("suspend", "--reason", "maintenance"), ("status",)):
            refused = cli(*command, env=tokenless)
            assert refused.returncode == 2 and "401" in refused.stderr
            assert "RECONCILER_TOKEN_FILE" in refused.stderr  # what to do about it
        assert cli("suspend", "--reason", "maintenance", env=env).returncode == 0
        status = cli("status", env=env)
        assert "SUSPENDED suspended by alice: maintenance" in status.stdout
        assert "Ready=True" in status.stdout
        assert cli("unsuspend", env=env).returncode == 0
        assert "SUSPENDED" not in cli("status", env=env).stdout
        missing = cli("executions", "approve", "no-such-execution", env=env)
        assert missing.returncode == 2 and "404" in missing.stderr
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()
    output = (tmp_path / "service.log").read_text()
    assert "alice-secret" not in output  # tokens never reach the logs
    # uvicorn shuts down gracefully on SIGTERM, then exits by that signal.
    assert service.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert '"event": "service stopped"' in output


def test_a_client_without_a_service_gets_a_clear_error() -> None:
    env = {**os.environ, "RECONCILER_SERVER": f"http://127.0.0.1:{free_port()}"}
    result = cli("status", env=env)
    assert result.returncode == 2
    assert "cannot reach the service" in result.stderr and "reconciler run" in result.stderr
