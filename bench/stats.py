"""Timing helpers for the benchmarks: run a callable several times, report median and range."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(
    run: Callable[[], object], *, repeat: int, setup: Callable[[], object] | None = None
) -> list[float]:
    """Seconds taken by each of ``repeat`` runs (``setup`` before each, untimed)."""
    timings = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return timings


def describe(
    label: str,
    timings: list[float],
    unit: float = 1e3,
    suffix: str = "ms",
    target: float | None = None,
) -> str:
    values = [t * unit for t in timings]
    line = (
        f"{label}: median {statistics.median(values):.2f} {suffix} "
        f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )
    if target is not None:
        line += f"  target <= {target:g} {suffix}: {'met' if statistics.median(values) <= target else 'NOT met'}"
    return line
