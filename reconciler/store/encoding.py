"""How records become JSON in every store: one encoder, which never refuses a value.

The engine keeps records in plain JSON types, but a value of another type that slips through
(a CEL timestamp, bytes from an action) must not make a batch unwritable: an execution whose
transitions cannot be saved would stay running forever. Such values are written the way CEL
values are rendered (:func:`~reconciler.expressions.values.to_json`: RFC 3339 times, ``"90s"``
durations, base64 bytes), anything else as its ``str``.

It is also where redaction happens for everything recorded: every string of a record (keys
included, at any depth) goes through :func:`reconciler.redaction.redact` before it is written, so
no store (SQLite, memory), no API answer and no ``executions show`` holds a known secret in any
common encoding, URL credentials or a token-shaped value (a record whose encoded document is
certainly clean, the common case, is written as first encoded). The engine keeps unredacted
values in memory only (docs/engine.md, "Secrets").
"""

from __future__ import annotations

import json
from typing import Any

from reconciler import redaction
from reconciler.expressions.values import to_json


def _fallback(value: Any) -> Any:
    converted = to_json(value)
    return redaction.redact(converted if converted is not value else str(value))


def dumps(value: Any) -> str:
    """A record as it may be stored: redacted, then JSON. The whole document is looked at
    first: most records hold nothing to redact and are written as they were encoded."""
    encoded = json.dumps(value, default=_fallback)
    if not redaction.may_hold(encoded):
        return encoded
    return json.dumps(redaction.redact(value), default=_fallback)


def copy(value: Any) -> Any:
    """A JSON round trip: what a store gives back for ``value``."""
    return json.loads(dumps(value))
