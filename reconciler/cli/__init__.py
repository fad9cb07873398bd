"""The ``reconciler`` command line (typer + rich). ``main`` is the console-script entry point."""

from __future__ import annotations

import logging
from typing import Annotated

import structlog
import typer

from reconciler.cli import catalogue, planning, testing, validating

app = typer.Typer(
    name="reconciler",
    help="GitOps engine that turns Prometheus alerts into safe, reviewed Kubernetes remediation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log what the engine does")
    ] = False,
) -> None:
    """Options for every command."""
    level = logging.INFO if verbose else logging.WARNING
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


app.command("validate")(validating.validate)
app.command("plan")(planning.plan)
app.command("test")(testing.test)
app.command("schema")(catalogue.schema)
app.command("actions")(catalogue.actions)


def main() -> None:
    app()
