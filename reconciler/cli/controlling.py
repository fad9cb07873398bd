"""``reconciler status``, ``suspend`` and ``unsuspend``: the service's state and kill switch."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from reconciler.cli.client import DEFAULT_SERVER, ServerOption, TokenOption, connect
from reconciler.cli.output import Format, OutputOption, console, print_json
from reconciler.cli.showing import when


def status(
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """The service's state: active revision, last sync, conditions, errors, suspension."""
    data = connect(server, token_file).get("/api/v1/status")
    if output is Format.json:
        print_json(data)
        return
    _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    if data.get("listen"):
        console.print(f"listen:    http://{escape(data['listen'])}")
    console.print(f"source:    {escape(data['source'])}")
    console.print(f"revision:  {data['active_revision'] or '(none active)'}")
    console.print(f"last sync: {when(data['last_sync'])}")
    for condition in data["conditions"]:
        line = f"{condition['type']}={condition['status']} ({condition['reason']})"
        if condition["message"]:
            line += f": {condition['message']}"
        console.print(f"  {escape(line)}")
    for problem in data["errors"]:
        console.print(f"    {escape(problem)}")
    if data.get("store_error"):
        console.print(f"[red]STORE CANNOT WRITE[/red] {escape(data['store_error'])} (retrying)")
    suspended = data.get("suspended")
    if suspended:
        console.print(
            f"[red]SUSPENDED[/red] {escape(suspended['reason'])} at {when(suspended['at'])}"
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(data["executions"].items())) or "none"
    console.print(f"executions: {counts}")
    console.print(f"cluster: {escape(data['cluster'])}")
    if data.get("cluster_url"):
        console.print(f"  url: {escape(data['cluster_url'])}")
    if data.get("kubeconfig"):
        path = escape(data["kubeconfig"])
        console.print(f"  kubeconfig: {path} (kubectl --kubeconfig {path} get pods -A)")


def suspend(
    reason: Annotated[str, typer.Option(help="recorded with the suspension")] = "",
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """The kill switch: no mutating action starts; in-flight executions pause."""
    data = connect(server, token_file).post("/api/v1/suspend", {"reason": reason})
    if output is Format.json:
        print_json(data)
        return
    console.print(f"suspended: {escape(data['suspended']['reason'])}")


def unsuspend(
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Lift the kill switch; paused executions resume."""
    data = connect(server, token_file).post("/api/v1/unsuspend")
    if output is Format.json:
        print_json(data)
        return
    console.print(f"unsuspended: {data['woken']} executions resumed")
