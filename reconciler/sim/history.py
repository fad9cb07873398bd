"""The simulated cluster's recent changes, for watches: each stored or deleted object with the
resourceVersion it got, in order.

:class:`reconciler.sim.cluster.Cluster` records into it (lock held) whenever it stores or
removes an object; :mod:`reconciler.sim.watch` reads from a resourceVersion on and waits on
:attr:`History.changed` for more. Only the last :data:`KEPT` changes are kept: a watch from an
older resourceVersion is told it has expired (410), as the API server does.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

KEPT = 10_000


@dataclass(frozen=True)
class Change:
    version: int
    type: str  # ADDED, MODIFIED or DELETED
    kind: str  # the cluster's key for the resource: plural.group
    object: dict[str, Any]


class History:
    def __init__(self, lock: threading.RLock) -> None:
        self.changed = threading.Condition(lock)
        self.latest = 0
        self._changes: deque[Change] = deque(maxlen=KEPT)

    def record(self, version: int, type_: str, kind: str, obj: dict[str, Any]) -> None:
        """A change; wakes the watches."""
        with self.changed:  # re-entrant: callers loading a cluster may not hold the lock yet
            self.latest = max(self.latest, version)
            self._changes.append(Change(version, type_, kind, copy.deepcopy(obj)))
            self.changed.notify_all()

    def since(self, version: int) -> list[Change] | None:
        """The changes after ``version``, or None when some of them are no longer kept."""
        if len(self._changes) == KEPT and version < self._changes[0].version - 1:
            return None
        return [c for c in self._changes if c.version > version]
