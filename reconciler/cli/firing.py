"""``reconciler fire``: send alerts to a running service, as ``amtool alert add`` does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.client import DEFAULT_SERVER, ServerOption, TokenOption, connect
from reconciler.cli.output import Format, OutputOption, console, fail, print_json
from reconciler.cli.planning import read_alerts

if TYPE_CHECKING:
    from reconciler.definitions.alert import Alert


def fire(
    file: Annotated[
        Path | None,
        typer.Argument(help="Alertmanager webhook payload or alerts (JSON/YAML)", exists=True),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="k=v (repeat); needs alertname=...")
    ] = None,
    annotation: Annotated[list[str] | None, typer.Option(help="k=v (repeat)")] = None,
    resolved: Annotated[bool, typer.Option(help="send the alerts as resolved")] = False,
    server: ServerOption = DEFAULT_SERVER,
    token_file: TokenOption = None,
    output: OutputOption = Format.text,
) -> None:
    """Send the alerts of a file, or one alert made of --label, to `reconciler run`."""
    from reconciler.definitions.alert import Alert

    if (file is None) == (not label):
        raise fail("give either a FILE or --label k=v (with alertname=...), not both")
    if file is not None:
        alerts = read_alerts(file)
    else:
        labels = _pairs(label or [], "--label")
        if "alertname" not in labels:
            raise fail("--label alertname=NAME is required: policies match on it")
        alerts = [Alert(labels=labels, annotations=_pairs(annotation or [], "--annotation"))]
    body = [_bare(alert, resolved) for alert in alerts]
    receipt = connect(server, token_file).post("/api/v1/alerts", body)
    if output is Format.json:
        print_json(receipt)
        return
    repeats = f" ({receipt['repeats']} re-deliveries)" if receipt["repeats"] else ""
    console.print(f"sent {receipt['received']} alert(s) to {server}{repeats}")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise fail(f"{flag} {item!r}: expected k=v")
        pairs[key] = value
    return pairs


def _bare(alert: Alert, resolved: bool) -> dict[str, Any]:
    """An alert as amtool posts it (startsAt left out when unknown: the service sets it)."""
    from reconciler.definitions.alert import rfc3339

    data: dict[str, Any] = {"labels": alert.labels, "annotations": alert.annotations}
    if alert.starts_at.year > 1:
        data["startsAt"] = rfc3339(alert.starts_at)
    if alert.generator_url:
        data["generatorURL"] = alert.generator_url
    if resolved or alert.status == "resolved":
        data["status"] = "resolved"
        if alert.ends_at.year > 1:
            data["endsAt"] = rfc3339(alert.ends_at)
    return data
