"""Plain-language messages for pydantic's errors on definitions, naming the fix, and the
cutting of user values echoed in messages.

The loader turns each pydantic error into a located problem with :func:`message`. Messages that
echo a value from a definition show it with :func:`shown` (at most ~100 characters: a 500 KB name
must not come back whole in every error, log line and status), and :func:`clipped` is the net the
loader and validation put every problem through, for messages that echo values without it. Definitions are
validated strictly (see :class:`~reconciler.definitions.base.Model`), so a scalar of the wrong
type is refused; the usual cause is YAML 1.1 habits (``yes``, ``off``) or quoting, and the
message says which and what to write instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from reconciler.errors import Problem

SHOWN_LENGTH = 100  # characters of an echoed value
MESSAGE_LENGTH = 1_000  # characters of a whole message, or of a field path

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
    if isinstance(value, str) and len(value) > SHOWN_LENGTH:
        return None  # the hints below quote the value whole; pydantic's own message does not
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


def shown(value: Any) -> str:
    """A value as a message quotes it (``repr``), cut after ``SHOWN_LENGTH`` characters:
    ``'aaaa…' (500000 characters)``."""
    if isinstance(value, str):
        if len(value) <= SHOWN_LENGTH:
            return repr(value)
        return f"{value[:SHOWN_LENGTH]!r}… ({len(value)} characters)"
    text = repr(value)
    if len(text) <= SHOWN_LENGTH:
        return text
    return f"{text[:SHOWN_LENGTH]}… ({len(text)} characters)"


def clip(text: str, limit: int = MESSAGE_LENGTH) -> str:
    """``text`` whole if short; otherwise its start and end around a note of what was cut (the
    end keeps a message's advice: "...; did you mean 'restart'?")."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    return f"{text[:head]}… ({len(text) - head - tail} characters cut) …{text[-tail:]}"


def clipped(problem: Problem) -> Problem:
    """The problem with its message and field path cut to a readable length."""
    if len(problem.message) <= MESSAGE_LENGTH and len(problem.field) <= MESSAGE_LENGTH:
        return problem
    return dataclasses.replace(problem, message=clip(problem.message), field=clip(problem.field))
