"""Alerts as the store keeps them: plain JSON keyed by ``fingerprint`` and ``starts_at``.

An alert is identified by its fingerprint and its startsAt (SPEC §5): Alertmanager re-sends a
firing alert unchanged every ``repeat_interval`` (and once per replica), and a new firing of the
same labels has a new startsAt.
"""

from __future__ import annotations

from typing import Any

from reconciler.definitions.alert import Alert, rfc3339


def to_record(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "starts_at": rfc3339(alert.starts_at),
        "ends_at": rfc3339(alert.ends_at),
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "generator_url": alert.generator_url,
    }


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
