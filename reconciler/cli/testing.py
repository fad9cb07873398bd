"""``reconciler test [PATH] [-k NAME]``: run WorkflowTests and report like pytest.

Called by the CLI entry point (:mod:`reconciler.cli`). Like pytest, a ``-k`` that selects no test
exits 5, so a typo in CI does not pass as a green run.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from reconciler.cli.output import Format, OutputOption, console, fail, print_json

if TYPE_CHECKING:  # the runner is imported by the command: --help must not pay for it
    from reconciler.testing.runner import TestResult

NO_TESTS_MATCHED = 5  # pytest's "no tests collected"


def read_files(root: Path) -> dict[str, bytes]:
    """The YAML files of a repository, as stored with a revision (paths as the loader shows them)."""
    from reconciler.source.directory import ContainedTree

    return {source.path: source.read() for source in ContainedTree(root).files()}


def test(
    path: Annotated[Path, typer.Argument(help="the remediation repository")] = Path(),
    keyword: Annotated[
        str | None, typer.Option("-k", help="only tests whose name contains this")
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Run the repository's WorkflowTests on a fake clock; exit 1 if any fails."""
    import asyncio

    from reconciler.source.directory import ContainedTree
    from reconciler.testing.runner import run_test
    from reconciler.validation import revision

    if not path.exists():
        raise fail(f"{path}: no such file or directory")
    files = read_files(path)
    outcome = revision.build([ContainedTree(path)])
    if outcome.revision is None:
        for problem in outcome.problems:
            console.print(escape(str(problem)), soft_wrap=True)
        raise fail(f"{path} is not valid ({len(outcome.problems)} problems); fix them first", 1)
    compiled = outcome.revision
    selected = [
        t for name, t in sorted(compiled.tests.items()) if keyword is None or keyword in name
    ]
    if not selected and keyword is not None:
        raise fail(_no_match(keyword, sorted(compiled.tests)), NO_TESTS_MATCHED)
    results = [asyncio.run(run_test(t, compiled, files)) for t in selected]
    if output is Format.json:
        print_json([asdict(r) for r in results])
    else:
        _report(results)
    if any(r.outcome == "failed" for r in results):
        raise typer.Exit(1)


def _no_match(keyword: str, names: list[str]) -> str:
    if not names:
        return f"no tests matched -k {keyword}: the repository has no WorkflowTest"
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return (
        f"no tests matched -k {keyword} (it selects tests whose name contains it); "
        f"the repository has {len(names)} test{'s' if len(names) > 1 else ''}: {shown}"
    )


def _report(results: list[TestResult]) -> None:
    colours = {"passed": "green", "failed": "red", "skipped": "yellow"}
    for result in results:
        colour = colours[result.outcome]
        suffix = f" ({escape(result.reason)})" if result.reason else ""
        console.print(
            f"{escape(result.path)}::{escape(result.name)} [{colour}]{result.outcome.upper()}[/{colour}]{suffix}",
            soft_wrap=True,
        )
        for failure in result.failures:
            console.print(f"    {escape(failure)}", soft_wrap=True)
    counts = {
        kind: sum(r.outcome == kind for r in results) for kind in ("passed", "failed", "skipped")
    }
    console.print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
        soft_wrap=True,
    )
