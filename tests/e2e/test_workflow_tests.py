"""`reconciler test` as a user runs it: the example repository, a failing test, -k, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REPO = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: page}
spec:
  params: {service: {type: string}}
  steps:
    - id: page
      action: notify.webhook
      with: {url: "{{ secret('oncall', 'url') }}", text: "{{ params.service }} is down"}
      retry: {limit: 2, backoff: 1m}
  outputs: {paged: steps.page.status == "succeeded"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: page-on-down}
spec:
  match: alert.labels.alertname == "ServiceDown"
  workflow: page
  params: {service: "{{ alert.labels.service }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: pages-once}
spec:
  alerts: [{labels: {alertname: ServiceDown, service: shop}}]
  secrets: {oncall: {url: "https://hooks.example/secret-path"}}
  mocks: {notify.webhook: {output: {status: 200}}}
  expect:
    executions: [{policy: page-on-down, status: succeeded}]
    actions: [notify.webhook]
    outputs: {paged: true}
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: expects-the-wrong-thing}
spec:
  alerts: [{labels: {alertname: ServiceDown, service: shop}}]
  secrets: {oncall: {url: "https://hooks.example/secret-path"}}
  mocks: {notify.webhook: {error: webhook down}}
  expect:
    executions: [{policy: page-on-down, status: succeeded}]
    outputs: {paged: true}
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: unmocked-calls-fail}
spec:
  alerts: [{labels: {alertname: ServiceDown, service: shop}}]
  secrets: {oncall: {url: "https://hooks.example/secret-path"}}
  expect:
    executions: [{policy: page-on-down, status: failed}]
"""


def reconciler(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_every_example_repository_test_passes_the_cluster_ones_on_a_simulated_cluster() -> None:
    result = reconciler("test", "example-repo")
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    passed, failed, skipped = (int(part.split()[0]) for part in last.split(", "))
    assert (failed, skipped) == (0, 0) and passed >= 30, last


def test_a_failing_test_is_explained_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    result = reconciler("test", tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.endswith("::pages-once PASSED") for line in lines)
    assert any(line.endswith("::expects-the-wrong-thing FAILED") for line in lines)
    assert any(
        "expect.executions[0].status: expected succeeded, got failed" in line for line in lines
    )
    assert any("expect.outputs.paged: expected True, got False" in line for line in lines)
    assert lines[-1] == "2 passed, 1 failed, 0 skipped"


def test_k_selects_tests_by_name_and_json_reports_actions_without_secrets(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    result = reconciler("test", tmp_path, "-k", "pages", "-o", "json")
    assert result.returncode == 0
    (report,) = json.loads(result.stdout)
    assert report["name"] == "pages-once" and report["outcome"] == "passed"
    assert report["actions"] == ["notify.webhook"]
    assert "secret-path" not in result.stdout


def test_an_unmocked_call_to_the_outside_fails_its_step_clearly(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    result = reconciler("test", tmp_path, "-k", "unmocked", "-o", "json")
    (report,) = json.loads(result.stdout)
    assert report["outcome"] == "passed"
    assert "notify.webhook is not mocked" in report["executions"][0]["error"]


GUARDED = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: restart-service}
spec:
  params: {env: {type: string}}
  steps:
    - id: restart
      action: http.request
      with: {method: POST, url: "https://deploy.example/restart?env={{ params.env }}"}
    - {id: after, action: core.log, with: {message: done}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: restart-on-down}
spec:
  match: alert.labels.alertname == "ServiceDown"
  workflow: restart-service
  params: {env: "{{ alert.labels.env }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Guardrail
metadata: {name: environments}
spec:
  rules:
    - name: never-touch-payments
      deny: action.params.url.contains("env=payments")
      message: payments is managed by hand
    - name: prod-needs-a-person
      deny: action.params.url.contains("env=prod")
      effect: approve
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: denied-in-payments}
spec:
  alerts: [{labels: {alertname: ServiceDown, env: payments}}]
  mocks: {http.request: {output: {status: 200}}}
  expect:
    executions: [{policy: restart-on-down, status: failed}]
    steps: {restart: failed, after: skipped}
    not_actions: [http.request]
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: prod-waits-for-approval}
spec:
  alerts: [{labels: {alertname: ServiceDown, env: prod}}]
  mocks: {http.request: {output: {status: 200}}}
  approvals: [{step: restart, by: alice}]
  expect:
    executions: [{policy: restart-on-down, status: succeeded}]
    actions: [http.request, core.log]
"""


def test_guardrail_rules_deny_or_gate_mutating_actions_in_workflow_tests(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(GUARDED)
    result = reconciler("test", tmp_path, "-o", "json")
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert reports["denied-in-payments"]["outcome"] == "passed", reports["denied-in-payments"][
        "failures"
    ]
    assert (
        "denied by guardrail: environments/never-touch-payments: payments is managed by hand"
        in (reports["denied-in-payments"]["executions"][0]["error"])
    )
    assert reports["prod-waits-for-approval"]["outcome"] == "passed", reports[
        "prod-waits-for-approval"
    ]["failures"]


DRY_RUN = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: rehearse}
spec:
  steps:
    - {id: tell, action: notify.webhook, with: {url: "https://hooks.example/x", text: hi}}
    - {id: run, action: shell, with: {command: [/usr/bin/touch, /tmp/never]}}
    - {id: note, action: core.log, with: {message: done}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: rehearse}
spec:
  match: alert.labels.alertname == "Rehearse"
  workflow: rehearse
  mode: dry-run
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: dry-run-calls-nothing-outside}
spec:
  alerts: [{labels: {alertname: Rehearse}}]
  mocks: {notify.webhook: {output: {status: 200}}, shell: {output: {exit_code: 0}}}
  expect:
    executions: [{policy: rehearse, status: succeeded}]
    steps: {tell: succeeded, run: succeeded, note: succeeded}
    actions: [core.log]
    not_actions: [notify.webhook, shell]
    exact: true
"""


def test_dry_run_calls_not_even_the_mocks_of_actions_that_reach_outside(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(DRY_RUN)
    result = reconciler("test", tmp_path, "-o", "json")
    (report,) = json.loads(result.stdout)
    assert report["outcome"] == "passed", report["failures"]
    assert report["actions"] == ["core.log"]


ONE_PATH = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: hold}
spec:
  params: {who: {type: string, default: ""}}
  steps:
    - {id: nap, wait: 10m}
    - {id: done, action: core.log, with: {message: done}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: per-pod}
spec:
  match: alert.labels.alertname == "PodSlow"
  workflow: hold
  target: "{{ alert.labels.pod }}"
  on_resolved: cancel
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: broken-params}
spec:
  match: alert.labels.alertname == "PodSlow"
  workflow: hold
  params: {who: "{{ alert.labels.team }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: another-alert-resolving-does-not-cancel-this-one}
spec:
  alerts:
    - {labels: {alertname: PodSlow, pod: web-1, container: app}}
    - {labels: {alertname: PodSlow, pod: web-1, container: sidecar}, at: 1m}
    - {labels: {alertname: PodSlow, pod: web-1, container: app}, at: 2m}
    - {labels: {alertname: PodSlow, pod: web-1, container: sidecar}, status: resolved, at: 3m}
  expect:
    executions: [{policy: per-pod, status: succeeded}]
    actions: [core.log]
"""


def test_workflow_tests_decide_through_the_service_intake(tmp_path: Path) -> None:
    """One decision path: a resolved alert cancels only what it started; a repeat of a firing
    alert is a re-delivery; a policy whose params fail to render records an error decision."""
    (tmp_path / "repo.yaml").write_text(ONE_PATH)
    result = reconciler("test", tmp_path, "-o", "json")
    (report,) = json.loads(result.stdout)
    assert report["outcome"] == "passed", report["failures"]
    decisions = [(d["policy"], d["decision"]) for d in report["decisions"]]
    assert decisions.count(("per-pod", "started")) == 1
    assert ("per-pod", "refused") in decisions  # the sidecar's alert: web-1 is taken
    assert ("per-pod", "cancelled") not in decisions
    errors = [d for d in report["decisions"] if d["decision"] == "error"]
    assert errors and all(d["policy"] == "broken-params" for d in errors)
    assert "team" in errors[0]["reason"]


def test_an_alert_with_a_label_over_64_kib_records_an_error_decision(tmp_path: Path) -> None:
    # Issue 10, finding 3: such an alert matched no policy and recorded no decision.
    huge = "x" * (65 * 1024)
    (tmp_path / "repo.yaml").write_text(
        REPO.split("---\napiVersion: reconciler.dev/v1alpha1\nkind: WorkflowTest")[0]
        + "---\napiVersion: reconciler.dev/v1alpha1\nkind: WorkflowTest\n"
        + "metadata: {name: huge-label}\nspec:\n"
        + f"  alerts: [{{labels: {{alertname: ServiceDown, service: shop, blob: {huge}}}}}]\n"
        + "  expect: {executions: []}\n"
    )
    result = reconciler("test", tmp_path, "-o", "json")
    (report,) = json.loads(result.stdout)
    assert [(d["policy"], d["decision"]) for d in report["decisions"]] == [
        ("page-on-down", "error")
    ]
    assert report["decisions"][0]["reason"] == (
        "the alert was not evaluated: alert.labels.blob holds a string of 66560 characters; "
        "the limit is 65536"
    )


def test_waits_inside_actions_run_on_the_fake_clock() -> None:
    """wait_ready with timeout 20s, retried after 5m: the execution ends 20s + 5m + 20s after
    the alert on the test's clock (a wait on the real clock would leave the fake one behind)."""
    result = reconciler("test", ROOT / "tests/fixtures/repos/wait-ready", "-o", "json")
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    timed_out = reports["a-pod-that-never-gets-ready-times-out"]
    assert timed_out["outcome"] == "passed", timed_out["failures"]
    (execution,) = timed_out["executions"]
    assert execution["error"] == (
        "step ready failed: Pod prod/web-1 not ready after 20s: Ready is not True (ContainersNotReady)"
    )
    assert execution["started_at"] == "2026-01-01T00:00:00.000000Z"
    assert execution["finished_at"] == "2026-01-01T00:05:40.000000Z"
    ready = reports["a-ready-pod-is-ready-at-once"]
    assert ready["outcome"] == "passed", ready["failures"]
    assert ready["executions"][0]["finished_at"] == "2026-01-01T00:00:00.000000Z"
    step_timeout = reports["the-step-timeout-ends-the-wait"]
    assert step_timeout["outcome"] == "passed", step_timeout["failures"]
    (execution,) = step_timeout["executions"]
    assert execution["error"] == "step ready failed: timed out after 30s"
    assert execution["finished_at"] == "2026-01-01T00:00:30.000000Z"
    assert result.returncode == 0


def test_k_that_matches_no_test_fails_like_pytest(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    result = reconciler("test", tmp_path, "-k", "nomatch")
    assert result.returncode != 0
    assert "no tests matched -k nomatch" in result.stderr + result.stdout
    assert "3 tests" in result.stderr + result.stdout  # what there was to choose from
