"""Which stored record a delivered alert belongs to: the rule both stores apply inside the write
that stores a delivery (``receive_alerts``), so concurrent deliveries cannot race.

An alert is keyed by fingerprint and startsAt (SPEC §5), but the startsAt a delivery carries is
not always the one its firing was first stored under:

- **No startsAt** (``amtool`` and hand-made alerts): as Alertmanager does, the alert continues
  the newest *firing* record of its fingerprint, or starts at the receive time.
- **An earlier startsAt** than a stored firing record of the same fingerprint, under a key not
  stored yet: Alertmanager merged an earlier startsAt into the same alert (an HA Prometheus
  pair whose second replica's alert arrived later). It is the same firing and keeps the stored
  record's startsAt; the reported one is kept in the record as ``reported_starts_at``. So the
  alert's resolution, which carries the earlier startsAt too, lands on the record its firing
  created, and the intake finds the execution that firing started.

Times are compared as times (stored strings may differ in precision), not as strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def later(a: str, b: str) -> bool:
    """Whether time ``a`` is after time ``b`` (as strings when one is not a time)."""
    first, second = _moment(a), _moment(b)
    if first is None or second is None or (first.tzinfo is None) != (second.tzinfo is None):
        return a > b
    return first > second


def newest(times: Iterable[str]) -> str | None:
    found: str | None = None
    for moment in times:
        if found is None or later(moment, found):
            found = moment
    return found


def place(
    starts_at: str | None, stored: Iterable[tuple[str, str]], received_at: str
) -> tuple[str, str | None]:
    """The startsAt to store a delivered alert under, and the startsAt it reported when that
    differs (None otherwise).

    ``stored``: (starts_at, status) of the records of its fingerprint that are firing or have
    exactly its ``starts_at`` (others do not matter)."""
    rows = list(stored)
    firing = newest(s for s, status in rows if status == "firing")
    if starts_at is None:
        return firing or received_at, None
    if any(s == starts_at for s, _ in rows) or firing is None or not later(firing, starts_at):
        return starts_at, None
    return firing, starts_at
