"""Every execution ends, visibly, through the service: a run-time expression error fails its
step (and frees its target), a call interrupted by a restart waits for a person in every view,
and status and metrics count who waits and what is overdue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from servicekit import Remote, Running, alert, fixture_files, settings, wait_for

TRUST_FLOWS = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: reads-a-label}
spec:
  params: {pod: {type: string}}
  steps:
    - id: check
      if: alert.labels.container == "app"
      action: core.set
      with: {pod: "{{ params.pod }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: reads-a-label}
spec:
  match: alert.labels.alertname == "ReadsALabel"
  workflow: reads-a-label
  params: {pod: "{{ alert.labels.pod }}"}
  target: "{{ alert.labels.pod }}"
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: posts}
spec:
  params: {pod: {type: string}}
  steps:
    - {id: post, action: http.request, with: {method: POST, url: "URL/post", timeout: 1m}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: posts}
spec:
  match: alert.labels.alertname == "Posts"
  workflow: posts
  params: {pod: "{{ alert.labels.pod }}"}
  target: "{{ alert.labels.pod }}"
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: notifies}
spec:
  steps:
    - {id: tell, action: notify.webhook, with: {url: "URL/hook", text: "restarting"}}
    - {id: call, action: http.request, with: {method: POST, url: "URL/post"}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: notifies}
spec:
  match: alert.labels.alertname == "Notifies"
  workflow: notifies
"""


class Stalling(BaseHTTPRequestHandler):
    """Counts POSTs; holds each one until ``release`` is set."""

    arrived = threading.Semaphore(0)
    release = threading.Event()
    posts = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).posts += 1
        type(self).arrived.release()
        type(self).release.wait(timeout=30)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def peer() -> Iterator[str]:
    Stalling.arrived, Stalling.release, Stalling.posts = (
        threading.Semaphore(0),
        threading.Event(),
        0,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        Stalling.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def remote(tmp_path: Path, peer: str) -> Remote:
    files = fixture_files()
    files["trust.yaml"] = TRUST_FLOWS.replace("URL", peer)
    return Remote(tmp_path / "git", files)


def test_a_run_time_expression_error_fails_the_step_and_frees_the_target(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("ReadsALabel", "web-1"))  # no `container` label
        running.settled()
        (first,) = running.executions(policy="reads-a-label")
        failed = wait_for(lambda: (e := running.execution(first["id"]))["status"] == "failed" and e)
        (step,) = failed["steps"]
        assert step["phase"] == "failed"
        assert 'alert.labels.container == "app"' in step["error"]
        assert 'which has no key "container"' in step["error"]
        # The target is free again: the next firing of the alert starts a new execution.
        running.fire(alert("ReadsALabel", "web-1", starts_at="2026-01-01T11:00:00Z"))
        running.settled()
        assert len(running.executions(policy="reads-a-label")) == 2


def test_a_call_interrupted_by_a_restart_waits_for_a_person_in_every_view(
    tmp_path: Path, remote: Remote
) -> None:
    config = settings(tmp_path, remote.url)
    with Running(config) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Posts", "web-1"))
        assert Stalling.arrived.acquire(timeout=15)  # the POST is in flight: stop the service
    with Running(config) as running:
        listed = wait_for(lambda: running.executions(status="waiting_approval"))
        (execution,) = listed
        assert "outcome is unknown" in execution["reason"]
        shown = running.execution(execution["id"])
        assert (shown["status"], shown["reason"]) == ("waiting_approval", execution["reason"])
        assert running.executions(status="running") == []
        status = running.status()
        assert status["waiting_for_a_person"] == 1 and status["overdue"] == 0
        metrics = running.client.get("/metrics").text
        assert 'reconciler_executions{status="waiting_approval"} 1.0' in metrics
        assert "reconciler_executions_overdue 0.0" in metrics
        # The open execution holds its target, and says why in the refusal.
        running.fire(alert("Posts", "web-1", starts_at="2026-01-01T11:00:00Z"))
        running.settled()
        refused = running.decisions("Posts")[-1]
        assert refused["decision"] == "refused"
        assert f"execution {execution['id']}" in refused["reason"]
        assert "waiting_approval" in refused["reason"]
        # Approving sends the POST again.
        Stalling.release.set()
        answer = running.client.post(
            f"/api/v1/executions/{execution['id']}/approve", json={"comment": "not applied"}
        )
        assert answer.status_code == 200
        wait_for(lambda: running.execution(execution["id"])["status"] == "succeeded")
    assert Stalling.posts == 2


def test_the_service_in_dry_run_sends_nothing_and_says_what_it_would_have_sent(
    tmp_path: Path, remote: Remote, peer: str
) -> None:
    with Running(settings(tmp_path, remote.url, dry_run=True)) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Notifies", "web-1"))
        running.settled()
        (listed,) = running.executions(policy="notifies")
        shown = wait_for(
            lambda: (e := running.execution(listed["id"]))["status"] == "succeeded" and e
        )
        assert shown["mode"] == "dry-run"
        outputs = {s["step"]: s["output"] for s in shown["steps"]}
        assert outputs["tell"]["would_have"] == f"would have sent POST {peer}/hook"
        assert outputs["call"]["would_have"] == f"would have sent POST {peer}/post"
        notes = [e for e in shown["timeline"] if e["kind"] == "dry_run"]
        assert [n["key"] for n in notes] == ["tell", "call"]
    assert Stalling.posts == 0
