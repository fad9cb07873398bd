"""How records become JSON in every store: one encoder, which never refuses a value.

The engine keeps records in plain JSON types, but a value of another type that slips through
(a CEL timestamp, bytes from an action) must not make a batch unwritable: an execution whose
transitions cannot be saved would stay running forever. Such values are written the way CEL
values are rendered (:func:`~reconciler.expressions.values.to_json`: RFC 3339 times, ``"90s"``
durations, base64 bytes), anything else as its ``str``.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.expressions.values import to_json


def _fallback(value: Any) -> Any:
    converted = to_json(value)
    return converted if converted is not value else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_fallback)


def copy(value: Any) -> Any:
    """A JSON round trip: what a store gives back for ``value``."""
    return json.loads(dumps(value))
