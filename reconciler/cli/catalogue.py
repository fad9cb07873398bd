"""``reconciler schema`` (JSON Schema of the kinds) and ``reconciler actions`` (the catalogue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from reconciler.cli.output import Format, OutputOption, console, fail, print_json

if TYPE_CHECKING:  # the catalogue and the models load with the command, not with --help
    from reconciler.actions.spec import ActionSpec


def kind_schemas() -> dict[str, Any]:
    """A JSON Schema (2020-12) accepting any reconciler definition, one ``$defs`` entry per kind."""
    from pydantic import TypeAdapter

    from reconciler.definitions.base import API_VERSION
    from reconciler.definitions.durations import JsonSchemaGenerator
    from reconciler.definitions.loader import KINDS

    defs: dict[str, Any] = {}
    choices = []
    for kind, model in KINDS.items():
        schema = TypeAdapter(model).json_schema(
            by_alias=True, ref_template="#/$defs/{model}", schema_generator=JsonSchemaGenerator
        )
        defs.update(schema.pop("$defs", {}))
        schema["properties"]["apiVersion"] = {"const": API_VERSION}
        defs[kind] = schema
        choices.append({"$ref": f"#/$defs/{kind}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://reconciler.dev/schemas/v1alpha1.json",
        "title": "reconciler definitions",
        "oneOf": choices,
        "$defs": defs,
    }


def schema(
    kind: Annotated[str | None, typer.Option(help="only this kind (Workflow, Policy, ...)")] = None,
) -> None:
    """Print the JSON Schema of every kind, for editors and CI linters."""
    from reconciler.definitions.loader import KINDS

    document = kind_schemas()
    if kind is not None:
        if kind not in KINDS:
            raise fail(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        document = {
            "$schema": document["$schema"],
            "$ref": f"#/$defs/{kind}",
            "$defs": document["$defs"],
        }
    print_json(document)


def actions(
    name: Annotated[str | None, typer.Argument(help="show one action with its parameters")] = None,
    output: OutputOption = Format.text,
) -> None:
    """List the action catalogue: flags and parameter schemas."""
    from reconciler.actions.registry import default_registry

    registry = default_registry()
    selected = list(registry)
    if name is not None:
        action = registry.get(name)
        if action is None:
            raise fail(f"unknown action {name!r}; run `reconciler actions` for the list")
        selected = [action]
    if output is Format.json:
        print_json([_as_json(a) for a in selected])
        return
    _print_table(selected)
    if name is None:
        console.print(
            "\n'not yet': declared and validated now; running it fails until its implementation lands."
        )
    else:
        _print_params(selected[0])


def _as_json(action: ActionSpec) -> dict[str, Any]:
    from reconciler.definitions.durations import JsonSchemaGenerator

    return {
        "name": action.name,
        "summary": action.summary,
        "mutating": action.mutating,
        "idempotent": action.idempotent,
        "dry_run": action.dry_run,
        # Where its effect goes (internal, read, write), and what dry-run mode does with it:
        # run, server-side (sent as a server-side dry run) or skip (recorded, not made). With
        # effect_depends_on_params, a call may be a read (http.request GET) and then it runs.
        "effect": action.effect,
        "effect_depends_on_params": action.effect_when is not None,
        "in_dry_run": action.dry_run_mode,
        "implemented": action.implemented,
        "params": action.params.model_json_schema(
            by_alias=True, schema_generator=JsonSchemaGenerator
        ),
    }


def _print_table(selected: list[ActionSpec]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("action", no_wrap=True)
    for column in ("mutating", "idempotent", "dry-run", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary")
    for a in selected:
        dry_run = _IN_DRY_RUN[a.dry_run_mode] + (" (reads run)" if a.effect_when else "")
        status = "ready" if a.implemented else "not yet"
        table.add_row(
            a.name, _yes(a.mutating), _yes(a.idempotent), dry_run, status, escape(a.summary)
        )
    console.print(table)


def _print_params(action: ActionSpec) -> None:
    from reconciler.definitions.durations import JsonSchemaGenerator

    if not action.implemented:
        console.print(f"\nnot implemented yet: lands with {escape(action.lands_with)}")
    params = action.params.model_json_schema(by_alias=True, schema_generator=JsonSchemaGenerator)
    required = set(params.get("required", []))
    console.print("\nparameters:")
    for param, info in params.get("properties", {}).items():
        kind = info.get("type") or " | ".join(
            str(o.get("type", o.get("$ref", "?"))) for o in info.get("anyOf", [])
        )
        flag = "required" if param in required else f"default {info.get('default')!r}"
        description = info.get("description", "")
        console.print(
            f"  {escape(param)}: {escape(str(kind))} ({escape(flag)}) {escape(description)}"
        )


_IN_DRY_RUN = {"run": "runs", "server-side": "server-side", "skip": "skipped"}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
