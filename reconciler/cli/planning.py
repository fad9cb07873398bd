"""``reconciler plan --alert FILE [PATH]``: which policies match, which guardrails fire, which steps run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from reconciler.cli.output import Format, OutputOption, console, errors, fail, print_json
from reconciler.cli.validating import load_paths
from reconciler.errors import InputError, Problem

if TYPE_CHECKING:  # the planner is imported by the command: --help must not pay for it
    from reconciler.definitions.alert import Alert
    from reconciler.matching.guardrails import StaticClusterView
    from reconciler.planning.plan import AlertPlan, PlannedExecution, PlannedStep

_COLLECTIONS = {
    "Node": "nodes",
    "Pod": "pods",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "HorizontalPodAutoscaler": "hpas",
    "PodDisruptionBudget": "pdbs",
}


def read_data(path: Path) -> list[Any]:
    """Documents of a JSON or YAML file (YAML 1.2, bounded like definitions)."""
    from reconciler.definitions.yamldoc import parse_documents
    from reconciler.settings import DEFAULT

    if not path.is_file():
        raise fail(f"{path}: no such file")
    raw = path.read_bytes()
    if path.suffix == ".json":
        try:
            return [json.loads(raw)]
        except json.JSONDecodeError as exc:
            raise fail(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    documents, problems = parse_documents(raw, str(path), DEFAULT.loader)
    if problems:
        raise fail(str(problems[0]))
    return [d.value for d in documents]


def read_alerts(path: Path) -> list[Alert]:
    from reconciler.definitions.alert import parse_alerts

    alerts: list[Alert] = []
    for document in read_data(path):
        try:
            alerts.extend(parse_alerts(document, str(path)))
        except InputError as exc:
            raise fail(str(exc)) from exc
    return alerts


def read_cluster(path: Path) -> StaticClusterView:
    from reconciler.matching.guardrails import StaticClusterView

    objects: dict[str, list[dict[str, Any]]] = {}
    for document in read_data(path):
        items = (
            document.get("items", [])
            if isinstance(document, dict) and document.get("kind") == "List"
            else [document]
        )
        for item in items:
            if isinstance(item, dict) and item.get("kind") in _COLLECTIONS:
                objects.setdefault(_COLLECTIONS[item["kind"]], []).append(item)
    return StaticClusterView(objects)


def plan(
    alert: Annotated[
        Path,
        typer.Option(
            "--alert", "-a", help="Alertmanager webhook payload or bare alert (JSON/YAML)"
        ),
    ],
    path: Annotated[Path, typer.Argument(help="the remediation repository")] = Path(),
    cluster: Annotated[
        Path | None, typer.Option(help="Kubernetes manifests guardrail rules see as the cluster")
    ] = None,
    output: OutputOption = Format.text,
) -> None:
    """Show what an alert would do: matching policies, guardrails, params and ordered steps."""
    from reconciler.actions.registry import default_registry
    from reconciler.matching.guardrails import StaticClusterView
    from reconciler.planning.plan import plan as build_plan

    alerts = read_alerts(alert)
    outcome = load_paths([path])
    if outcome.revision is None:
        raise _refuse(path, outcome.problems, output, given=path != Path())
    view = read_cluster(cluster) if cluster else StaticClusterView()
    plans = build_plan(outcome.revision, alerts, default_registry(), view)
    if output is Format.json:
        print_json([p.as_json() for p in plans])
        return
    for entry in plans:
        _print_alert(entry)


def _refuse(path: Path, problems: list[Problem], output: Format, given: bool) -> typer.Exit:
    """An invalid repository: every problem listed where the refusal is (stderr; stdout gets
    them as JSON with ``-o json``, in the one error document), so that neither a pipe nor a CI
    log loses them."""
    for problem in problems:
        errors.print(str(problem), soft_wrap=True, markup=False)
    files = len({p.path for p in problems})
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    message = (
        f"{path} is not valid ({count} in {files} file{'s' if files != 1 else ''}, listed above)"
    )
    if not given:
        message += (
            "; PATH defaults to the current folder, and every YAML file under it is read: give "
            "the repository's folder (reconciler plan --alert FILE PATH)"
        )
    message += "; fix them first (reconciler validate PATH lists them too)"
    if output is Format.json:
        listed = [p.as_dict() for p in problems]
        print_json({"valid": False, "problems": listed, "error": message, "exit_code": 1})
        return typer.Exit(1)
    return fail(message, 1)


def _print_alert(entry: AlertPlan) -> None:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(entry.labels.items()) if k != "alertname")
    console.print(
        f"\n[bold]alert {escape(entry.alertname or '?')}[/bold] ({entry.status}) {{{escape(labels)}}}"
    )
    for error in entry.match_errors:
        console.print(
            f"  [yellow]policy {escape(error['policy'])}: match failed: {escape(error['error'])}[/yellow]"
        )
    if entry.status != "firing":
        console.print(
            "  resolved: starts nothing (policies with on_resolved: cancel cancel their open executions)"
        )
        return
    if not entry.executions:
        console.print("  no policy matches")
        return
    for rank, execution in enumerate(entry.executions, 1):
        _print_execution(rank, execution)


def _print_execution(rank: int, execution: PlannedExecution) -> None:
    console.print(
        f"  {rank}. policy [bold]{escape(execution.policy)}[/bold] (priority {execution.priority}, {execution.mode})"
        f" -> workflow [bold]{escape(execution.workflow)}[/bold], target {escape(execution.target)}"
    )
    if execution.error:
        console.print(f"     [red]cannot start: {escape(execution.error)}[/red]")
        return
    for name, value in execution.params.items():
        console.print(f"     param {escape(name)} = {escape(json.dumps(value, default=str))}")
    for gate in execution.policy_guardrails:
        console.print(f"     guardrail: {escape(gate)}")
    console.print("     steps, in order:")
    for step in execution.steps:
        _print_step(step)


def _print_step(step: PlannedStep) -> None:
    indent = "       " + "  " * step.depth
    condition = "" if step.when == "success" else f" when {step.when}"
    if step.condition:
        condition += f" if {step.condition}"
    marker = escape(" [mutating]") if step.mutating else ""
    console.print(
        f"{indent}[bold]{escape(step.id)}[/bold]: {escape(step.detail)}{marker}{escape(condition)}",
        soft_wrap=True,
    )
    if step.with_:
        late = " (parts render at run time)" if step.renders_at_run_time else ""
        console.print(
            f"{indent}  with{late}: {escape(json.dumps(step.with_, default=str))}", soft_wrap=True
        )
    for fired in step.guardrails:
        colour, verb = (
            ("red", "DENIED") if fired["effect"] == "deny" else ("yellow", "needs approval")
        )
        console.print(
            f"{indent}  [{colour}]{verb}[/{colour}] by {escape(fired['guardrail'])}/{escape(fired['rule'])}: {escape(fired['message'])}",
            soft_wrap=True,
        )
    for note in step.notes:
        console.print(f"{indent}  {escape(note)}", soft_wrap=True)
