"""The ``reconciler`` command line (typer + rich). ``main`` is the console-script entry point."""

from __future__ import annotations

import typer

from reconciler.cli import catalogue, planning, validating

app = typer.Typer(
    name="reconciler",
    help="GitOps engine that turns Prometheus alerts into safe, reviewed Kubernetes remediation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validating.validate)
app.command("plan")(planning.plan)
app.command("schema")(catalogue.schema)
app.command("actions")(catalogue.actions)


def main() -> None:
    app()
