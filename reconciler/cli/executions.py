"""``reconciler executions``: list, show and operate executions of a running service."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from reconciler.cli.client import DEFAULT_SERVER, Client, ServerOption, TokenOption, connect
from reconciler.cli.output import Format, OutputOption, console, print_json

app = typer.Typer(help="List, show and operate executions.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(help="execution id")]
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "waiting_approval": "magenta",
    "paused": "yellow",
    "running": "cyan",
}


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    workflow: Annotated[str | None, typer.Option(help="only this workflow")] = None,
    policy: Annotated[str | None, typer.Option(help="only this policy")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Executions, newest first."""
    rows = connect(server, token_file).get(
        "/api/v1/executions", status=status, workflow=workflow, policy=policy, limit=limit
    )
    if output is Format.json:
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "WORKFLOW", "POLICY", "TARGET", "STATUS", "CREATED", "REASON"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["workflow"],
            row["policy"] or "-",
            row["target"] or "-",
            _status(row["status"]),
            row["created_at"][:19].replace("T", " "),
            escape(row.get("reason") or row.get("error") or ""),
        )
    console.print(table if rows else "no executions")


@app.command()
def show(
    execution: IdArgument,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """One execution: its steps, attempts, outputs, timeline and decisions."""
    view = connect(server, token_file).get(f"/api/v1/executions/{execution}")
    if output is Format.json:
        print_json(view)
        return
    _print_view(view)


def _print_view(view: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(view['id'])}[/bold]  {_status(view['status'])}", markup=True)
    for name in ("workflow", "policy", "target", "mode", "revision", "reason", "error"):
        if view.get(name):
            console.print(f"  {name}: {escape(str(view[name]))}")
    table = Table(box=None, pad_edge=False, title=None)
    for column in ("STEP", "PHASE", "ATTEMPTS", "STARTED", "FINISHED", "DETAIL"):
        table.add_column(column)
    for step in view["steps"]:
        detail = step.get("error") or step.get("message") or step.get("reason") or ""
        if step.get("waiting"):
            detail = f"waiting: {step['waiting']} {detail}".strip()
        table.add_row(
            step["key"],
            _status(step["phase"]),
            str(step["attempts"]),
            (step["started_at"] or "")[11:19],
            (step["finished_at"] or "")[11:19],
            escape(str(detail)),
        )
    console.print(table)
    if view.get("outputs"):
        console.print(f"  outputs: {escape(str(view['outputs']))}")
    for decision in view.get("decisions", []):
        console.print(
            f"  decision: {decision['decision']} by policy {decision['policy']} "
            f"for alert {decision['alertname']} {escape(decision.get('reason') or '')}"
        )


def _status(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


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
