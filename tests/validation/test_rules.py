"""One fixture per validation rule: every problem is reported, with its message and location.

Each file under tests/fixtures/invalid/ starts with ``# expect:`` lines, one per problem the
validator must report (``line:col: field: message``), and no other problem may be reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.definitions.loader import DirectoryTree
from reconciler.validation import revision

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    prefix = "# expect: "
    return [
        line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_invalid_definition_reports_every_problem_at_its_location(case: Path) -> None:
    relative = case.relative_to(ROOT).as_posix()
    outcome = revision.build([DirectoryTree(case)])
    assert outcome.revision is None
    folder = case.parent.relative_to(ROOT).as_posix()
    reported = [
        str(p)
        .replace(str(case), relative)
        .replace(str(case.parent), folder)
        .removeprefix(relative + ":")
        for p in outcome.problems
    ]
    assert sorted(reported) == sorted(expectations(case))


def test_every_invalid_fixture_declares_what_it_expects() -> None:
    assert len(CASES) >= 20
    for case in CASES:
        assert expectations(case), f"{case.name} has no '# expect:' lines"


def test_problems_from_several_files_are_all_reported() -> None:
    outcome = revision.build([DirectoryTree(INVALID)])
    files_with_problems = {Path(p.path).name for p in outcome.problems}
    assert files_with_problems == {c.name for c in CASES}


def test_an_invalid_repository_produces_no_revision_but_a_valid_one_does(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: ok}\n"
        "spec:\n  steps: [{id: a, action: core.log, with: {message: hi}}]\n"
    )
    good = revision.build([DirectoryTree(tmp_path)])
    assert good.ok and good.revision is not None
    assert set(good.revision.workflows) == {"ok"}
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n"
    )
    bad = revision.build([DirectoryTree(tmp_path)])
    assert bad.revision is None
    assert [str(p).split(": ", 1)[1] for p in bad.problems] == [
        "spec.match: required field is missing",
        "spec.workflow: required field is missing",
    ]
