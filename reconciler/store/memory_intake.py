"""The intake's records in memory: alerts, decisions, the service's state, admission lookups.

Mixed into :class:`~reconciler.store.memory.MemoryStore`, with the SQLite store's behaviour
(``tests/store/test_contract.py`` runs both).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reconciler.store import encoding, firings
from reconciler.store.base import FINAL

_copy = encoding.copy


class MemoryIntake:
    _executions: dict[str, dict[str, Any]]

    def __init__(self) -> None:
        self._alerts: dict[tuple[str, str], dict[str, Any]] = {}
        self._alert_seq = 0
        self._decisions: list[dict[str, Any]] = []
        self._state: dict[str, str] = {}

    async def count_by_status(self) -> dict[str, int]:
        return dict(Counter(h["status"] for h in self._executions.values()))

    async def policy_history(self, policy: str, since: str) -> list[dict[str, Any]]:
        return [
            {k: h[k] for k in ("id", "target", "status", "created_at")}
            for h in self._executions.values()
            if h["policy"] == policy and (h["status"] not in FINAL or h["created_at"] >= since)
        ]

    async def receive_alerts(self, alerts: list[dict[str, Any]], received_at: str) -> list[bool]:
        # Strict JSON, as SQLite's intake: a delivery with an alert that is not JSON is refused.
        copies = [json.loads(json.dumps(alert)) for alert in alerts]
        repeats = []
        for alert in copies:  # no await: the whole delivery is one atomic step
            fingerprint = alert["fingerprint"]
            stored = [
                (starts_at, row["record"]["status"])
                for (known, starts_at), row in self._alerts.items()
                if known == fingerprint
            ]
            starts_at, reported = firings.place(alert["starts_at"], stored, received_at)
            alert["starts_at"] = starts_at
            if reported is not None:
                alert["reported_starts_at"] = reported
            key = (fingerprint, starts_at)
            known = self._alerts.get(key)
            repeats.append(known is not None and known["record"]["status"] == alert["status"])
            self._alert_seq += 1
            self._alerts[key] = {
                "record": alert,
                "deliveries": (known["deliveries"] if known else 0) + 1,
                "first_received_at": known["first_received_at"] if known else received_at,
                "received_at": received_at,
                "pending": True,
                "seq": self._alert_seq,
            }
        return repeats

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        alert: dict[str, Any] = _copy(row["record"])
        alert.update(
            deliveries=row["deliveries"],
            first_received_at=row["first_received_at"],
            received_at=row["received_at"],
            pending=row["pending"],
        )
        return alert

    async def pending_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = sorted((r for r in self._alerts.values() if r["pending"]), key=lambda r: r["seq"])
        return [self._view(r) for r in rows[:limit]]

    async def finish_alert(self, fingerprint: str, starts_at: str, deliveries: int) -> None:
        self._record_intake([], [(fingerprint, starts_at, deliveries)])

    async def alerts(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        rows = [
            r for r in self._alerts.values() if status is None or r["record"]["status"] == status
        ]
        rows.sort(key=lambda r: (r["received_at"], r["seq"]), reverse=True)
        return [self._view(r) for r in rows[:limit]]

    async def save_decision(self, decision: dict[str, Any]) -> None:
        self._decisions.append(_copy(decision))

    def _record_intake(
        self, decisions: list[dict[str, Any]], done: list[tuple[str, str, int]]
    ) -> None:
        """The intake's part of a saved batch (already copied)."""
        self._decisions.extend(decisions)
        for fingerprint, starts_at, deliveries in done:
            row = self._alerts.get((fingerprint, starts_at))
            if row is not None and row["deliveries"] == deliveries:
                row["pending"] = False

    async def decisions_of(self, alerts: list[tuple[str, str]]) -> list[dict[str, Any]]:
        keys = set(alerts)
        found = [d for d in self._decisions if (d["fingerprint"], d["starts_at"]) in keys]
        copied: list[dict[str, Any]] = _copy(found)
        return copied

    async def decisions(
        self,
        *,
        fingerprint: str | None = None,
        starts_at: str | None = None,
        execution: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        found = [
            d
            for d in self._decisions
            if (fingerprint is None or d["fingerprint"] == fingerprint)
            and (starts_at is None or d["starts_at"] == starts_at)
            and (execution is None or d.get("execution") == execution)
        ]
        copied: list[dict[str, Any]] = _copy(found[-limit:])
        return copied

    async def get_state(self, key: str) -> Any:
        value = self._state.get(key)
        return json.loads(value) if value is not None else None

    async def set_state(self, key: str, value: Any) -> None:
        self._state[key] = json.dumps(value)
