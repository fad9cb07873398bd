"""Durations as users write them (``30s``, ``5m``, ``1h30m``, ``500ms``, ``2d``).

Used by the definition models (a pydantic ``Duration`` type). Parsing and formatting live in
:mod:`reconciler.durations` (the bottom layer: settings need them too) and are re-exported here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema

from reconciler.durations import PATTERN, format_duration, parse_duration

__all__ = ["PATTERN", "Duration", "JsonSchemaGenerator", "format_duration", "parse_duration"]


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
