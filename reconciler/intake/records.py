"""Alerts as the store keeps them: plain JSON keyed by ``fingerprint`` and ``starts_at``.

An alert is identified by its fingerprint and its startsAt (SPEC §5): Alertmanager re-sends a
firing alert unchanged every ``repeat_interval`` (and once per replica), and a new firing of the
same labels has a new startsAt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.definitions.alert import ZERO_TIME, Alert, rfc3339


def to_record(alert: Alert, stamps: dict[datetime, str] | None = None) -> dict[str, Any]:
    """The stored form of an alert; ``starts_at`` is None when it had no startsAt (the store
    decides it). ``stamps``: times already formatted, shared by a delivery's alerts (they often
    share startsAt and endsAt, and formatting is most of the cost)."""
    stamps = {} if stamps is None else stamps
    starts_at, ends_at = alert.starts_at, alert.ends_at
    if starts_at not in stamps:
        stamps[starts_at] = rfc3339(starts_at)
    if ends_at not in stamps:
        stamps[ends_at] = rfc3339(ends_at)
    return {
        "fingerprint": alert.fingerprint,
        "starts_at": None if starts_at == ZERO_TIME else stamps[starts_at],
        "ends_at": stamps[ends_at],
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "generator_url": alert.generator_url,
    }


def to_records(alerts: list[Alert]) -> list[dict[str, Any]]:
    stamps: dict[datetime, str] = {}
    return [to_record(alert, stamps) for alert in alerts]


def from_record(record: dict[str, Any]) -> Alert:
    return Alert.model_validate(
        {
            "labels": record["labels"],
            "annotations": record.get("annotations", {}),
            "status": record["status"],
            "startsAt": record["starts_at"],
            "endsAt": record.get("ends_at") or "0001-01-01T00:00:00Z",
            "generatorURL": record.get("generator_url", ""),
            "fingerprint": record["fingerprint"],
        }
    )
