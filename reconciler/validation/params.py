"""Checking values handed to typed workflow params (from a policy or a subflow step).

A literal value is checked against the declared type; a value that is exactly one ``{{ }}`` is
checked by the expression's static type where CEL knows it; a mixed template is a string.
"""

from __future__ import annotations

from typing import Any

from reconciler.definitions.workflow import ParamSpec
from reconciler.expressions import templates
from reconciler.expressions.compiler import Expression

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "list": (list,),
    "map": (dict,),
}
_CEL_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("string",),
    "int": ("int", "uint"),
    "number": ("int", "uint", "double"),
    "bool": ("bool",),
    "list": ("list",),
    "map": ("map",),
}


def literal_fits(declared: str, value: Any) -> bool:
    if declared in {"int", "number"} and isinstance(value, bool):
        return False
    return isinstance(value, _PYTHON_TYPES[declared])


def type_mismatch(spec: ParamSpec, raw: Any, compiled: templates.Node) -> str | None:
    """A message if the value cannot have the declared type, else None."""
    if isinstance(compiled, templates.Failed):
        return None
    if isinstance(compiled, Expression):
        actual = compiled.result_type.lower()
        if actual in {"dyn", "null_type"} or actual.startswith(("dyn", "optional")):
            return None
        if not actual.startswith(_CEL_TYPES[spec.type]):
            return f"expression has type {actual}; the param is declared {spec.type}"
        return None
    if isinstance(compiled, dict | list):  # a literal map or list, templates inside or not
        if literal_fits(spec.type, raw):
            return None
        return f"value {raw!r} is not of the declared type {spec.type}"
    if templates.is_dynamic(compiled):
        return (
            None
            if spec.type == "string"
            else f"a template with text around it is a string; the param is declared {spec.type}"
        )
    if raw is None:
        return None
    if not literal_fits(spec.type, raw):
        return f"value {raw!r} is not of the declared type {spec.type}"
    return None


def check_params(
    declared: dict[str, ParamSpec],
    given: dict[str, Any],
    compiled: dict[str, templates.Node],
    workflow: str,
) -> list[tuple[str | None, str]]:
    """Problems as (param name or None, message): undeclared, missing required, wrong type."""
    found: list[tuple[str | None, str]] = []
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            found.append(
                (name, f"workflow {workflow!r} declares no param {name!r} (declared: {known})")
            )
        else:
            message = type_mismatch(declared[name], given[name], compiled.get(name))
            if message:
                found.append((name, message))
    for name, spec in declared.items():
        if spec.required and name not in given:
            found.append((None, f"required param {name!r} of workflow {workflow!r} is not set"))
    return found
