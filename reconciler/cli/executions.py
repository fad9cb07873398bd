"""``reconciler executions``: list, show and operate executions of a running service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from reconciler.cli import showing
from reconciler.cli.client import DEFAULT_SERVER, Client, ServerOption, TokenOption, connect
from reconciler.cli.output import Format, OutputOption, console, fail, print_json
from reconciler.durations import EXAMPLES, parse_duration
from reconciler.engine.state import Status

app = typer.Typer(help="List, show and operate executions.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(help="execution id")]
_status = showing.status


@app.command("list")
def list_(
    status: Annotated[Status | None, typer.Option(help="only this status")] = None,
    workflow: Annotated[str | None, typer.Option(help="only this workflow")] = None,
    policy: Annotated[str | None, typer.Option(help="only this policy")] = None,
    target: Annotated[str | None, typer.Option(help="only this target")] = None,
    since: Annotated[
        str | None,
        typer.Option(help=f"created since: a duration ago ({EXAMPLES}) or an RFC 3339 time"),
    ] = None,
    alert: Annotated[
        str | None, typer.Option(help="only those started by an alert of this name or fingerprint")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Executions, newest first."""
    rows = connect(server, token_file).get(
        "/api/v1/executions",
        status=status.value if status else None,
        workflow=workflow,
        policy=policy,
        target=target,
        since=_since(since) if since else None,
        alert=alert,
        limit=limit,
    )
    if output is Format.json:
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "WORKFLOW", "POLICY", "TARGET", "STATUS", f"CREATED ({showing.zone()})"):
        table.add_column(column)
    table.add_column("REASON")
    for row in rows:
        table.add_row(
            row["id"],
            row["workflow"],
            row["policy"] or "-",
            row["target"] or "-",
            _status(row["status"]),
            showing.when(row["created_at"], date=True).rsplit(" ", 1)[0],
            escape(row.get("reason") or row.get("error") or ""),
        )
    console.print(table if rows else "no executions")


def _since(text: str) -> str:
    """``--since`` as a UTC time: ``2h`` ago, or a time as written (with its zone)."""
    try:
        return (datetime.now(UTC) - parse_duration(text)).isoformat()
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise fail(
            f"--since {text!r}: give a duration ago ({EXAMPLES}) or an RFC 3339 time with its "
            "zone (2026-01-02T10:00:00Z)"
        )
    return at.astimezone(UTC).isoformat()


@app.command()
def show(
    execution: IdArgument,
    logs: Annotated[
        bool, typer.Option("--logs", help="also print what each step wrote to stdout and stderr")
    ] = False,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """One execution: its steps and attempts with their times, approvals, outputs, decisions."""
    view = connect(server, token_file).get(f"/api/v1/executions/{execution}")
    if output is Format.json:
        print_json(view)
        return
    console.print(showing.render(view, logs=logs))


@app.command()
def watch(
    execution: IdArgument,
    interval: Annotated[float, typer.Option(help="seconds between polls", min=0.05)] = 1.0,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
) -> None:
    """Follow an execution live until it succeeds, fails or is cancelled."""
    from reconciler.cli import watching  # rich.live only for this command

    code = watching.follow(connect(server, token_file), execution, interval)
    raise typer.Exit(code)


def _operate(
    client: Client, execution: str, operation: str, body: dict[str, Any], output: Format
) -> None:
    view = client.post(f"/api/v1/executions/{execution}/{operation}", body)
    if output is Format.json:
        print_json(view)
        return
    console.print(f"{operation}: {view['id']} is now {_status(view['status'])}", markup=True)


def _simple(operation: str, summary: str) -> None:
    def command(
        execution: IdArgument,
        server: ServerOption = DEFAULT_SERVER,
        token_file: TokenOption = None,
        output: OutputOption = Format.text,
    ) -> None:
        _operate(connect(server, token_file), execution, operation, {}, output)

    command.__doc__ = summary
    app.command(operation)(command)


_simple("pause", "Pause: running steps finish, nothing new starts.")
_simple("resume", "Resume a paused execution.")


@app.command()
def retry(
    execution: IdArgument,
    step: Annotated[str | None, typer.Option(help="only this failed step")] = None,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Run the failed steps (or --step's) and what follows them again; succeeded outputs are kept."""
    _operate(connect(server, token_file), execution, "retry", {"step": step}, output)


@app.command()
def cancel(
    execution: IdArgument,
    reason: Annotated[str | None, typer.Option(help="recorded as the reason")] = None,
    step: Annotated[
        str | None, typer.Option(help="only this step, not started or waiting (it fails)")
    ] = None,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Cancel at the next step boundary (running steps are cancelled cooperatively); with
    --step, end that one step as failed (cancelled) and let the workflow go on."""
    body = {"reason": reason, "step": step}
    _operate(connect(server, token_file), execution, "cancel", body, output)


def _decision(operation: str, summary: str) -> None:
    def command(
        execution: IdArgument,
        step: Annotated[str | None, typer.Option(help="the step waiting (default: any)")] = None,
        comment: Annotated[str | None, typer.Option(help="recorded with the decision")] = None,
        server: ServerOption = DEFAULT_SERVER,
        token_file: TokenOption = None,
        output: OutputOption = Format.text,
    ) -> None:
        body = {"step": step, "comment": comment}
        _operate(connect(server, token_file), execution, operation, body, output)

    command.__doc__ = summary
    app.command(operation)(command)


_decision("approve", "Approve a waiting step (or the execution's approval gate).")
_decision("reject", "Reject a waiting step (it fails) or the execution's approval gate.")
