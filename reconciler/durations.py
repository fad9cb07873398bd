"""Durations as users write them (``500ms``, ``30s``, ``5m``, ``1h30m``, ``2d``), in one place.

SPEC §3: durations are written the same everywhere. Definitions take the unit form only
(:func:`parse_duration`, through :mod:`reconciler.definitions.durations`); flags, ``RECONCILER_*``
variables, settings-file keys and rendered duration templates also take a bare number meaning
seconds (:func:`parse_flexible`). This module sits at the bottom layer beside
:mod:`reconciler.settings`, which needs it for ``interval``.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

_MICROS = {"ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
# The JSON Schema's pattern: what parse_duration accepts (surrounding spaces are ignored).
PATTERN = r"^\s*([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+\s*$"
EXAMPLES = "500ms, 30s, 5m or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m`` into a timedelta; raise ValueError with a hint otherwise."""
    cleaned = text.strip()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(
            f"invalid duration {text!r}: write a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h30m"
        )
    # Exact arithmetic in microseconds: floats lose milliseconds on long durations.
    micros = sum((Decimal(n) * _MICROS[unit] for n, unit in _PART.findall(cleaned)), Decimal(0))
    return _micros(micros, text)


def parse_flexible(value: Any) -> timedelta:
    """A duration from a flag, variable, settings key or rendered template: ``30s``, ``1h30m``,
    or a bare number (int, float or numeric text) meaning seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {value!r}: write {EXAMPLES}, or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid duration {value!r}: a number of seconds must be 0 or more")
        return _micros(Decimal(str(value)) * _MICROS["s"], str(value))
    cleaned = value.strip()
    if _SECONDS.fullmatch(cleaned):
        return _micros(Decimal(cleaned) * _MICROS["s"], value)
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"invalid duration {value!r}: write {EXAMPLES}, or a number of seconds")
    return parse_duration(cleaned)


def _micros(micros: Decimal, text: str) -> timedelta:
    try:
        return timedelta(microseconds=int(micros))
    except OverflowError as exc:
        raise ValueError(f"duration {text!r} is too long") from exc


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way users write it (``1h30m``, ``45s``, ``250ms``)."""
    total_ms = value // timedelta(milliseconds=1)
    if total_ms == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, total_ms = divmod(total_ms, size)
        if count:
            parts.append(f"{count}{unit}")
    if total_ms:
        parts.append(f"{total_ms}ms")
    return "".join(parts)
