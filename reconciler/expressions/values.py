"""Conversions between Python values and what CEL sees, and the bounds on CEL inputs.

cel-expr-python has a fixed iteration budget but no time bound, so the time an evaluation can take
is bounded by the size of what it is handed: :func:`check_bounds` refuses strings, lists and
nesting beyond :class:`~reconciler.settings.ExpressionLimits`. Producers of CEL inputs (alerts,
step outputs, cluster views) call it once per value; evaluation itself does not re-walk inputs.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.errors import ExpressionError
from reconciler.settings import DEFAULT, ExpressionLimits


def check_bounds(value: Any, name: str, limits: ExpressionLimits = DEFAULT.expressions) -> None:
    """Raise ExpressionError if ``value`` is too large or too deep to hand to CEL, naming where
    (``alert.labels.description holds a string of ...``)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if _problem(current, depth, limits) is not None:
            path, problem = _locate(value, name, 0, limits) or (name, "is too large")
            raise ExpressionError(f"{path} {problem}")
        if isinstance(current, dict):
            stack.extend((item, depth + 1) for item in current.values())
            stack.extend((key, depth + 1) for key in current if isinstance(key, str))
        elif isinstance(current, list | tuple):
            stack.extend((item, depth + 1) for item in current)


def _problem(value: Any, depth: int, limits: ExpressionLimits) -> str | None:
    if depth > limits.max_depth:
        return f"is nested deeper than {limits.max_depth} levels"
    if isinstance(value, str) and len(value) > limits.max_string_length:
        return f"holds a string of {len(value)} characters; the limit is {limits.max_string_length}"
    if isinstance(value, dict | list | tuple) and len(value) > limits.max_list_length:
        kind = (
            f"a map of {len(value)} entries"
            if isinstance(value, dict)
            else (f"a list of {len(value)} items")
        )
        return f"holds {kind}; the limit is {limits.max_list_length}"
    return None


def _locate(value: Any, path: str, depth: int, limits: ExpressionLimits) -> tuple[str, str] | None:
    """The path of the first part of ``value`` over the bounds, and what is wrong with it (only
    walked once a bound is known to be exceeded)."""
    problem = _problem(value, depth, limits)
    if problem is not None:
        return path, problem
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            text = str(key) if len(str(key)) <= 64 else str(key)[:61] + "..."
            label = f"{path}.{text}" if text.isidentifier() else f"{path}[{text!r}]"
            key_problem = _problem(key, 0, limits) if isinstance(key, str) else None
            if key_problem is not None:
                return f"a key of {path}", key_problem
            children.append((label, item))
    elif isinstance(value, list | tuple):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    for label, item in children:
        found = _locate(item, label, depth + 1, limits)
        if found is not None:
            return found
    return None


def result_size(value: Any, limit: int) -> int:
    """Roughly the JSON size of an evaluation's result (string lengths plus a few bytes per
    item), counted only until it passes ``limit``: the run-time bound on what one evaluation
    may hand on to records, templates and actions."""
    size = 0
    stack = [value]
    while stack and size <= limit:
        current = stack.pop()
        if isinstance(current, str):
            size += len(current) + 2
        elif isinstance(current, dict):
            size += 2 + 4 * len(current)
            stack.extend(current.values())
            stack.extend(current.keys())
        elif isinstance(current, list):
            size += 2 + len(current)
            stack.extend(current)
        else:
            size += 8
    return size


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
    value = to_json(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 2**53 else repr(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


_PLAIN = (str, bool, int, float, type(None))


def to_json(value: Any) -> Any:
    """A JSON-safe copy of an evaluation result, for every CEL type: timestamps as RFC 3339
    strings, durations as CEL writes them (``"90s"``, ``"1.5s"``), bytes as base64, type
    values by name; map keys become strings."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return duration_text(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted((to_json(v) for v in value), key=repr)
    name = getattr(value, "name", None)
    if callable(name):  # a CEL type value (``type(x)``), spelled as CEL does: ``int``, ``list``
        return str(name()).split("<", 1)[0].lower()
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    converted = to_json(key)
    return converted if isinstance(converted, str) else str(converted)


def duration_text(value: timedelta) -> str:
    """A duration as CEL and protobuf write it: seconds with up to 6 decimals (``"90s"``)."""
    micros = value // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".")
    return f"{sign}{text}s"
