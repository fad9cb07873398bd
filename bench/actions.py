"""Benchmark outside calls: ``http.request`` steps through the real engine against a local server.

The server is a minimal ASGI app under uvicorn (uvloop, httptools) in a child process
(``bench/actions.py --serve PORT``), so its CPU is not counted. This process runs the real
:class:`~reconciler.engine.engine.Engine` on a SQLite store in a temporary folder
(``synchronous=FULL``, as the service) with the default action catalogue, and starts
``--executions`` executions at once (100 by default) of a workflow of ``--steps`` steps (5):

- ``calls``: each step an ``http.request`` POST of a small JSON body to the server;
- ``logs``: each step a ``core.log`` (the engine's own cost of a step, for comparison).

Reported per workflow: steps/s (wall clock from the first start to the last execution
finished) and CPU per step (``time.process_time()`` of this process, every thread, divided by
the steps run). "CPU per call" is the difference: what an ``http.request`` costs beyond a
``core.log`` step (target <= 2 ms).

Run: python bench/actions.py [--runs N] [--executions 100] [--steps 5].
Each figure is the median (min-max) of N runs, each on a fresh store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from reconciler.actions.registry import default_registry
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.engine import Engine, Limits
from reconciler.store.sqlite import SqliteStore
from reconciler.validation import revision


def definitions(steps: int) -> bytes:
    """Two workflows of ``steps`` steps: HTTP calls, and core.log steps to compare with."""
    calls = "".join(
        f"    - {{id: call{i}, action: http.request, with: {{method: POST, "
        f'url: "{{{{ params.url }}}}", json: {{step: {i}}}}}}}\n'
        for i in range(steps)
    )
    logs = "".join(
        f"    - {{id: log{i}, action: core.log, with: {{message: step {i}}}}}\n"
        for i in range(steps)
    )
    return (
        "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: calls}\n"
        f"spec:\n  params: {{url: {{type: string}}}}\n  steps:\n{calls}---\n"
        "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: logs}\n"
        f"spec:\n  steps:\n{logs}"
    ).encode()


# -- the server (child process) ----------------------------------------------------------------
async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the request whole, answer 200 with a small JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def serve(port: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        answer, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with {child.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return child
        time.sleep(0.05)
    child.kill()
    raise RuntimeError("the server did not listen within 30 s")


def stop_server(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


# -- the engine (this process) -----------------------------------------------------------------
@dataclass
class Figures:
    steps_per_second: float
    cpu_per_step: float  # seconds


async def run_workflow(
    folder: Path, workflow: str, executions: int, steps: int, url: str
) -> Figures:
    files = {"bench.yaml": definitions(steps)}
    registry = default_registry()
    outcome = revision.build([MemoryTree(files)], registry=registry)
    assert outcome.revision is not None, outcome.problems
    store = SqliteStore(folder / f"{workflow}.db", synchronous="FULL")
    await store.open()
    engine = Engine(
        store,
        registry=registry,
        limits=Limits(max_running_executions=executions, max_running_steps=256),
    )
    try:
        await engine.add_revision("r1", outcome.revision, files)
        params = {"url": url} if workflow == "calls" else {}
        cpu, wall = time.process_time(), time.perf_counter()
        started = await asyncio.gather(
            *(
                engine.start(revision="r1", workflow=workflow, params=params)
                for _ in range(executions)
            )
        )
        while not all(e.finished for e in started):
            await asyncio.sleep(0.005)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await engine.close()
        await store.close()
    failed = [e for e in started if e.status.value != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} executions did not succeed: {failed[0].error}")
    return Figures(executions * steps / wall, cpu / (executions * steps))


def one_run(executions: int, steps: int, url: str) -> tuple[Figures, Figures]:
    with tempfile.TemporaryDirectory() as name:
        calls = asyncio.run(run_workflow(Path(name), "calls", executions, steps, url))
        logs = asyncio.run(run_workflow(Path(name), "logs", executions, steps, url))
    return calls, logs


def describe(label: str, values: list[float], unit: str) -> str:
    return (
        f"{label}: median {statistics.median(values):,.2f} {unit} "
        f"(min {min(values):,.2f}, max {max(values):,.2f}, n={len(values)})"
    )


def main() -> None:
    # The engine logs every transition at info level; measure it, not the terminal.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5, help="steps per workflow")
    parser.add_argument("--serve", type=int)  # internal: child mode (the server)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)  # the local server, never through a proxy
    port = free_port()
    child = start_server(port)
    url = f"http://127.0.0.1:{port}/hook"
    print(
        f"{args.executions} executions x {args.steps} steps at once, SQLite synchronous=FULL; "
        f"server: uvicorn in a child process; {os.cpu_count()} CPUs; {args.runs} run(s)",
        flush=True,
    )
    rates, cpu_calls, rates_log, cpu_logs, per_call = [], [], [], [], []
    try:
        one_run(10, args.steps, url)  # warm-up: imports, first connections
        for run in range(args.runs):
            calls, logs = one_run(args.executions, args.steps, url)
            rates.append(calls.steps_per_second)
            cpu_calls.append(calls.cpu_per_step * 1000)
            rates_log.append(logs.steps_per_second)
            cpu_logs.append(logs.cpu_per_step * 1000)
            per_call.append(cpu_calls[-1] - cpu_logs[-1])
            print(
                f"run {run + 1}: http.request {rates[-1]:,.0f} steps/s, "
                f"{cpu_calls[-1]:.2f} ms CPU/step; core.log {rates_log[-1]:,.0f} steps/s, "
                f"{cpu_logs[-1]:.2f} ms CPU/step; the call itself {per_call[-1]:.2f} ms CPU",
                flush=True,
            )
    finally:
        stop_server(child)
    print(describe("http.request steps/s", rates, "steps/s"))
    print(describe("CPU per http.request step (engine included)", cpu_calls, "ms"))
    print(describe("core.log steps/s", rates_log, "steps/s"))
    print(describe("CPU per core.log step", cpu_logs, "ms"))
    print(describe("CPU per HTTP call (beyond a core.log step)", per_call, "ms"), "target <= 2 ms")


if __name__ == "__main__":
    main()
