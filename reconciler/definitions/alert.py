"""Alerts as Alertmanager sends them: webhook payload version 4, or bare alerts as ``amtool`` does.

Used by ``plan``, the WorkflowTest runner and (later) the intake. :func:`parse_alerts` accepts
either shape and returns :class:`Alert` values; :meth:`Alert.as_cel` is what expressions see.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from reconciler.definitions.base import Model
from reconciler.errors import InputError

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted name/value pairs."""
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value ^= byte
                value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with a ``Z``, as Alertmanager writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Alert(Model):
    """One alert (the fields of the Alertmanager webhook, v4)."""

    # Alertmanager's JSON, not a definition: times arrive as RFC 3339 text.
    model_config = Model.model_config | {"extra": "ignore", "strict": False}

    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    starts_at: datetime = Field(ZERO_TIME, alias="startsAt")
    ends_at: datetime = Field(ZERO_TIME, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # Pydantic would read a number as Unix seconds; Alertmanager and the published document
        # say RFC 3339, so anything else is refused rather than guessed at.
        if isinstance(value, str | datetime):
            return value
        raise ValueError("a time is an RFC 3339 string, such as 2026-12-03T10:00:00Z")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def model_post_init(self, context: Any, /) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def as_cel(self) -> dict[str, Any]:
        """The ``alert`` variable of expressions.

        Times are RFC 3339 strings (``timestamp(alert.startsAt)`` makes them timestamps):
        cel-expr-python only accepts datetimes as top-level variables, not inside maps.
        """
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "status": self.status,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "fingerprint": self.fingerprint,
            "generatorURL": self.generator_url,
        }


class WebhookPayload(Model):
    """Alertmanager webhook payload, version 4."""

    # Alertmanager's JSON, not a definition: times arrive as RFC 3339 text.
    model_config = Model.model_config | {"extra": "ignore", "strict": False}

    version: str = "4"
    group_key: str = Field("", alias="groupKey")
    truncated_alerts: int = Field(0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"] = "firing"
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[Alert]


def parse_alerts(data: Any, source: str = "payload") -> list[Alert]:
    """Alerts from a webhook payload, a list of bare alerts, or one bare alert."""
    try:
        if isinstance(data, dict) and "alerts" in data:
            payload = WebhookPayload.model_validate(data)
            if payload.version != "4":
                raise InputError(
                    f'{source}: Alertmanager webhook version {payload.version!r}; expected "4"'
                )
            return list(payload.alerts)
        if isinstance(data, list):
            return [Alert.model_validate(item) for item in data]
        if isinstance(data, dict):
            return [Alert.model_validate(data)]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{source}: {where}: {first['msg']}") from exc
    raise InputError(
        f"{source}: expected an Alertmanager webhook payload (with 'alerts'), a list of alerts or one alert"
    )
