"""`reconciler plan --alert FILE` on an invalid repository: it lists the problems it refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALERT = ROOT / "example-repo" / "alerts" / "KubePodCrashLooping.json"


def plan(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--alert", str(ALERT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def broken_repository(tmp_path: Path) -> Path:
    """The example repository with two problems in two files."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    policy = repo / "policies" / "crashloop.yaml"
    policy.write_text(
        policy.read_text().replace("workflow: pod-crashloop-recovery", "workflow: nope")
    )
    (repo / "broken.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Guardrail\nmetadata: {name: Bad}\nspec: {}\n"
    )
    return repo


def test_plan_lists_every_problem_of_an_invalid_repository_with_the_refusal(
    tmp_path: Path,
) -> None:
    repo = broken_repository(tmp_path)
    refused = plan(repo, cwd=tmp_path)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert any("crashloop.yaml" in line and "unknown workflow 'nope'" in line for line in lines)
    assert any(line.startswith(f"{repo}/broken.yaml:3:") for line in lines), refused.stderr
    assert f"{repo} is not valid (" in refused.stderr and "in 2 files" in refused.stderr
    assert refused.stdout == ""  # a plan was not made: nothing on the plan's stream


def test_plan_gives_the_problems_as_json_with_output_json(tmp_path: Path) -> None:
    repo = broken_repository(tmp_path)
    refused = plan(repo, "-o", "json", cwd=tmp_path)
    assert refused.returncode == 1
    answer = json.loads(refused.stdout)
    assert answer["valid"] is False
    files = {Path(p["path"]).name for p in answer["problems"]}
    assert files == {"crashloop.yaml", "broken.yaml"}
    assert all({"line", "column", "field", "message"} <= set(p) for p in answer["problems"])


def test_plan_without_a_path_says_it_read_the_current_folder(tmp_path: Path) -> None:
    repo = broken_repository(tmp_path)
    refused = plan(cwd=repo)
    assert refused.returncode == 1
    assert "unknown workflow 'nope'" in refused.stderr
    assert "PATH defaults to the current folder" in refused.stderr
