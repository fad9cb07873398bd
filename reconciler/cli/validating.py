"""``reconciler validate [PATH...]``: check repositories, folders or files; list every problem.

Folders are read as the loader reads them, except that a symlink pointing out of the folder is
left out (and mentioned on stderr): validating a repository must not read ``/etc/shadow``
through ``x.yaml -> /etc/shadow`` into a problem's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from reconciler.cli.output import Format, OutputOption, console, fail, print_json
from reconciler.errors import printable

if TYPE_CHECKING:
    from reconciler.validation.revision import Outcome


def load_paths(paths: list[Path]) -> Outcome:
    """Validate the given paths as one repository (exits 2 if a path does not exist)."""
    # Imported here, not at the top: `reconciler --help` must not pay for the loader (SPEC §3).
    from reconciler.source.directory import ContainedTree
    from reconciler.validation import revision

    for path in paths:
        if not path.exists():
            raise fail(f"{printable(str(path))}: no such file or directory")
    trees = [ContainedTree(path) for path in paths]
    outcome = revision.build(trees)
    for tree in trees:
        for link in tree.left_out:
            typer.echo(
                f"note: left out {printable(link)}: a symlink pointing out of {printable(str(tree.root))}",
                err=True,
            )
    return outcome


def counts(outcome: Outcome) -> dict[str, int]:
    repo = outcome.repository
    return {
        "files": repo.files_read,
        "workflows": len(repo.workflows),
        "policies": len(repo.policies),
        "guardrails": len(repo.guardrails),
        "tests": len(repo.tests),
    }


def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="repositories, folders or files (default: .)")
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Check definitions: schema, references, graphs, actions and CEL. Exit 1 on any problem."""
    targets = paths or [Path()]
    outcome = load_paths(targets)
    summary = counts(outcome)
    if output is Format.json:
        print_json(
            {
                "valid": outcome.ok,
                "counts": summary,
                "problems": [p.as_dict() for p in outcome.problems],
            }
        )
    else:
        for problem in outcome.problems:
            console.print(escape(str(problem)), soft_wrap=True)
        what = ", ".join(f"{n} {k}" for k, n in summary.items() if k != "files")
        names = " ".join(printable(str(p)) for p in targets)
        if outcome.ok:
            console.print(
                f"[green]valid[/green]: {escape(names)} ({summary['files']} files: {what})"
            )
        else:
            count = len(outcome.problems)
            console.print(
                f"[red]invalid[/red]: {escape(names)}: {count} problem{'s' if count != 1 else ''}"
            )
    if not outcome.ok:
        raise typer.Exit(1)
