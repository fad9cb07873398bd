"""A real Alertmanager (Debian's ``prometheus-alertmanager``, 0.25) drives the service.

Alertmanager runs on loopback with second-scale intervals and ``send_resolved: true``; alerts are
posted to its API v2 as Prometheus would. Through its webhook the service must see: a firing
alert start one execution however often it is re-notified, a group of alerts start one each,
a resolution cancel what its firing started, and — as with an HA Prometheus pair, whose earlier
``startsAt`` arrives second and Alertmanager adopts — a resolution whose ``startsAt`` shifted
still find the execution its firing started.

``.ci/run`` installs Alertmanager; elsewhere the test is skipped when it is missing, unless
``RECONCILER_REQUIRE_ALERTMANAGER`` is set (CI sets it: a missing binary fails there).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from servicekit import Remote, Running, fixture_files, settings, wait_for

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
if BINARY is None and not os.environ.get("RECONCILER_REQUIRE_ALERTMANAGER"):
    pytest.skip("prometheus-alertmanager is not installed", allow_module_level=True)

DEFINITIONS = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: hold}
spec:
  params: {pod: {type: string}}
  steps:
    - {id: nap, wait: 10m}
    - {id: done, action: core.log, with: {message: "{{ params.pod }} done"}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: pod-down}
spec:
  match: alert.labels.alertname == "AmPodDown"
  workflow: hold
  params: {pod: "{{ alert.labels.pod }}"}
  target: "{{ alert.labels.pod }}"
  on_resolved: cancel
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Alertmanager:
    """One Alertmanager process on loopback, sending to ``webhook``; stopped by the test."""

    def __init__(self, root: Path, webhook: str) -> None:
        assert BINARY is not None, "prometheus-alertmanager is not installed"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "route": {
                "receiver": "reconciler",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "2s",
            },
            "receivers": [
                {
                    "name": "reconciler",
                    "webhook_configs": [{"url": webhook, "send_resolved": True}],
                }
            ],
        }
        root.mkdir(parents=True, exist_ok=True)
        (root / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.log = (root / "alertmanager.log").open("w")
        self.process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={root / 'alertmanager.yml'}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        wait_for(self._ready, timeout=30)

    def _ready(self) -> bool:
        assert self.process.poll() is None, "alertmanager exited; see alertmanager.log"
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, *alerts: dict[str, Any]) -> None:
        answer = self.http.post("/api/v2/alerts", json=list(alerts))
        assert answer.status_code == 200, answer.text

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def am_alert(pod: str, starts: datetime, *, ends: datetime | None = None) -> dict[str, Any]:
    """An alert as Prometheus posts it to Alertmanager's API v2."""
    data: dict[str, Any] = {
        "labels": {"alertname": "AmPodDown", "pod": pod, "namespace": "prod"},
        "annotations": {"summary": f"{pod} is down"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.example/graph",
    }
    if ends is not None:
        data["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return data


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Running]:
    files = fixture_files()
    files["alertmanager.yaml"] = DEFINITIONS
    remote = Remote(tmp_path / "git", files)
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        yield running


@pytest.fixture
def alertmanager(tmp_path: Path, service: Running) -> Iterator[Alertmanager]:
    manager = Alertmanager(tmp_path / "am", f"{service.url}/api/v1/alerts")
    try:
        yield manager
    finally:
        manager.stop()


def by_pod(running: Running) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for execution in running.executions(policy="pod-down"):
        found.setdefault(running.execution(execution["id"])["params"]["pod"], []).append(execution)
    return found


def deliveries(running: Running, pod: str) -> int:
    alerts = running.client.get("/api/v1/alerts").json()
    return sum(a["deliveries"] for a in alerts if a["labels"].get("pod") == pod)


def status_of(running: Running, pod: str) -> str:
    (execution,) = by_pod(running)[pod]
    status: str = execution["status"]
    return status


def test_a_real_alertmanager_drives_firing_grouping_renotification_and_resolution(
    service: Running, alertmanager: Alertmanager
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    alertmanager.post(*(am_alert(pod, now - timedelta(seconds=30)) for pod in ("a", "b", "c")))
    wait_for(lambda: sorted(by_pod(service)) == ["a", "b", "c"], timeout=30)
    # Re-notified every couple of seconds: each re-delivery starts nothing new.
    wait_for(lambda: deliveries(service, "a") >= 3, timeout=30)
    assert {pod: len(runs) for pod, runs in by_pod(service).items()} == {"a": 1, "b": 1, "c": 1}
    # Resolved (Prometheus sends an endsAt in the past): what it started is cancelled.
    alertmanager.post(am_alert("a", now - timedelta(seconds=30), ends=datetime.now(UTC)))
    wait_for(lambda: status_of(service, "a") == "cancelled", timeout=30)
    assert status_of(service, "b") == status_of(service, "c") == "running"
    (cancelled,) = by_pod(service)["a"]
    decisions = service.decisions("AmPodDown")
    assert any(
        d["decision"] == "cancelled" and d["execution"] == cancelled["id"] for d in decisions
    )


def test_a_resolution_whose_starts_at_shifted_still_cancels_what_its_firing_started(
    service: Running, alertmanager: Alertmanager
) -> None:
    """An HA Prometheus pair: one replica's alert (later startsAt) reaches Alertmanager first;
    the other's earlier startsAt arrives second and Alertmanager adopts it."""
    now = datetime.now(UTC).replace(microsecond=0)
    later, earlier = now - timedelta(seconds=5), now - timedelta(seconds=90)
    alertmanager.post(am_alert("d", later))
    wait_for(lambda: "d" in by_pod(service), timeout=30)
    alertmanager.post(am_alert("d", earlier))
    # Alertmanager re-notifies with the earlier startsAt; it is the same firing.
    shifted = earlier.isoformat().replace("+00:00", "Z")
    wait_for(
        lambda: any(
            shifted in (a.get("reported_starts_at"), a["starts_at"])
            for a in service.client.get("/api/v1/alerts").json()
        ),
        timeout=30,
    )
    alertmanager.post(am_alert("d", earlier, ends=datetime.now(UTC)))
    wait_for(lambda: status_of(service, "d") == "cancelled", timeout=30)
    assert len(by_pod(service)["d"]) == 1
