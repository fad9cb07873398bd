"""What an expression read, for the message of an expression that failed at run time.

``alert.labels.pod == "web"`` failing with ``no such key: pod`` is only half an answer; the other
half is what ``alert.labels`` held. :func:`describe` finds the variable paths an expression names
(``alert.labels.pod``, ``steps["probe"].output``) and resolves each as far as the data goes:
``alert.labels = {"alertname": "X"}, which has no key "pod"``. Values are redacted (by the
caller's redactor: the engine's knows the secrets read) and then cut short.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from reconciler.errors import Redactor, sanitize, sanitize_text
from reconciler.expressions.values import to_json

_STRING_LITERAL = re.compile(
    r"""(?s)[rR]?(\"\"\".*?\"\"\"|'''.*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""
)
_SEGMENT = r"""(?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:"[^"\\]*"|'[^'\\]*'|\d+)\s*\])"""
_PATH = re.compile(rf"(?<![\w.])([A-Za-z_]\w*)((?:{_SEGMENT})*)")
_SEGMENTS = re.compile(r"""\.\s*([A-Za-z_]\w*)|\[\s*(?:"([^"\\]*)"|'([^'\\]*)'|(\d+))\s*\]""")
MAX_VALUE = 200  # characters of one value shown
MAX_PATHS = 5


def describe(source: str, data: Mapping[str, Any], redact: Redactor = sanitize_text) -> str:
    """``path = value`` for each variable path the expression names, ``; ``-separated. Each
    value is redacted before it is cut short (a secret cut in two would escape redaction)."""
    literals = [m.span() for m in _STRING_LITERAL.finditer(source)]
    seen: list[str] = []
    for match in _PATH.finditer(source):
        if any(start <= match.start() < end for start, end in literals):
            continue
        name, tail = match.group(1), match.group(2)
        if name not in data:
            continue
        if source[match.end() :].lstrip().startswith("(") and "." in tail:
            tail = tail[: tail.rindex(".")]  # a method call (``.startsWith(``): not a field
        text = _resolve(name, tail, data[name], redact)
        if text not in seen:
            seen.append(text)
        if len(seen) >= MAX_PATHS:
            break
    return "; ".join(seen)


def _resolve(name: str, tail: str, value: Any, redact: Redactor) -> str:
    path = name
    for match in _SEGMENTS.finditer(tail):
        field, double, single, index = match.groups()
        key: str | int = (
            field if field is not None else double if double is not None else single or ""
        )
        if index is not None:
            key = int(index)
        if isinstance(value, Mapping) and isinstance(key, str):
            if key not in value:
                return f"{path} = {_show(value, redact)}, which has no key {json.dumps(key)}"
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int):
            if key >= len(value):
                return f"{path} = {_show(value, redact)}, which has no index {key}"
            value = value[key]
        else:
            break  # a method call or a field of a scalar: what was read is the value so far
        path += f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"
    return f"{path} = {_show(value, redact)}"


def _show(value: Any, redact: Redactor) -> str:
    text = redact(sanitize(json.dumps(to_json(value), sort_keys=True, default=str)))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"
