"""Durations as users write them (``30s``, ``5m``, ``1h30m``, ``500ms``, ``2d``).

Used by the definition models (a pydantic ``Duration`` type) and anything that reads durations
from flags or files.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema

_MICROS = {"ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m`` into a timedelta; raise ValueError with a hint otherwise."""
    cleaned = text.strip()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(
            f"invalid duration {text!r}: write a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h30m"
        )
    # Exact arithmetic in microseconds: floats lose milliseconds on long durations.
    micros = sum(Decimal(n) * _MICROS[unit] for n, unit in _PART.findall(cleaned))
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


def _coerce(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected a duration string such as 30s, 5m or 1h30m, got {value!r}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30s", "5m", "1h30m"]}),
]


class JsonSchemaGenerator(GenerateJsonSchema):
    """Writes duration defaults the way users write them (``5m``, not ``PT5M``)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)
