"""`reconciler run` end to end: a real Git remote on disk, real HTTP, the SQLite store."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from servicekit import Remote, Running, alert, fixture_files, payload, settings, wait_for

from reconciler.app.auth import Tokens

BROKEN = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: broken}
spec:
  steps:
    - {id: a, action: core.set, with: {}, needs: [missing]}
"""


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def succeeded(running: Running, execution_id: str) -> bool:
    return running.execution(execution_id)["status"] == "succeeded"


# -- the Git reconcile loop ------------------------------------------------------------------


def test_a_valid_push_is_activated_and_status_reports_it(tmp_path: Path, remote: Remote) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        pushed = remote.commit({"note.yaml": "# a comment only\n"}, "second commit")
        wait_for(lambda: running.status()["active_revision"] == pushed)
        status = running.status()
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert (ready["status"], ready["reason"]) == ("True", "Succeeded")
        assert status["errors"] == [] and status["last_sync"]


def test_an_invalid_push_keeps_the_last_good_revision_and_status_shows_why(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        good = wait_for(lambda: running.status()["active_revision"])
        bad = remote.commit({"broken.yaml": BROKEN}, "a broken workflow")
        status = wait_for(lambda: (s := running.status())["errors"] and s)
        assert status["last_attempted_revision"] == bad
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert status["active_revision"] == good
        assert (ready["status"], ready["reason"]) == ("False", "ValidationFailed")
        assert any("broken.yaml" in e and "missing" in e for e in status["errors"])
        # Alerts still run on the last good revision.
        assert running.fire(alert("Quick", "web-1")).status_code == 200
        running.settled()
        (execution,) = running.executions(policy="quick")
        assert execution["revision"] == good
        fixed = remote.commit({"broken.yaml": None}, "remove it")
        wait_for(lambda: running.status()["active_revision"] == fixed)
        assert running.status()["errors"] == []


def test_a_force_push_becomes_the_new_desired_state_with_allow_rewind(
    tmp_path: Path, remote: Remote
) -> None:
    # Without allow_rewind it is refused: test_service_git_trust.py.
    with Running(settings(tmp_path, remote.url, allow_rewind=True)) as running:
        wait_for(lambda: running.status()["active_revision"])
        files = fixture_files()
        files["policies.yaml"] = files["policies.yaml"].replace('"Quick"', '"Renamed"')
        rewritten = remote.force_push(files, "history rewritten")
        wait_for(lambda: running.status()["active_revision"] == rewritten)
        running.fire(alert("Renamed", "web-2"))
        running.settled()
        assert [e["policy"] for e in running.executions()] == ["quick"]


def test_alerts_received_before_any_revision_is_active_are_matched_once_one_is(
    tmp_path: Path,
) -> None:
    broken = Remote(tmp_path / "git", files={"broken.yaml": BROKEN})
    with Running(settings(tmp_path, broken.url)) as running:
        wait_for(lambda: running.status()["errors"])  # nothing valid: no revision is active
        assert running.client.get("/readyz").status_code == 200  # ready all the same
        assert running.fire(alert("Quick", "early")).status_code == 200
        assert running.status()["active_revision"] is None and running.executions() == []
        broken.commit({**fixture_files(), "broken.yaml": None}, "definitions fixed")
        (execution,) = wait_for(lambda: running.executions(policy="quick"))
        wait_for(lambda: succeeded(running, execution["id"]))


# -- intake ----------------------------------------------------------------------------------


def test_ten_concurrent_identical_deliveries_start_exactly_one_execution(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        body = payload(alert("Quick", "web-1"))
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            answers = list(
                pool.map(lambda _: running.client.post("/api/v1/alerts", json=body), range(10))
            )
        assert [a.status_code for a in answers] == [200] * 10
        assert sum(a.json()["repeats"] for a in answers) == 9
        running.settled()
        (execution,) = running.executions()
        wait_for(lambda: succeeded(running, execution["id"]))
        metrics = running.client.get("/metrics").text
        assert 'reconciler_alerts_received_total{status="firing"} 10.0' in metrics
        assert "reconciler_alerts_deduplicated_total" in metrics


def test_the_webhook_refuses_bad_tokens_large_bodies_and_malformed_payloads(
    tmp_path: Path, remote: Remote
) -> None:
    webhook = Tokens({"alertmanager": "s3cret-token"})
    with Running(settings(tmp_path, remote.url), webhook=webhook) as running:
        body = payload(alert("Quick"))
        assert running.client.post("/api/v1/alerts", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert running.client.post("/api/v1/alerts", json=body, headers=wrong).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert running.client.post("/api/v1/alerts", json=body, headers=good).status_code == 200
        raw = {**good, "Content-Type": "application/json"}
        huge = running.client.post(
            "/api/v1/alerts", content=b"[" + b" " * (1024 * 1024 + 1) + b"]", headers=raw
        )
        assert huge.status_code == 413
        not_json = running.client.post("/api/v1/alerts", content=b"{nope", headers=raw)
        assert not_json.status_code == 422 and "not JSON" in not_json.json()["detail"]
        no_labels = running.client.post(
            "/api/v1/alerts", json=payload({"status": "firing", "labels": {}}), headers=good
        )
        assert no_labels.status_code == 422 and "labels" in no_labels.json()["detail"]
        old = {**body, "version": "3"}
        answer = running.client.post("/api/v1/alerts", json=old, headers=good)
        assert answer.status_code == 422 and "version" in answer.json()["detail"]
        bare = running.client.post(
            "/api/v1/alerts", json=[{"labels": {"alertname": "Quick", "pod": "p"}}], headers=good
        )
        assert bare.status_code == 200  # amtool's bare list of alerts


def test_a_resolved_alert_cancels_what_it_started_under_on_resolved_cancel(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Slow", "db-0"))
        running.settled()
        (execution,) = running.executions(policy="slow")
        running.fire(alert("Slow", "db-0", status="resolved"))
        wait_for(lambda: running.execution(execution["id"])["status"] == "cancelled")
        decisions = [d["decision"] for d in running.decisions("Slow")]
        assert decisions == ["started", "cancelled"]
        (stored,) = running.client.get("/api/v1/alerts", params={"status": "resolved"}).json()
        assert stored["ends_at"] == "2026-01-01T11:00:00Z"  # kept for effectiveness tracking


def test_cooldown_circuit_and_concurrency_are_decided_and_recorded(
    tmp_path: Path, remote: Remote
) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        # cooldown: a new firing (new startsAt) of the same target within the hour is refused
        running.fire(alert("Cool", "a", starts_at="2026-01-01T10:00:00Z"))
        running.settled()
        (first,) = running.executions(policy="cool")
        wait_for(lambda: succeeded(running, first["id"]))
        running.fire(alert("Cool", "a", starts_at="2026-01-01T10:05:00Z"))
        running.settled()
        cool = running.decisions("Cool")
        assert [d["decision"] for d in cool] == ["started", "refused"]
        assert cool[1]["reason"].startswith("cooldown")
        # circuit: past max_executions the execution waits for an approval
        running.fire(alert("Circuit", "b", starts_at="2026-01-01T10:00:00Z"))
        running.settled()
        wait_for(lambda: succeeded(running, running.executions(policy="circuit")[0]["id"]))
        running.fire(alert("Circuit", "b", starts_at="2026-01-01T10:05:00Z"))
        running.settled()
        circuit = running.decisions("Circuit")
        assert [d["decision"] for d in circuit] == ["started", "awaiting_approval"]
        gated = running.execution(circuit[1]["execution"])
        assert gated["status"] == "waiting_approval" and "circuit open" in gated["reason"]
        # concurrency: one running execution of the policy at a time
        running.fire(alert("Limited", "c1"), alert("Limited", "c2"))
        running.settled()
        limited = running.decisions("Limited")
        assert [d["decision"] for d in limited] == ["started", "refused"]
        assert limited[1]["reason"].startswith("max_concurrent")
        # a refused alert is evaluated again when it is delivered again
        running.fire(alert("Limited", "c2"))
        running.settled()
        assert len(running.decisions("Limited")) == 3


def test_suspend_holds_in_flight_work_and_refuses_new_alerts_until_unsuspended(
    tmp_path: Path, remote: Remote
) -> None:
    api = Tokens({"alice": "alice-token"})
    with Running(settings(tmp_path, remote.url), api=api) as running:
        wait_for(lambda: running.status()["active_revision"])
        headers = {"Authorization": "Bearer alice-token"}
        running.fire(alert("Gated", "w"))
        running.settled()
        (gated,) = running.executions(policy="gated")
        anonymous = httpx.post(f"{running.url}/api/v1/suspend", json={})
        assert anonymous.status_code == 401
        answer = running.client.post(
            "/api/v1/suspend", json={"reason": "incident"}, headers=headers
        )
        assert answer.json()["suspended"]["reason"] == "suspended by alice: incident"
        running.fire(alert("Quick", "new"))
        running.settled()
        refused = running.decisions("Quick")
        assert [d["decision"] for d in refused] == ["refused"]
        assert "suspended by alice" in refused[0]["reason"]
        running.client.post(f"/api/v1/executions/{gated['id']}/approve", json={}, headers=headers)
        wait_for(lambda: running.execution(gated["id"])["status"] == "paused")
        assert running.execution(gated["id"])["reason"] == "suspended by alice: incident"
        assert running.status()["suspended"]["by"] == "alice"
        assert "reconciler_suspended 1.0" in running.client.get("/metrics").text
        running.client.post("/api/v1/unsuspend", json={}, headers=headers)
        wait_for(lambda: succeeded(running, gated["id"]))
        view = running.execution(gated["id"])
        (ask,) = [s for s in view["steps"] if s["key"] == "ask"]
        assert ask["approval"]["by"] == "alice"  # the token's name is recorded


def test_a_restart_mid_execution_resumes_it(tmp_path: Path, remote: Remote) -> None:
    config = settings(tmp_path, remote.url)
    with Running(config) as running:
        wait_for(lambda: running.status()["active_revision"])
        running.fire(alert("Nap", "n"))
        running.settled()
        (execution,) = running.executions(policy="nap")
        wait_for(
            lambda: any(
                s["key"] == "nap" and s["phase"] == "running"
                for s in running.execution(execution["id"])["steps"]
            )
        )
    with Running(config) as again:  # the same state directory: a restarted process
        wait_for(lambda: succeeded(again, execution["id"]))
        steps = {s["key"]: s for s in again.execution(execution["id"])["steps"]}
        assert steps["first"]["attempts"] == 1  # completed before the restart: not run again
        assert steps["last"]["phase"] == "succeeded"
        # Re-delivering the alert after the restart starts nothing new.
        again.fire(alert("Nap", "n"))
        again.settled()
        assert len(again.executions(policy="nap")) == 1


def test_health_readiness_metrics_and_openapi(tmp_path: Path, remote: Remote) -> None:
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"])
        assert running.client.get("/healthz").json() == {"status": "ok"}
        assert running.client.get("/readyz").json()["ready"] is True
        metrics = running.client.get("/metrics").text
        for name in (
            "reconciler_alerts_received_total",
            "reconciler_executions_started_total",
            "reconciler_step_duration_seconds",
            "reconciler_reconcile_duration_seconds",
            "reconciler_revision_info",
            "reconciler_ready 1.0",
        ):
            assert name in metrics
        paths = running.client.get("/openapi.json").json()["paths"]
        assert {"/api/v1/alerts", "/api/v1/executions/{execution_id}/{operation}"} <= set(paths)
