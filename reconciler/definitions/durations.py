"""Durations as users write them (``30s``, ``5m``, ``1h30m``, ``500ms``, ``2d``).

Used by the definition models: ``Duration`` (a literal duration) and ``TemplatedDuration``
(a literal, or a template such as ``"{{ params.hold }}"`` that validation compiles and the engine
renders when the step starts, see :mod:`reconciler.engine.durations`). Parsing and formatting
live in :mod:`reconciler.durations` (the bottom layer: settings need them too), re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema

from reconciler import durations
from reconciler.durations import PATTERN, parse_duration

__all__ = [
    "PATTERN",
    "Duration",
    "DurationTemplate",
    "JsonSchemaGenerator",
    "TemplatedDuration",
    "format_duration",
    "parse_duration",
]

_DURATION_SCHEMA = {"type": "string", "pattern": PATTERN, "examples": ["30s", "5m", "1h30m"]}


def _coerce(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(_not_a_duration(value))


def _not_a_duration(value: Any, also: str = "") -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value} is a number; a duration has a unit (ms, s, m, h, d): write {value}s{also}"
    return f"expected a duration string such as 30s, 5m or 1h30m{also}, got {value!r}"


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(durations.format_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]


@dataclass(frozen=True, slots=True)
class DurationTemplate:
    """A duration written as a template (``"{{ params.hold }}"``, ``"{{ params.minutes }}m"``).

    Rendered when its step starts; the result is a duration (``90s``) or a number of seconds."""

    source: str

    def __str__(self) -> str:
        return self.source


def _duration_or_template(value: Any) -> timedelta | DurationTemplate:
    if isinstance(value, timedelta | DurationTemplate):
        return value
    if isinstance(value, str) and "{{" in value:
        return DurationTemplate(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(_not_a_duration(value, ' (or a template such as "{{ params.hold }}")'))


def format_duration(value: timedelta | DurationTemplate) -> str:
    """A duration as users write it (``1h30m``); a template as written."""
    if isinstance(value, DurationTemplate):
        return value.source
    return durations.format_duration(value)


TemplatedDuration = Annotated[
    timedelta | DurationTemplate,
    PlainValidator(_duration_or_template),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                _DURATION_SCHEMA,
                {
                    "type": "string",
                    "pattern": r"\{\{",
                    "description": "a template rendered when the step starts: a duration, or a number of seconds",
                    "examples": ["{{ params.hold }}"],
                },
            ]
        }
    ),
]


class JsonSchemaGenerator(GenerateJsonSchema):
    """Writes duration defaults the way users write them (``5m``, not ``PT5M``)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)
