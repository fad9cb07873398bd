"""Benchmark the durable engine on SQLite (synchronous=FULL).

1. Durable no-op steps/s: 1,000 concurrent executions of a 10-step workflow (target >= 10,000/s).
2. Resume after kill -9: a child process creates 10,000 executions parked in `wait: 1h` and is
   killed; a fresh process times `Engine.recover()` (target <= 2 s). Parked executions stay in
   the store until due, so the same is measured for 10,000 killed in the middle of an action
   call, each of which recovery must check and re-open (the harder case).
3. RSS with those 10,000 parked executions (target <= 200 MB).

Run: python bench/engine.py [--runs N]. Each figure is the median (min-max) of N runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from pydantic import BaseModel

from reconciler.actions.registry import Registry, catalogue
from reconciler.actions.spec import ActionContext, ActionSpec, CheckResult
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
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: hanging}
spec:
  timeout: 2h
  steps:
    - {id: first, action: core.set, with: {ready: true}}
    - {id: hang, action: bench.hang, with: {}}
"""
)
FILES = {"bench.yaml": STEPS}


class NoParams(BaseModel):
    pass


async def hang(params: BaseModel, context: ActionContext) -> dict[str, object]:
    await asyncio.Event().wait()  # a call still in flight when the process is killed
    return {}


async def absent(params: BaseModel, context: ActionContext) -> CheckResult:
    return CheckResult.NOT_DONE


def bench_registry() -> Registry:
    registry = catalogue()
    registry.register(
        ActionSpec(
            "bench.hang",
            "never returns; non-idempotent, with a check",
            NoParams,
            mutating=True,
            idempotent=False,
            dry_run=False,
            effect="write",
            run=hang,
            check=absent,
        )
    )
    return registry


async def engine_on(path: Path, **options: object) -> tuple[Engine, SqliteStore]:
    registry = bench_registry()
    outcome = revision.build([MemoryTree(FILES)], registry=registry)
    assert outcome.revision is not None, outcome.problems
    store = SqliteStore(path, synchronous="FULL")
    await store.open()
    engine = Engine(store, registry=registry, **options)  # type: ignore[arg-type]
    await engine.add_revision("r1", outcome.revision, FILES)
    return engine, store


async def steps_per_second(path: Path, executions: int = 1000) -> float:
    engine, store = await engine_on(
        path, limits=Limits(max_running_executions=executions, max_running_steps=1000)
    )
    start = time.perf_counter()
    # Started concurrently, as alerts arriving together are: their first saves share commits.
    started = await asyncio.gather(
        *(engine.start(revision="r1", workflow="noop", params={}) for _ in range(executions))
    )
    while not all(e.finished for e in started):
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await engine.close()
    await store.close()
    assert all(e.status.value == "succeeded" for e in started)
    return executions * 10 / elapsed


async def park(path: Path, count: int, workflow: str) -> None:
    """Child process: create ``count`` executions, let each reach its wait (or its hanging call),
    then hang until killed."""
    engine, _ = await engine_on(path, limits=Limits(max_running_executions=count + 1))
    started = await asyncio.gather(
        *(engine.start(revision="r1", workflow=workflow, params={}) for _ in range(count))
    )
    if workflow == "parked":  # each leaves memory once it waits in `park` (1h > evict_after)
        while engine.active:
            await asyncio.sleep(0.1)
    else:
        while not all(e.nodes.get("hang") and e.nodes["hang"].attempt_open for e in started):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the last "attempt starting" saves are committed
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
    assert recovered >= 10_000, recovered
    for _ in range(600):  # drivers settle: waiting executions leave memory, hanging ones re-call
        await asyncio.sleep(0.05)
        if all(e.nodes["hang"].attempt_open for e in engine.active.values()):
            break
    gc.collect()
    memory = rss_mb()
    await engine.close()
    await store.close()
    return elapsed, memory


def killed_then_resumed(database: Path, workflow: str) -> tuple[float, float]:
    """Create 10,000 executions in a child, kill -9 it, time recovery in a fresh process."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--park", str(database), "10000", workflow],
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
    parser.add_argument("--park", nargs=3)  # internal: child mode
    parser.add_argument("--resume")  # internal: child mode (a fresh process measures its own RSS)
    args = parser.parse_args()
    if args.park:
        asyncio.run(park(Path(args.park[0]), int(args.park[1]), args.park[2]))
        return
    if args.resume:
        elapsed, memory = asyncio.run(resume(Path(args.resume)))
        print(f"{elapsed} {memory}")
        return
    rates, resumes, interrupted, memories = [], [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            rates.append(asyncio.run(steps_per_second(Path(folder) / "steps.db")))
            elapsed, memory = killed_then_resumed(Path(folder) / "parked.db", "parked")
            resumes.append(elapsed)
            memories.append(memory)
            interrupted.append(killed_then_resumed(Path(folder) / "hanging.db", "hanging")[0])
        print(
            f"run {run + 1}: {rates[-1]:,.0f} steps/s, resume {resumes[-1]:.2f} s "
            f"(interrupted calls {interrupted[-1]:.2f} s), RSS {memories[-1]:.0f} MB",
            flush=True,
        )
    print(
        describe("durable no-op steps/s (1,000 x 10 steps, synchronous=FULL)", rates, "steps/s"),
        "target >= 10,000",
    )
    print(describe("resume 10,000 parked executions after kill -9", resumes, "s"), "target <= 2 s")
    print(
        describe("resume 10,000 executions killed mid-call (check each)", interrupted, "s"),
        "target <= 2 s",
    )
    print(
        describe("RSS with 10,000 executions waiting in wait: 1h", memories, "MB"),
        "target <= 200 MB",
    )


if __name__ == "__main__":
    main()
