"""Retention of finished executions (``--retention 30d``): prune them in the background.

Started by :class:`reconciler.app.service.Service` when ``retention`` is set: once at start,
then every :data:`PRUNE_EVERY`. Each pass deletes, in batches, the executions that finished
more than ``retention`` ago (the store keeps every unfinished one, and the subflows and parents
an unfinished one needs, whatever their age; revisions stay), and counts them in
``reconciler_executions_pruned_total``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from reconciler.engine.clock import Clock
from reconciler.engine.state import iso
from reconciler.metrics import Metrics
from reconciler.store.base import Store

log = structlog.get_logger("reconciler.service")
PRUNE_EVERY = 3600.0  # seconds between passes
BATCH = 500  # executions deleted per store write: the writer serves the engine in between


async def prune_once(store: Store, clock: Clock, retention: float, metrics: Metrics) -> int:
    """One pass: delete what finished before now - retention; returns how many."""
    before = iso(clock.now() - timedelta(seconds=retention))
    total = 0
    while True:
        pruned = await store.prune_finished(before, limit=BATCH)
        total += pruned
        metrics.executions_pruned.inc(pruned)
        if pruned < BATCH:
            break
    if total:
        log.info("pruned finished executions", count=total, finished_before=before)
    return total


async def prune_forever(
    store: Store, clock: Clock, retention: float, metrics: Metrics, every: float = PRUNE_EVERY
) -> None:
    """Prune now, then every ``every`` seconds, until cancelled (the service's stop)."""
    while True:
        try:
            await prune_once(store, clock, retention, metrics)
        except Exception:  # the store may fail for a while (a full disk): next pass tries again
            log.exception("pruning finished executions failed")
        await asyncio.sleep(every)
