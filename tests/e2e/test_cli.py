"""The command line as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example-repo"
INVALID = ROOT / "tests" / "fixtures" / "invalid"
PACKS = sorted(p for p in (ROOT / "policies").iterdir() if p.is_dir())
ALERTS = sorted((EXAMPLE / "alerts").glob("*.json"))


def reconciler(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_validate_accepts_the_example_repository() -> None:
    result = reconciler("validate", "example-repo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: example-repo")


def test_example_repository_has_a_test_per_workflow_and_policies_for_workflows() -> None:
    counts = json_of(reconciler("validate", "-o", "json", "example-repo"))["counts"]
    assert counts["workflows"] >= 7
    assert counts["policies"] >= counts["workflows"] - 1  # shared subflows need no policy
    assert counts["tests"] >= counts["workflows"]
    assert counts["guardrails"] >= 1


@pytest.mark.parametrize("pack", PACKS, ids=[p.name for p in PACKS])
def test_every_guardrail_pack_validates_alone_and_with_the_example(pack: Path) -> None:
    alone = reconciler("validate", pack)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    together = reconciler("validate", "example-repo", pack)
    assert together.returncode == 0, together.stdout + together.stderr
    assert (pack / "README.md").is_file()


def test_validate_lists_every_problem_and_exits_1() -> None:
    result = reconciler("validate", INVALID)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("invalid: ")
    problem_lines = lines[:-1]
    expected = sum(
        1
        for case in INVALID.glob("*.yaml")
        for line in case.read_text().splitlines()
        if line.startswith("# expect:")
    )
    assert len(problem_lines) == expected
    assert all(line.startswith(str(INVALID)) for line in problem_lines)


def test_validate_json_output_is_for_ci_bots() -> None:
    result = reconciler("validate", "-o", "json", INVALID / "dependency_cycle.yaml")
    assert result.returncode == 1
    report = json_of(result)
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "path": str(INVALID / "dependency_cycle.yaml"),
            "line": 9,
            "column": 7,
            "field": "spec.steps[0].needs",
            "message": "dependency cycle: a -> c -> b -> a",
        }
    ]


def test_validate_a_missing_path_is_a_usage_error() -> None:
    result = reconciler("validate", "no/such/dir")
    assert result.returncode == 2
    assert "no/such/dir: no such file or directory" in result.stderr


@pytest.mark.parametrize("alert", ALERTS, ids=[a.stem for a in ALERTS])
def test_every_sample_alert_plans_on_the_example_repository(alert: Path) -> None:
    result = reconciler("plan", "--alert", alert, "example-repo", "-o", "json")
    assert result.returncode == 0, result.stderr
    plans = json_of(result)
    payload = json.loads(alert.read_text())
    assert len(plans) == len(payload["alerts"])
    for plan in plans:
        if plan["status"] == "firing":
            assert plan["executions"], f"no policy matches {plan['alertname']}"
            for execution in plan["executions"]:
                assert execution["error"] is None
                assert execution["steps"]


def test_plan_orders_policies_renders_params_and_lists_steps() -> None:
    result = reconciler(
        "plan",
        "--alert",
        EXAMPLE / "alerts" / "KubePodCrashLooping.json",
        "example-repo",
        "-o",
        "json",
    )
    (plan,) = json_of(result)
    priorities = [e["priority"] for e in plan["executions"]]
    assert priorities == sorted(priorities, reverse=True)
    first = plan["executions"][0]
    assert first["workflow"] == "pod-crashloop-recovery"
    assert first["params"]["namespace"] == plan["labels"]["namespace"]
    assert first["params"]["pod"] == plan["labels"]["pod"]
    steps = {s["id"]: s for s in first["steps"]}
    assert steps["restart"]["with"] == {
        "namespace": plan["labels"]["namespace"],
        "name": plan["labels"]["pod"],
    }
    assert steps["restart"]["mutating"] is True


def test_plan_shows_what_it_would_do_for_people() -> None:
    result = reconciler(
        "plan", "--alert", EXAMPLE / "alerts" / "KubePodCrashLooping.json", "example-repo"
    )
    assert result.returncode == 0
    assert "policy crashloop-prod" in result.stdout
    assert "workflow pod-crashloop-recovery" in result.stdout
    assert "[mutating]" in result.stdout
    assert "steps, in order:" in result.stdout


def test_plan_reports_guardrail_rules_that_would_deny(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "all.yaml").write_text(
        """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: restart}
spec:
  params: {namespace: {type: string}, pod: {type: string}}
  steps:
    - id: restart
      action: kubernetes.delete_pod
      with: {namespace: "{{ params.namespace }}", name: "{{ params.pod }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: restart-any}
spec:
  match: alert.labels.alertname == "KubePodCrashLooping"
  workflow: restart
  params: {namespace: "{{ alert.labels.namespace }}", pod: "{{ alert.labels.pod }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Guardrail
metadata: {name: protect}
spec:
  rules:
    - name: never-kube-system
      deny: action.namespace == "kube-system"
      message: "{{ action.target }} is in kube-system"
"""
    )
    alert = tmp_path / "alert.yaml"
    alert.write_text(
        "labels: {alertname: KubePodCrashLooping, namespace: kube-system, pod: coredns-1}\n"
    )
    result = reconciler("plan", "--alert", alert, repo, "-o", "json")
    (plan,) = json_of(result)
    (step,) = plan["executions"][0]["steps"]
    # First reconciler's own denial of kube-system (tests/e2e/test_builtin_deny.py), then the
    # repository's rule.
    assert step["guardrails"][0]["rule"] == "protected-namespaces"
    assert step["guardrails"][1:] == [
        {
            "guardrail": "protect",
            "rule": "never-kube-system",
            "effect": "deny",
            "fired": True,
            "message": "kube-system/coredns-1 is in kube-system",
            "error": None,
        }
    ]
    text = reconciler("plan", "--alert", alert, repo)
    assert (
        "DENIED by protect/never-kube-system: kube-system/coredns-1 is in kube-system"
        in text.stdout
    )


def test_plan_of_a_resolved_alert_starts_nothing(tmp_path: Path) -> None:
    alert = tmp_path / "resolved.json"
    payload = json.loads((EXAMPLE / "alerts" / "KubePodCrashLooping.json").read_text())
    for item in payload["alerts"]:
        item["status"] = "resolved"
    alert.write_text(json.dumps(payload))
    (plan,) = json_of(reconciler("plan", "--alert", alert, "example-repo", "-o", "json"))
    assert plan["status"] == "resolved"
    assert plan["executions"] == []


def test_plan_refuses_an_invalid_repository_and_a_malformed_alert(tmp_path: Path) -> None:
    invalid = reconciler(
        "plan", "--alert", EXAMPLE / "alerts" / "KubePodCrashLooping.json", INVALID
    )
    assert invalid.returncode == 1
    assert "dependency cycle" in invalid.stderr  # where the refusal is
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "4", "alerts": [{"labels": "oops"}]}')
    malformed = reconciler("plan", "--alert", bad, "example-repo")
    assert malformed.returncode == 2
    assert "alerts.0.labels" in malformed.stderr


def test_schema_describes_every_kind() -> None:
    result = reconciler("schema")
    assert result.returncode == 0
    schema = json_of(result)
    assert {"Workflow", "Policy", "Guardrail", "WorkflowTest", "Settings"} <= set(schema["$defs"])
    step = schema["$defs"]["Step"]["properties"]
    assert {"if", "with", "needs", "when", "retry", "verify", "compensate"} <= set(step)
    retry = schema["$defs"]["Retry"]["properties"]
    assert retry["backoff"]["default"] == "10s"


def test_actions_lists_the_catalogue_with_flags() -> None:
    result = reconciler("actions", "-o", "json")
    catalogue = {a["name"]: a for a in json_of(result)}
    assert catalogue["core.set"]["implemented"] is True
    assert catalogue["kubernetes.drain_node"]["mutating"] is True
    assert catalogue["kubernetes.drain_node"]["implemented"] is True
    assert catalogue["ai.investigate"]["implemented"] is False
    assert "replicas" in catalogue["kubernetes.scale_deployment"]["params"]["properties"]
    one = reconciler("actions", "kubernetes.drain_node")
    assert "force" in one.stdout
    assert "not implemented yet" in reconciler("actions", "ai.investigate").stdout


def test_run_takes_its_interval_as_a_duration_and_refuses_one_it_cannot_read() -> None:
    # A bad --listen stops `run` after every setting is read, so nothing is served.
    accepted = reconciler("run", "--interval", "1s", "--listen", "nowhere")
    assert accepted.returncode == 2
    assert "--listen 'nowhere'" in accepted.stderr and "interval" not in accepted.stderr
    refused = reconciler("run", "--interval", "soon", "--listen", "nowhere")
    assert refused.returncode == 2
    assert "--interval: invalid duration 'soon'" in refused.stderr
    assert "30s, 5m or 1h30m" in refused.stderr


def test_validate_refuses_an_expression_that_can_build_too_much_naming_where_and_why() -> None:
    # The attack: a chain of replace() that passed validate, then took 19 s in plan.
    case = INVALID / "expensive_expressions.yaml"

    result = reconciler("validate", case)

    assert result.returncode == 1
    assert (
        f"{case}:13:7: spec.steps[0].if: CEL: at column 51: replace() can build a value of "
        "about 6.2 MiB from inputs of 64 KiB; the limit is 1 MiB"
    ) in result.stdout


# --- hostile repositories (security issue, findings 3 and 7) -----------------------------------


def flow_list(items: int) -> bytes:
    """One YAML flow list of one-letter items: the most nodes per byte plain data gives."""
    return b"[" + b", ".join([b"a"] * items) + b"]"


def test_validate_refuses_eight_1_mib_flow_lists_by_their_node_count(tmp_path: Path) -> None:
    for index in range(8):
        (tmp_path / f"flow{index}.yaml").write_bytes(flow_list(349_524))

    result = reconciler("validate", tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 9
    for index, line in enumerate(lines[:8]):
        assert line.startswith(
            f"{tmp_path}/flow{index}.yaml: 349530 YAML nodes in one file; the limit is 100000"
        )


def test_validate_reports_a_binary_file_at_a_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "logo.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.yaml").write_bytes(b"kind: Workflow\nname: caf\xe9\n")

    result = reconciler("validate", tmp_path)

    assert result.returncode == 1
    assert f"{tmp_path}/logo.yaml:1:1: not valid UTF-8 (byte 0x89)" in result.stdout
    assert f"{tmp_path}/latin1.yaml:2:10: not valid UTF-8 (byte 0xe9)" in result.stdout


def test_validate_cuts_a_500_kb_name_short(tmp_path: Path) -> None:
    name = "n" * 500_000
    (tmp_path / "wf.yaml").write_text(
        f"apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {{name: {name}}}\n"
        "spec: {steps: [{id: a, action: core.log}]}\n"
    )

    result = reconciler("validate", tmp_path)

    assert result.returncode == 1
    assert len(result.stdout) < 2_000
    assert "characters cut" in result.stdout


PEAK_PROBE = """\
import sys
from reconciler.cli import main
sys.argv = ["reconciler", "validate", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmPeak")))
"""


def test_validate_out_of_memory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # What a small repository needs (address space: imports, the interpreter), then a limit 64 MiB
    # above it, and a repository within the loader's limits that needs ~150 MiB more.
    small = tmp_path / "small"
    small.mkdir()
    (small / "wf.yaml").write_text("a: 1\n")
    probe = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(small)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    limit = int(probe.stdout.split()[-1]) * 1024 + 64 * 1024 * 1024
    heavy = tmp_path / "heavy"
    heavy.mkdir()
    for index in range(5):
        (heavy / f"f{index}.yaml").write_bytes(flow_list(94_990))

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(heavy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=limited,  # only sets a limit: safe before exec
    )

    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        "error: out of memory (a container limit or `ulimit -v`); give this command more "
        "memory, or make the repository smaller (docs/definitions.md lists the loader's limits)"
    ]
