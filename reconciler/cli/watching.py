"""``reconciler executions watch ID``: the execution redrawn live (rich) until it ends.

Polls ``GET /api/v1/executions/{id}`` (the API has no stream) and redraws what ``executions
show`` prints; returns when the status is final, with an exit code that says how it ended.
Called by :mod:`reconciler.cli.executions`.
"""

from __future__ import annotations

import time

from rich.live import Live

from reconciler.cli import showing
from reconciler.cli.client import Client
from reconciler.cli.output import console

FINAL = {"succeeded": 0, "failed": 1, "cancelled": 1}


def follow(client: Client, execution: str, interval: float) -> int:
    """Redraw until the execution is final; 0 if it succeeded, 1 if it failed or was
    cancelled (a script can wait on it)."""
    path = f"/api/v1/executions/{execution}"
    view = client.get(path)
    # Off a terminal (a pipe, CI) rich prints only the final state, once.
    with Live(showing.render(view), console=console, auto_refresh=False) as live:
        while view["status"] not in FINAL:
            time.sleep(interval)  # the poll's pace, not a wait for a condition
            view = client.get(path)
            live.update(showing.render(view), refresh=True)
    return FINAL[view["status"]]
