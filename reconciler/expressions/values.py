"""Conversions between Python values and what CEL sees, and the bounds on CEL inputs.

cel-expr-python has a fixed iteration budget but no time bound, so the time an evaluation can take
is bounded by the size of what it is handed: :func:`check_bounds` refuses strings, lists and
nesting beyond :class:`~reconciler.settings.ExpressionLimits`. Producers of CEL inputs (alerts,
step outputs, cluster views) call it once per value; evaluation itself does not re-walk inputs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from reconciler.errors import ExpressionError
from reconciler.settings import DEFAULT, ExpressionLimits


def check_bounds(value: Any, name: str, limits: ExpressionLimits = DEFAULT.expressions) -> None:
    """Raise ExpressionError if ``value`` is too large or too deep to hand to CEL."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth > limits.max_depth:
            raise ExpressionError(f"{name} is nested deeper than {limits.max_depth} levels")
        if isinstance(current, str):
            if len(current) > limits.max_string_length:
                raise ExpressionError(
                    f"{name} holds a string of {len(current)} characters; the limit is {limits.max_string_length}"
                )
        elif isinstance(current, dict):
            if len(current) > limits.max_list_length:
                raise ExpressionError(
                    f"{name} holds a map of {len(current)} entries; the limit is {limits.max_list_length}"
                )
            stack.extend((item, depth + 1) for item in current.values())
            stack.extend((key, depth + 1) for key in current if isinstance(key, str))
        elif isinstance(current, list | tuple):
            if len(current) > limits.max_list_length:
                raise ExpressionError(
                    f"{name} holds a list of {len(current)} items; the limit is {limits.max_list_length}"
                )
            stack.extend((item, depth + 1) for item in current)


def to_cel(value: Any) -> Any:
    """Make a Python value acceptable to CEL (tuples become lists, sets sorted lists)."""
    if isinstance(value, dict):
        return {str(k): to_cel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_cel(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_cel(v) for v in value)
    return value


def to_text(value: Any) -> str:
    """How a value is spliced into a template string (CEL spelling for bools and null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 2**53 else repr(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(to_json(value), sort_keys=True)


def to_json(value: Any) -> Any:
    """A JSON-safe copy of an evaluation result (timestamps as RFC 3339, durations as seconds)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
