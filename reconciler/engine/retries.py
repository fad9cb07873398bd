"""When to retry a failed attempt, and after how long (after Temporal's RetryPolicy)."""

from __future__ import annotations

import random
from datetime import timedelta

from reconciler.definitions.workflow import Retry
from reconciler.engine import durations

NO_RETRY = Retry()


def should_retry(policy: Retry | None, attempts: int, kind: str) -> bool:
    """Whether another attempt follows ``attempts`` made, after a failure of ``kind``.

    ``kind`` is ``error``, ``timeout`` or ``permanent``; permanent errors (404, invalid input,
    refused) are never retried, whatever ``on`` says.
    """
    policy = policy or NO_RETRY
    if kind == "permanent" or kind not in policy.on:
        return False
    return attempts <= policy.limit


def backoff(policy: Retry | None, attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before the next attempt after ``attempts`` made: ``backoff * factor^(attempts-1)``,
    capped at ``max_backoff``, plus up to ``jitter`` of itself."""
    policy = policy or NO_RETRY
    first, cap = durations.fixed(policy.backoff), durations.fixed(policy.max_backoff)
    seconds = first.total_seconds() * policy.factor ** max(attempts - 1, 0)
    seconds = min(seconds, cap.total_seconds())
    if policy.jitter:
        seconds += seconds * policy.jitter * (rng or random.Random()).random()  # noqa: S311 - not crypto
    return timedelta(seconds=seconds)
