"""Crash tests: kill -9 the engine at seeded random moments; every step's effect happens once.

100 concurrent executions of a 5-step workflow whose steps append to a journal through a
non-idempotent action with a ``check``. The worker is killed several times mid-flight, then
restarted until everything finishes. The journal must hold each (execution, step) exactly once,
and the store must show every execution succeeded.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from reconciler.store.sqlite import SqliteStore

WORKER = Path(__file__).with_name("crash_worker.py")
EXECUTIONS = 100
STEPS = ["one", "two", "three", "four", "five"]


def spawn(database: Path, journal: Path, *mode: str) -> subprocess.Popen[bytes]:
    """A worker process; its stderr goes to a log beside the database (read on failure)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with (database.parent / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(database), str(journal), *mode],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )


def log_of(database: Path) -> str:
    path = database.parent / "worker.log"
    return path.read_text()[-3000:] if path.exists() else ""


def journal_lines(journal: Path) -> list[str]:
    return journal.read_text().splitlines() if journal.exists() else []


def kill_when_busy(
    process: subprocess.Popen[bytes], journal: Path, rng: random.Random, deadline: float
) -> bool:
    """Let the worker make some progress (a random number of journal lines), then kill -9 it.
    Returns False if it finished first."""
    target = len(journal_lines(journal)) + rng.randint(5, 120)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if len(journal_lines(journal)) >= target:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


@pytest.mark.parametrize(
    "seed", [int(s) for s in os.environ.get("CRASH_SEEDS", "11,23").split(",")]
)
def test_killed_engine_resumes_and_every_step_takes_effect_exactly_once(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    database, journal = tmp_path / "engine.db", tmp_path / "journal.txt"
    deadline = time.monotonic() + 120
    created = spawn(database, journal, "create", str(EXECUTIONS))
    assert created.wait(timeout=60) == 0, log_of(database)
    process = spawn(database, journal, "resume")
    try:
        kills = 0
        for _ in range(3):
            if not kill_when_busy(process, journal, rng, deadline):
                break
            kills += 1
            process = spawn(database, journal, "resume")
        assert process.wait(timeout=max(deadline - time.monotonic(), 1)) == 0, log_of(database)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert kills >= 1, "the worker finished before it could be killed: make the test harder"
    counts = Counter(journal_lines(journal))
    repeated = {line: n for line, n in counts.items() if n > 1}
    assert repeated == {}, f"steps whose effect happened more than once: {repeated}"
    executions = {line.split("/")[0] for line in counts}
    assert len(executions) == EXECUTIONS
    assert len(counts) == EXECUTIONS * len(STEPS)
    assert asyncio.run(_statuses(database)) == Counter({"succeeded": EXECUTIONS})


async def _statuses(database: Path) -> Counter[str]:
    store = SqliteStore(database)
    await store.open()
    try:
        rows = await store.query(limit=10_000)
    finally:
        await store.close()
    return Counter(row["status"] for row in rows)
