"""Loading a remediation repository from a folder: what is read, what is skipped, every problem."""

from __future__ import annotations

import gc
import os
import textwrap
import tracemalloc
import weakref
from pathlib import Path

import pytest

from reconciler.definitions import yamlscan
from reconciler.definitions.loader import (
    DirectoryTree,
    MemoryTree,
    Repository,
    format_path,
    load,
)
from reconciler.errors import Problem
from reconciler.settings import LoaderLimits

WORKFLOW = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata:
  name: {name}
spec:
  steps:
    - id: restart
      action: kubernetes.delete_pod
"""

GUARDRAIL = """\
apiVersion: reconciler.dev/v1alpha1
kind: Guardrail
metadata: {{name: {name}}}
spec:
  rules:
    - name: never-kube-system
      deny: action.namespace == "kube-system"
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  replicas: 3
  template: {spec: {containers: [{name: web, image: "nginx:1.27"}]}}
"""


def write(root: Path, relative: str, text: str) -> Path:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text))
    return target


def load_folder(root: Path, limits: LoaderLimits | None = None) -> tuple[Repository, list[Problem]]:
    trees = [DirectoryTree(root)]
    return load(trees) if limits is None else load(trees, limits)


def relative(path: str, root: Path) -> str:
    """A problem's path relative to the repository root, however the tree spells it."""
    return os.path.relpath(path, root) if os.path.isabs(path) else path


def where(problem: Problem, root: Path) -> tuple[str, int, int, str]:
    return relative(problem.path, root), problem.line, problem.column, problem.field


# --- what is read -------------------------------------------------------------------------------


def test_a_workflow_is_loaded_by_name(tmp_path: Path) -> None:
    write(tmp_path, "workflows/restart.yaml", WORKFLOW.format(name="pod-restart"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    located = repository.workflows["pod-restart"]
    assert located.name == "pod-restart"
    assert located.definition.spec.steps[0].action == "kubernetes.delete_pod"
    assert relative(located.path, tmp_path) == "workflows/restart.yaml"


def test_yml_files_and_every_document_of_a_file_are_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yml",
        WORKFLOW.format(name="first")
        + "---\n"
        + WORKFLOW.format(name="second")
        + "---\n"
        + GUARDRAIL.format(name="node-safety"),
    )

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert sorted(repository.workflows) == ["first", "second"]
    assert list(repository.guardrails) == ["node-safety"]
    assert repository.files_read == 1


def test_documents_of_other_api_groups_are_left_alone(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fixtures/cluster.yaml",
        DEPLOYMENT + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-1}\n",
    )
    write(tmp_path, "mixed.yaml", DEPLOYMENT + "---\n" + WORKFLOW.format(name="scale-up"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert list(repository.workflows) == ["scale-up"]
    assert repository.files_read == 2


def test_files_that_are_not_yaml_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "kind: not yaml at all: [")
    write(tmp_path, "notes.txt", "kind: Workflow")
    write(tmp_path, "restart.yaml", WORKFLOW.format(name="restart"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert repository.files_read == 1


def test_dot_files_dot_folders_and_top_level_reports_are_skipped(tmp_path: Path) -> None:
    broken = "kind: Workflow\napiVersion: [unclosed\n"
    write(tmp_path, ".hidden.yaml", broken)
    write(tmp_path, ".github/workflows/ci.yaml", broken)
    write(tmp_path, "workflows/.draft.yaml", broken)
    write(tmp_path, "reports/2024-05-14/execution.yaml", broken)
    write(tmp_path, "workflows/restart.yaml", WORKFLOW.format(name="restart"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert [relative(p, tmp_path) for p in repository.paths] == ["workflows/restart.yaml"]


def test_a_reports_folder_below_the_top_level_is_read(tmp_path: Path) -> None:
    write(tmp_path, "team/reports/guardrail.yaml", GUARDRAIL.format(name="team-guardrail"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert list(repository.guardrails) == ["team-guardrail"]


def test_a_single_file_can_be_loaded(tmp_path: Path) -> None:
    target = write(tmp_path, "restart.yaml", WORKFLOW.format(name="restart"))

    repository, problems = load([DirectoryTree(target)])

    assert problems == []
    assert list(repository.workflows) == ["restart"]


def test_every_kind_lands_in_its_collection(tmp_path: Path) -> None:
    write(tmp_path, "workflow.yaml", WORKFLOW.format(name="restart"))
    write(tmp_path, "guardrail.yaml", GUARDRAIL.format(name="safety"))
    write(
        tmp_path,
        "policy.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: Policy
        metadata: {name: crashloop-prod}
        spec:
          match: alert.labels.alertname == "KubePodCrashLooping"
          workflow: restart
          guardrails: {cooldown: 30m, max_executions: {count: 3, per: 1h}}
        """,
    )
    write(
        tmp_path,
        "test.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: WorkflowTest
        metadata: {name: restarts-the-pod}
        spec:
          alerts: [{labels: {alertname: KubePodCrashLooping}}]
          expect: {actions: [kubernetes.delete_pod]}
        """,
    )
    write(
        tmp_path,
        "settings.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: Settings
        metadata: {name: settings}
        spec: {learning: {enabled: true}}
        """,
    )

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert list(repository.workflows) == ["restart"]
    assert list(repository.guardrails) == ["safety"]
    assert list(repository.policies) == ["crashloop-prod"]
    assert list(repository.tests) == ["restarts-the-pod"]
    assert repository.settings is not None
    assert repository.settings.definition.spec.learning.enabled is True


# --- envelope errors ----------------------------------------------------------------------------


def test_an_unknown_reconciler_version_is_an_error_at_its_line(tmp_path: Path) -> None:
    write(
        tmp_path, "wf.yaml", "kind: Workflow\napiVersion: reconciler.dev/v2\nmetadata: {name: x}\n"
    )

    repository, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("wf.yaml", 2, 1, "apiVersion")
    assert "unknown version 'reconciler.dev/v2'" in problem.message
    assert "reconciler.dev/v1alpha1" in problem.message
    assert repository.workflows == {}


def test_a_document_without_api_version_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wf.yaml",
        WORKFLOW.format(name="ok") + "---\n# no apiVersion\nkind: Workflow\nmetadata: {name: x}\n",
    )

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("wf.yaml", 11, 1, "apiVersion")
    assert "missing apiVersion" in problem.message


def test_a_document_without_kind_is_an_error_even_in_another_group(tmp_path: Path) -> None:
    write(tmp_path, "wf.yaml", "apiVersion: apps/v1\nmetadata: {name: web}\n")

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("wf.yaml", 1, 1, "kind")
    assert "missing kind" in problem.message


def test_an_unknown_kind_is_an_error_at_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wf.yaml",
        "apiVersion: reconciler.dev/v1alpha1\nmetadata: {name: x}\nkind: Runbook\n",
    )

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("wf.yaml", 3, 1, "kind")
    assert "unknown kind 'Runbook'" in problem.message
    assert "Workflow, Policy, Guardrail, WorkflowTest, Settings" in problem.message


def test_a_document_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "list.yaml", "- just\n- a list\n")

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("list.yaml", 1, 1, "")
    assert "must be a mapping" in problem.message


# --- every problem, located ---------------------------------------------------------------------

MANY_MISTAKES = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata:
  name: Pod_Restart
spec:
  timeout: 15 minutes
  steps:
    - id: inspect
      action: kubernetes.get
    - id: restart
      action: kubernetes.delete_pod
      retry:
        limit: 3
        backof: 10s
      when: sometimes
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: crashloop-prod}
spec:
  workflow: pod-restart
---
apiVersion: reconciler.dev/v1alpha1
kind: Gizmo
"""


def test_every_problem_of_a_file_with_several_mistakes_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "mistakes.yaml", MANY_MISTAKES)

    _, problems = load_folder(tmp_path)

    assert sorted(where(p, tmp_path) for p in problems) == [
        ("mistakes.yaml", 4, 3, "metadata.name"),
        ("mistakes.yaml", 6, 3, "spec.timeout"),
        ("mistakes.yaml", 14, 9, "spec.steps[1].retry.backof"),
        ("mistakes.yaml", 15, 7, "spec.steps[1].when"),
        ("mistakes.yaml", 20, 1, "spec.match"),
        ("mistakes.yaml", 24, 1, "kind"),
    ]


def test_an_unknown_field_points_at_its_line_with_a_field_path(tmp_path: Path) -> None:
    write(tmp_path, "mistakes.yaml", MANY_MISTAKES)

    _, problems = load_folder(tmp_path)

    [problem] = [p for p in problems if p.field.endswith("backof")]
    assert str(problem).endswith(
        "mistakes.yaml:14:9: spec.steps[1].retry.backof: unknown field; check its spelling against `reconciler schema`"
    )


def test_a_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    write(tmp_path, "mistakes.yaml", MANY_MISTAKES)

    _, problems = load_folder(tmp_path)

    [problem] = [p for p in problems if p.field == "spec.match"]
    assert (problem.line, problem.column) == (20, 1)  # the `spec:` key of the Policy
    assert problem.message == "required field is missing"


def test_value_errors_keep_their_hint_without_pydantic_decoration(tmp_path: Path) -> None:
    write(tmp_path, "mistakes.yaml", MANY_MISTAKES)

    _, problems = load_folder(tmp_path)

    by_field = {p.field: p.message for p in problems}
    assert by_field["spec.timeout"].startswith("invalid duration '15 minutes'")
    assert by_field["metadata.name"].startswith("'Pod_Restart' is not a DNS-1123 label")
    assert "'success', 'failure' or 'always'" in by_field["spec.steps[1].when"]


def test_problems_inside_nested_steps_carry_the_full_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        "nested.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: Workflow
        metadata: {name: nested}
        spec:
          steps:
            - id: group
              steps:
                - id: a
                  action: x
                - id: b
                  action: y
                  retry: {limit: many}
        """,
    )

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("nested.yaml", 12, 19, "spec.steps[0].steps[1].retry.limit")
    assert "valid integer" in problem.message


def test_problems_in_a_union_field_drop_the_union_member_names(tmp_path: Path) -> None:
    write(
        tmp_path,
        "test.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: WorkflowTest
        metadata: {name: t}
        spec:
          cluster: {fil: cluster.yaml}
          alerts: [{labels: {alertname: X}}]
          expect: {}
        """,
    )

    _, problems = load_folder(tmp_path)

    fields = {p.field for p in problems}
    assert "spec.cluster.fil" in fields
    assert all("ClusterFile" not in f and "list[" not in f for f in fields)


def test_problems_of_every_file_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "apiVersion: reconciler.dev/v1alpha1\nkind: Nope\n")
    write(tmp_path, "b/c.yml", "a: [1\n")
    write(tmp_path, "d.yaml", WORKFLOW.format(name="fine"))

    repository, problems = load_folder(tmp_path)

    assert sorted(relative(p.path, tmp_path) for p in problems) == ["a.yaml", "b/c.yml"]
    assert list(repository.workflows) == ["fine"]


def test_a_yaml_syntax_error_is_reported_beside_the_other_documents_problems(
    tmp_path: Path,
) -> None:
    write(tmp_path, "f.yaml", "apiVersion: reconciler.dev/v1alpha1\nkind: Gizmo\n---\nbroken: [\n")

    _, problems = load_folder(tmp_path)

    messages = sorted(p.message for p in problems)
    assert len(messages) == 2
    assert messages[0].startswith("YAML syntax error")
    assert messages[1].startswith("unknown kind 'Gizmo'")


def test_loader_limits_apply_to_each_file(tmp_path: Path) -> None:
    write(tmp_path, "big.yaml", WORKFLOW.format(name="big"))

    repository, problems = load_folder(tmp_path, LoaderLimits(max_file_bytes=16))

    [problem] = problems
    assert "the limit is 16" in problem.message
    assert repository.workflows == {}


def test_a_repository_with_too_many_files_is_refused(tmp_path: Path) -> None:
    for index in range(3):
        write(tmp_path, f"wf{index}.yaml", WORKFLOW.format(name=f"wf{index}"))

    _, problems = load_folder(tmp_path, LoaderLimits(max_files=2))

    assert [p.message for p in problems] == ["more than 2 YAML files"]


def flow_list(size: int) -> bytes:
    """One flow list of one-letter items filling ``size`` bytes (the issue's attack file)."""
    items = b"a, " * ((size - 2) // 3)
    return b"[" + items[: size - 2] + b"]"


def test_eight_1_mib_flow_lists_are_refused_without_building_their_nodes() -> None:
    # The attack: composed, these took 1.38 GB; refused by the node count, nothing is
    # built (the input alone is 8 MiB, and each file is copied once as it is read).
    files = {f"flow{index}.yaml": flow_list(1024 * 1024) for index in range(8)}
    tracemalloc.start()
    try:
        repository, problems = load([MemoryTree(files)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [p.path for p in problems] == sorted(files)
    assert all("YAML nodes in one file; the limit is 100000" in p.message for p in problems)
    assert repository.files_read == 8
    assert peak < 16 * 1024 * 1024


def test_a_revision_past_its_node_budget_stops_at_the_file_past_it(tmp_path: Path) -> None:
    for index in range(4):
        write(tmp_path, f"wf{index}.yaml", WORKFLOW.format(name=f"wf{index}"))
    per_file = yamlscan.count_nodes((tmp_path / "wf0.yaml").read_bytes())

    repository, problems = load_folder(
        tmp_path, LoaderLimits(max_nodes_per_revision=2 * per_file + 1)
    )

    assert sorted(repository.workflows) == ["wf0", "wf1"]
    [problem] = problems
    assert relative(problem.path, tmp_path) == "wf2.yaml"
    assert problem.message.startswith(
        f"this file's {per_file} YAML nodes take the revision past {2 * per_file + 1} "
        f"(max_nodes_per_revision; {2 * per_file} used by the files before it); "
        "files after it are not read"
    )
    assert repository.files_read == 3


def test_the_node_budget_counts_files_read_from_the_cache_too(tmp_path: Path) -> None:
    for index in range(3):
        write(tmp_path, f"wf{index}.yaml", WORKFLOW.format(name=f"wf{index}"))
    limits = LoaderLimits(max_nodes_per_revision=80)
    per_file = yamlscan.count_nodes((tmp_path / "wf0.yaml").read_bytes())
    assert 2 * per_file <= 80 < 3 * per_file

    first = load_folder(tmp_path, limits)
    again = load_folder(tmp_path, limits)

    assert [p.message for p in first[1]] == [p.message for p in again[1]]
    assert "max_nodes_per_revision" in again[1][0].message


def test_a_revision_past_its_byte_budget_stops_at_the_file_past_it(tmp_path: Path) -> None:
    for index in range(3):
        write(tmp_path, f"wf{index}.yaml", WORKFLOW.format(name=f"wf{index}"))
    size = (tmp_path / "wf0.yaml").stat().st_size

    for tree in (
        DirectoryTree(tmp_path),
        MemoryTree({p.name: p.read_bytes() for p in tmp_path.iterdir()}),
    ):
        repository, problems = load([tree], LoaderLimits(max_revision_bytes=2 * size))

        assert sorted(repository.workflows) == ["wf0", "wf1"]
        [problem] = problems
        assert relative(problem.path, tmp_path) == "wf2.yaml"
        assert problem.message.startswith(
            f"this file's {size} bytes take the revision past {2 * size} bytes of YAML "
            "(max_revision_bytes); files after it are not read; split the data"
        )


def test_the_file_cache_keeps_only_the_last_loads_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "wf.yaml", WORKFLOW.format(name="one"))
    write(second, "wf.yaml", WORKFLOW.format(name="two"))
    one, _ = load_folder(first)
    document = weakref.ref(one.workflows["one"].document)
    del one

    load_folder(second)
    gc.collect()

    assert document() is None


# --- names --------------------------------------------------------------------------------------


def test_a_duplicate_name_within_a_kind_is_an_error_pointing_at_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", WORKFLOW.format(name="restart"))
    write(tmp_path, "b.yaml", WORKFLOW.format(name="restart"))

    repository, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("b.yaml", 4, 3, "metadata.name")
    assert "duplicate Workflow name 'restart'" in problem.message
    assert problem.message.endswith("a.yaml:4")
    assert relative(repository.workflows["restart"].path, tmp_path) == "a.yaml"


def test_the_same_name_in_different_kinds_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", WORKFLOW.format(name="restart"))
    write(tmp_path, "b.yaml", GUARDRAIL.format(name="restart"))

    repository, problems = load_folder(tmp_path)

    assert problems == []
    assert "restart" in repository.workflows
    assert "restart" in repository.guardrails


def test_a_second_settings_document_is_an_error(tmp_path: Path) -> None:
    settings = (
        "apiVersion: reconciler.dev/v1alpha1\nkind: Settings\nmetadata: {name: s}\nspec: {}\n"
    )
    write(tmp_path, "a.yaml", settings)
    write(tmp_path, "b.yaml", settings)

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert where(problem, tmp_path) == ("b.yaml", 2, 1, "kind")
    assert "a second Settings document" in problem.message


# --- Located ------------------------------------------------------------------------------------


def test_located_problem_points_at_the_field_in_its_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: reconciler.dev/v1alpha1
        kind: Workflow
        metadata: {name: restart}
        spec:
          steps:
            - id: inspect
              action: kubernetes.get
            - id: restart
              needs: [inspekt]
              action: kubernetes.delete_pod
        """,
    )
    repository, _ = load_folder(tmp_path)
    located = repository.workflows["restart"]

    problem = located.problem(("spec", "steps", 1, "needs", 0), "unknown step 'inspekt'")

    assert where(problem, tmp_path) == ("wf.yaml", 9, 15, "spec.steps[1].needs[0]")
    assert problem.message == "unknown step 'inspekt'"
    assert str(problem).endswith("wf.yaml:9:15: spec.steps[1].needs[0]: unknown step 'inspekt'")


def test_located_problem_on_an_absent_field_points_at_its_nearest_ancestor(tmp_path: Path) -> None:
    write(tmp_path, "wf.yaml", WORKFLOW.format(name="restart"))
    repository, _ = load_folder(tmp_path)

    problem = repository.workflows["restart"].problem(("spec", "steps", 0, "retry"), "add a retry")

    assert where(problem, tmp_path) == ("wf.yaml", 7, 7, "spec.steps[0].retry")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("spec",), "spec"),
        (("spec", "steps", 2, "id"), "spec.steps[2].id"),
        (("spec", "steps", 0, "steps", 1, "with", "name"), "spec.steps[0].steps[1].with.name"),
    ],
)
def test_field_paths_read_like_the_yaml(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_an_out_of_range_duration_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: big}\n"
        "spec:\n  timeout: 1000000000d\n  steps: [{id: a, action: x}]\n"
    )
    _, problems = load([DirectoryTree(tmp_path)])
    assert [(p.line, p.field) for p in problems] == [(5, "spec.timeout")]


def test_folder_links_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: once}\n"
        "spec:\n  steps: [{id: a, action: core.log, with: {message: hi}}]\n"
    )
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    repository, problems = load([DirectoryTree(tmp_path)])
    assert problems == []
    assert list(repository.workflows) == ["once"]


def test_a_kind_that_is_not_a_string_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: 5\nmetadata: {name: x}\n"
    )
    _, problems = load([DirectoryTree(tmp_path)])
    assert [(p.line, p.field, p.message) for p in problems] == [
        (2, "kind", "kind must be a string, got 5")
    ]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("a: " + "x" * 2000 + "\n")
    _, problems = load([DirectoryTree(tmp_path)], LoaderLimits(max_file_bytes=1000))
    assert [p.message for p in problems] == ["file is 2004 bytes; the limit is 1000"]


# --- echoed values ------------------------------------------------------------------------------


def test_a_500_kb_name_is_cut_short_in_every_problem(tmp_path: Path) -> None:
    name = "a" * 500_000
    write(tmp_path, "wf.yaml", WORKFLOW.format(name=name))
    write(tmp_path, "other.yaml", "apiVersion: reconciler.dev/v1alpha1\nkind: " + name + "\n")

    _, problems = load_folder(tmp_path)

    assert len(problems) == 2
    for problem in problems:
        assert len(str(problem)) < 1_300, str(problem)[:300]
    kind = next(p for p in problems if p.field == "kind")
    assert kind.message.startswith(f"unknown kind '{'a' * 100}'… (500000 characters); expected")


def test_a_500_kb_unknown_key_is_cut_short_in_the_field_path(tmp_path: Path) -> None:
    key = "k" * 500_000
    # An explicit key (``? key``): an implicit one is at most 1024 characters in YAML.
    write(tmp_path, "wf.yaml", WORKFLOW.format(name="wf") + f"  ? {key}\n  : 1\n")

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert problem.field == f"spec.{'k' * 100}…(500000 characters)"
    assert problem.message.startswith("unknown field")


def test_a_long_scalar_is_cut_short_in_a_yaml_error(tmp_path: Path) -> None:
    write(tmp_path, "wf.yaml", "a: !!int " + "9" * 1_000 + "x\n")

    _, problems = load_folder(tmp_path)

    [problem] = problems
    assert problem.message == f"'{'9' * 100}'… (1001 characters) is not an integer"
