"""Benchmark the durable engine on SQLite (synchronous=FULL).

1. Durable no-op steps/s: 1,000 concurrent executions of a 10-step workflow (target >= 10,000/s).
2. Resume after kill -9: a child process creates 10,000 executions parked in `wait: 1h` and is
   killed; a fresh process times `Engine.recover()` (target <= 2 s).
3. RSS with those 10,000 executions waiting (target <= 200 MB).

Run: python bench/engine.py [--runs N]. Each figure is the median (min-max) of N runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import structlog

from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine, Limits
from reconciler.store.sqlite import SqliteStore
from reconciler.validation import revision

STEPS = (
    b"""
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: noop}
spec:
  steps:
"""
    + b"".join(
        f"    - {{id: s{i}, action: core.set, with: {{n: {i}}}}}\n".encode() for i in range(10)
    )
    + b"""
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: parked}
spec:
  timeout: 2h
  steps:
    - {id: first, action: core.set, with: {ready: true}}
    - {id: park, wait: 1h}
"""
)
FILES = {"bench.yaml": STEPS}


async def engine_on(path: Path, **options: object) -> tuple[Engine, SqliteStore]:
    outcome = revision.build([MemoryTree(FILES)])
    assert outcome.revision is not None, outcome.problems
    store = SqliteStore(path, synchronous="FULL")
    await store.open()
    engine = Engine(store, **options)  # type: ignore[arg-type]
    await engine.add_revision("r1", outcome.revision, FILES)
    return engine, store


async def steps_per_second(path: Path, executions: int = 1000) -> float:
    engine, store = await engine_on(
        path, limits=Limits(max_running_executions=executions, max_running_steps=1000)
    )
    start = time.perf_counter()
    started = [
        await engine.start(revision="r1", workflow="noop", params={}) for _ in range(executions)
    ]
    while not all(e.finished for e in started):
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await engine.close()
    await store.close()
    assert all(e.status.value == "succeeded" for e in started)
    return executions * 10 / elapsed


async def park(path: Path, count: int) -> None:
    """Child process: create ``count`` executions, let each reach its wait, then hang until killed."""
    engine, _ = await engine_on(path, limits=Limits(max_running_executions=count + 1))
    for _ in range(count):
        await engine.start(revision="r1", workflow="parked", params={})
    while (
        len(await engine.store.query(status="running", limit=count + 1)) < count
        or engine._tasks_in_flight()
    ):
        await asyncio.sleep(0.1)
    print("parked", flush=True)
    await asyncio.sleep(3600)


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


async def resume(path: Path) -> tuple[float, float]:
    engine, store = await engine_on(path, limits=Limits(evict_after=timedelta(seconds=30)))
    start = time.perf_counter()
    recovered = await engine.recover()
    elapsed = time.perf_counter() - start
    for _ in range(600):  # drivers settle: every execution evicts itself (its timer is 1h away)
        await asyncio.sleep(0.05)
        if not engine.active:
            break
    import gc

    gc.collect()
    memory = rss_mb()
    assert recovered >= 10_000, recovered
    await engine.close()
    await store.close()
    return elapsed, memory


def describe(label: str, values: list[float], unit: str) -> str:
    return f"{label}: median {statistics.median(values):,.2f} {unit} (min {min(values):,.2f}, max {max(values):,.2f}, n={len(values)})"


def main() -> None:
    # The engine logs every transition at info level; a benchmark measures the engine, not the terminal.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--park", nargs=2)  # internal: child mode
    parser.add_argument("--resume")  # internal: child mode (a fresh process measures its own RSS)
    args = parser.parse_args()
    if args.park:
        asyncio.run(park(Path(args.park[0]), int(args.park[1])))
        return
    if args.resume:
        elapsed, memory = asyncio.run(resume(Path(args.resume)))
        print(f"{elapsed} {memory}")
        return
    rates, resumes, memories = [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            rates.append(asyncio.run(steps_per_second(Path(folder) / "steps.db")))
            database = Path(folder) / "parked.db"
            child = subprocess.Popen(
                [sys.executable, __file__, "--park", str(database), "10000"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "parked"
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
            measured = subprocess.run(
                [sys.executable, __file__, "--resume", str(database)],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed, memory = (float(v) for v in measured.stdout.split())
            resumes.append(elapsed)
            memories.append(memory)
        print(
            f"run {run + 1}: {rates[-1]:,.0f} steps/s, resume {resumes[-1]:.2f} s, RSS {memories[-1]:.0f} MB",
            flush=True,
        )
    print(
        describe("durable no-op steps/s (1,000 x 10 steps, synchronous=FULL)", rates, "steps/s"),
        "target >= 10,000",
    )
    print(
        describe("resume 10,000 in-flight executions after kill -9", resumes, "s"), "target <= 2 s"
    )
    print(
        describe("RSS with 10,000 executions waiting in wait: 1h", memories, "MB"),
        "target <= 200 MB",
    )


if __name__ == "__main__":
    main()
