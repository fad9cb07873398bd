"""The built-in denials hold in `reconciler test` and `reconciler plan`, as in the service:
kube-system is refused whatever the repository's guardrails say, and shell Jobs are off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REPO = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: restart}
spec:
  params: {namespace: {type: string}}
  steps:
    - id: restart
      action: kubernetes.restart_deployment
      with: {namespace: "{{ params.namespace }}", name: dns}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: job}
spec:
  steps:
    - id: job
      action: shell
      with: {command: [cat, /etc/passwd], image: "busybox:1.36", namespace: ops}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: restart-on-down}
spec:
  match: alert.labels.alertname == "Down"
  workflow: restart
  params: {namespace: "{{ alert.labels.namespace }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: job-on-stuck}
spec:
  match: alert.labels.alertname == "Stuck"
  workflow: job
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: kube-system-is-refused}
spec:
  alerts: [{labels: {alertname: Down, namespace: kube-system}}]
  mocks: {kubernetes.restart_deployment: {output: {restarted: true}}}
  expect:
    executions: [{policy: restart-on-down, status: failed}]
    not_actions: [kubernetes.restart_deployment]
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: other-namespaces-are-not}
spec:
  alerts: [{labels: {alertname: Down, namespace: prod}}]
  mocks: {kubernetes.restart_deployment: {output: {restarted: true}}}
  expect:
    executions: [{policy: restart-on-down, status: succeeded}]
    actions: [kubernetes.restart_deployment]
---
apiVersion: reconciler.dev/v1alpha1
kind: WorkflowTest
metadata: {name: shell-jobs-are-off}
spec:
  alerts: [{labels: {alertname: Stuck}}]
  mocks: {shell: {output: {succeeded: true}}}
  expect:
    executions: [{policy: job-on-stuck, status: failed}]
    not_actions: [shell]
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


def test_reconciler_test_holds_to_the_built_in_denials(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(REPO)
    result = reconciler("test", tmp_path, "-o", "json")
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    for name, report in reports.items():
        assert report["outcome"] == "passed", (name, report["failures"])
    error = reports["kube-system-is-refused"]["executions"][0]["error"]
    assert "reconciler/protected-namespaces" in error
    assert "allow_protected_namespaces" in error
    error = reports["shell-jobs-are-off"]["executions"][0]["error"]
    assert "reconciler/shell-jobs" in error and "shell_jobs_enabled" in error


def test_plan_shows_the_built_in_denial(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "repo.yaml").write_text(REPO)
    alert = tmp_path / "alert.yaml"
    alert.write_text("labels: {alertname: Down, namespace: kube-system}\n")
    (plan,) = json.loads(reconciler("plan", "--alert", alert, repo, "-o", "json").stdout)
    (step,) = plan["executions"][0]["steps"]
    (fired,) = step["guardrails"]
    assert (fired["guardrail"], fired["rule"], fired["effect"]) == (
        "reconciler",
        "protected-namespaces",
        "deny",
    )
    text = reconciler("plan", "--alert", alert, repo).stdout
    assert "DENIED by reconciler/protected-namespaces" in text
