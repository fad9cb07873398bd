"""The ``reconciler`` command line (typer + rich). ``main`` is the console-script entry point.

Importing this package must stay cheap: ``reconciler --help`` and the commands that only read
files answer at once (SPEC §3). The command modules import what their command needs inside the
command's function (the service, the HTTP server, the Kubernetes client, structlog); the test
``tests/cli/test_imports.py`` holds every read-only and client command to it, and
``bench/cli.py`` measures it.
"""

from __future__ import annotations

import enum
import logging
import sys
from typing import Annotated, Any, TextIO, cast

import typer

from reconciler.cli import (
    catalogue,
    controlling,
    executions,
    firing,
    output,
    planning,
    serving,
    testing,
    validating,
)

app = typer.Typer(
    name="reconciler",
    help="GitOps engine that turns Prometheus alerts into safe, reviewed Kubernetes remediation.",
    no_args_is_help=True,
    # --install-completion / --show-completion (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
    # Click's plain help, for every command and group: typer's rich help imports rich's
    # markdown, traceback and pretty modules, half of what `reconciler --help` cost.
    rich_markup_mode=None,
)


class LogFormat(enum.StrEnum):
    auto = "auto"
    json = "json"
    console = "console"


def _version(value: bool) -> None:
    if value:
        from reconciler import __version__  # read from the package metadata only when asked

        sys.stdout.write(f"reconciler {__version__}\n")
        raise typer.Exit()


@app.callback()
def options(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log what the engine does")
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option(help="auto: pretty on a terminal, JSON otherwise (in the cluster)")
    ] = LogFormat.auto,
) -> None:
    """Options for every command."""
    import structlog  # ~0.1 s: not on --help's path (the callback runs for a command only)

    from reconciler import redaction

    output.json_errors(False)  # until a command's -o json says otherwise
    # The service logs what it does by default; one-shot commands only when asked.
    level = logging.INFO if verbose or context.invoked_subcommand == "run" else logging.WARNING
    pretty = log_format is LogFormat.console or (
        log_format is LogFormat.auto and sys.stderr.isatty()
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text, so that the redaction after them can clean it too.
            structlog.processors.format_exc_info,
            redaction.processor,  # no secret, URL credential or token reaches a log line
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(cast("TextIO", _CurrentStderr())),
        cache_logger_on_first_use=True,
    )


class _CurrentStderr:
    """``sys.stderr`` as it is when a line is written, not when logging was set up: loggers are
    cached on first use, and a stream swapped in meanwhile (an in-process CLI run's capture, since
    closed) must not keep receiving their lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


app.command("validate")(validating.validate)
app.command("plan")(planning.plan)
app.command("test")(testing.test)
app.command("schema")(catalogue.schema)
app.command("actions")(catalogue.actions)
app.command("run")(serving.run)
app.command("fire")(firing.fire)
app.add_typer(executions.app, name="executions")
app.command("status")(controlling.status)
app.command("suspend")(controlling.suspend)
app.command("unsuspend")(controlling.unsuspend)


OUT_OF_MEMORY = (
    "error: out of memory (a container limit or `ulimit -v`); give this command more memory, "
    "or make the repository smaller (docs/definitions.md lists the loader's limits)\n"
)


def main() -> None:
    out_of_memory = False
    try:
        app()
    except MemoryError:
        # Reported after the handler: its traceback holds whatever filled the memory.
        out_of_memory = True
    if out_of_memory:
        sys.stderr.write(OUT_OF_MEMORY)
        raise SystemExit(2)
