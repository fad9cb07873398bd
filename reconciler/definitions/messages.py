"""Plain-language messages for pydantic's errors on definitions, naming the fix.

The loader turns each pydantic error into a located problem with :func:`message`. Definitions are
validated strictly (see :class:`~reconciler.definitions.base.Model`), so a scalar of the wrong
type is refused; the usual cause is YAML 1.1 habits (``yes``, ``off``) or quoting, and the
message says which and what to write instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def message(error: Any) -> str:
    """The message of one pydantic error (``exc.errors()`` item)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1]) if error.get("loc") else ""
        if name in {"with_", "if_"}:  # the Python names of `with` and `if`
            return f"unknown field; write `{name[:-1]}`"
        return "unknown field; check its spelling against `reconciler schema`"
    if kind == "missing":
        return "required field is missing"
    scalar = _scalar_message(kind, error.get("input"))
    if scalar is not None:
        return scalar
    text: str = error["msg"]
    return text.removeprefix("Value error, ")


def _scalar_message(kind: str, value: Any) -> str | None:
    if kind == "bool_type":
        if isinstance(value, str) and value.strip() in {"true", "false"}:
            return f"{value!r} is quoted, so it is a string; write {value.strip()} without quotes"
        if isinstance(value, str):
            return (
                f"{value!r} is a string in YAML 1.2 (only true and false are booleans); "
                "write true or false"
            )
        return f"{_yaml(value)} is not a boolean; write true or false"
    if kind in {"int_type", "float_type"}:
        wanted = "a whole number" if kind == "int_type" else "a number"
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            return f"{value!r} is a string; write {wanted} without quotes: {value.strip()}"
        if isinstance(value, float) and kind == "int_type":
            hint = f": {int(value)}" if value.is_integer() else ""
            return f"{_yaml(value)} is not a whole number; write {wanted}{hint}"
        if isinstance(value, bool):
            return f"{_yaml(value)} is a boolean; write {wanted}"
        return None
    if kind == "string_type" and isinstance(value, bool | int | float):
        return f'{_yaml(value)} is not a string; quote it if it is meant as text: "{_yaml(value)}"'
    return None


def _yaml(value: Any) -> str:
    """A scalar as it reads in YAML (``true``, ``2.0``, ``'3'``)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
