"""How ``executions show`` and ``executions watch`` print one execution for people: times
with their zone, durations, steps and their attempts in workflow order, approvals with
comments, outputs as YAML, and (``--logs``) the output streams steps captured.

Called by :mod:`reconciler.cli.executions` and :mod:`reconciler.cli.watching`; the view is
what ``GET /api/v1/executions/{id}`` answers (:mod:`reconciler.app.views`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "waiting_approval": "magenta",
    "paused": "yellow",
    "running": "cyan",
}
STREAMS = ("stdout", "stderr")


def status(value: str) -> str:
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def when(text: str | None, *, date: bool = True) -> str:
    """A recorded UTC time in the local zone, which it names (``2026-01-02 10:00:03 CET``)."""
    at = moment(text)
    if at is None:
        return "-"
    local = at.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if date else "%H:%M:%S")


def zone() -> str:
    """The local zone's name, for column headings whose times leave it out."""
    return datetime.now().astimezone().strftime("%Z")


def duration(start: str | None, end: str | None) -> str:
    """``850ms``, ``12.3s``, ``4m05s``, ``2h03m``; a time still running counts up to now."""
    begun = moment(start)
    if begun is None:
        return "-"
    ended = moment(end) or datetime.now(begun.tzinfo)
    seconds = max((ended - begun).total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{second:02d}s"
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m"


def render(view: dict[str, Any], *, logs: bool = False) -> RenderableType:
    """Everything ``executions show`` prints, as one renderable (``watch`` redraws it)."""
    parts: list[RenderableType] = [Text.from_markup(_heading(view))]
    parts.append(_steps(view))
    for approval in view.get("approvals", []):
        on = f"step {approval['step']}" if approval["step"] else "the policy's gate"
        comment = f': "{escape(approval["comment"])}"' if approval.get("comment") else ""
        parts.append(
            Text.from_markup(
                f"  {approval['decision']}d {on} by {escape(str(approval['by']))} "
                f"at {when(approval['at'])}{comment}"
            )
        )
    for decision in view.get("decisions", []):
        parts.append(
            Text(
                f"  decision: {decision['decision']} by policy {decision['policy']} "
                f"for alert {decision['alertname']} {decision.get('reason') or ''}".rstrip()
            )
        )
    if view.get("outputs"):
        parts.append(Text("  outputs:"))
        parts.append(Text(_indent(as_yaml(view["outputs"]), 4)))
    if logs:
        parts.extend(_logs(view))
    return Group(*parts)


def _heading(view: dict[str, Any]) -> str:
    lines = [f"[bold]{escape(view['id'])}[/bold]  {status(view['status'])}"]
    for name in ("workflow", "policy", "target", "mode", "revision", "reason", "error"):
        if view.get(name):
            lines.append(f"  {name}: {escape(str(view[name]))}")
    lines.append(f"  created:  {when(view.get('created_at'))}")
    if view.get("started_at"):
        lines.append(f"  started:  {when(view['started_at'])}")
    if view.get("finished_at"):
        took = duration(view.get("started_at") or view.get("created_at"), view["finished_at"])
        lines.append(f"  finished: {when(view['finished_at'])} (took {took})")
    return "\n".join(lines)


def _steps(view: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("STEP", "PHASE", "ATTEMPTS", f"STARTED ({zone()})", "DURATION", "DETAIL"):
        table.add_column(column)
    for step in view["steps"]:
        detail = step.get("error") or step.get("message") or step.get("reason") or ""
        if step.get("waiting"):
            detail = f"waiting: {step['waiting']} {detail}".strip()
        table.add_row(
            escape(step["key"]),
            status(step["phase"]),
            str(step["attempts"]),
            when(step["started_at"], date=False) if step["started_at"] else "",
            duration(step["started_at"], step["finished_at"]) if step["started_at"] else "",
            escape(str(detail)),
        )
        history = step.get("attempt_history") or []
        if len(history) > 1:  # one attempt says nothing the step's own row does not
            for attempt in history:
                table.add_row(
                    f"  attempt {attempt['attempt']}",
                    status(attempt["outcome"]),
                    "",
                    when(attempt["started_at"], date=False),
                    duration(attempt["started_at"], attempt["finished_at"]),
                    escape(attempt.get("error") or ""),
                )
    return table


def _logs(view: dict[str, Any]) -> list[RenderableType]:
    """The stdout and stderr each step captured (``shell`` and its Kubernetes Job)."""
    found: list[RenderableType] = []
    for step in view["steps"]:
        output = step.get("output")
        if not isinstance(output, dict):
            continue
        for stream in STREAMS:
            text = output.get(stream)
            if isinstance(text, str) and text:
                found.append(Text(f"--- {step['key']}: {stream}", style="bold"))
                found.append(Text(text.rstrip("\n")))
    if not found:
        found.append(Text("  no step captured any output (stdout, stderr)"))
    return found


def as_yaml(data: Any) -> str:
    import yaml  # only when outputs are shown: the CLI starts without it

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        # Text of several lines (a command's output) as a block, as it would print.
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    dumped: str = yaml.dump(
        data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return dumped.rstrip("\n")


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())
