"""Shared output helpers: the rich consoles, JSON printing and the ``-o`` option."""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

# Piped output (CI logs, less) gets wide lines rather than rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 200
# emoji=False: user text such as ":rotating_light:" is shown as written, not as an emoji.
console = Console(highlight=False, emoji=False, width=_WIDTH)
errors = Console(stderr=True, highlight=False, emoji=False, width=_WIDTH)


class Format(enum.StrEnum):
    text = "text"
    json = "json"


# Whether errors are JSON (``{"error": "..."}`` on stdout): set by ``-o`` for the command
# being run, so that a tool reading its JSON reads its failures the same way.
_json_errors = False


def _remember(value: Format) -> Format:
    json_errors(value is Format.json)
    return value


def json_errors(on: bool) -> None:
    """Errors as JSON from now on (``-o json``), or for people (each command starts so)."""
    global _json_errors
    _json_errors = on


OutputOption = Annotated[
    Format,
    typer.Option("--output", "-o", help="text for people, json for tools", callback=_remember),
]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person (or, with ``-o json``, as JSON on stdout) and return the
    exit to raise."""
    if _json_errors:
        print_json({"error": message, "exit_code": code})
        return typer.Exit(code)
    errors.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)
