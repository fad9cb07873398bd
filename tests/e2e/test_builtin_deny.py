"""The built-in denials hold in `reconciler test` and `reconciler plan`, as in the service:
kube-system is refused whatever the repository's guardrails say, and shell Jobs are off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REPO = ROOT / "tests" / "fixtures" / "repos" / "builtin-deny"


def reconciler(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_reconciler_test_holds_to_the_built_in_denials() -> None:
    result = reconciler("test", REPO, "-o", "json")
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(reports) == {
        "kube-system-is-refused",
        "other-namespaces-are-not",
        "shell-jobs-are-off",
    }
    for name, report in reports.items():
        assert report["outcome"] == "passed", (name, report["failures"])
    error = reports["kube-system-is-refused"]["executions"][0]["error"]
    assert "reconciler/protected-namespaces" in error
    assert "allow_protected_namespaces" in error
    error = reports["shell-jobs-are-off"]["executions"][0]["error"]
    assert "reconciler/shell-jobs" in error and "shell_jobs_enabled" in error


def test_plan_shows_the_built_in_denial(tmp_path: Path) -> None:
    alert = tmp_path / "alert.yaml"
    alert.write_text("labels: {alertname: Down, namespace: kube-system}\n")
    (plan,) = json.loads(reconciler("plan", "--alert", alert, REPO, "-o", "json").stdout)
    (step,) = plan["executions"][0]["steps"]
    (fired,) = step["guardrails"]
    assert (fired["guardrail"], fired["rule"], fired["effect"]) == (
        "reconciler",
        "protected-namespaces",
        "deny",
    )
    text = reconciler("plan", "--alert", alert, REPO).stdout
    assert "DENIED by reconciler/protected-namespaces" in text
