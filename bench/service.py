"""Benchmark the service (``reconciler run``): alert to first step, the webhook's answer, and
the Git poll.

1. Alert POST -> first step started, p50 and p99 (target p99 <= 10 ms), and the POST's own
   answer, p50 and p99 (target p99 < 100 ms), with ``--rate`` POSTs/s (200) for ``--seconds``
   (60), every ``--bulk-every``-th (100: 1%) carrying ``--bulk-size`` alerts (1,000). The
   service runs as ``reconciler run`` builds it (``Service`` + ``create_app`` under uvicorn with
   uvloop and httptools, no tokens, SQLite synchronous=FULL, its garbage collector tuned) in a
   child process (``bench/service.py --serve DIR PORT``); the load generator is this process
   (asyncio + one aiohttp.ClientSession: httpx's connection pool costs more CPU than the
   service at thousands of requests in flight). They are separate processes sharing the
   machine's cores. The repository is a local Git repo with one Workflow (``first``: core.set,
   ``second``: core.log) and one Policy matching ``alertname == "Bench"``. Each single alert
   has its own ``pod`` label (so its own fingerprint and target: every one starts an
   execution); bulk payloads' alerts are named ``BenchBulk`` (stored and evaluated, matching no
   policy). Each POST is an Alertmanager v4 webhook to ``POST /api/v1/alerts`` on an open-loop
   schedule: POST i leaves at t0 + i/rate, in its own task, whatever the earlier responses do.
   The latency of an alert is its first step's ``started_at`` (the server's clock) minus
   ``time.time()`` just before its POST (the client's; same machine, same clock), read from the
   store (SQLite) after the server stopped. Also printed: the server's CPU per second of load,
   alerts sent, executions whose first step started, non-2xx answers, and where the time goes
   (client send -> alert received -> decision -> execution created -> first step started, from
   the stored timestamps).
2. No-change poll (service not running): ``GitSource.head()`` of a local repository (read as
   file://), 200 calls after a warm-up (target <= 5 ms); and whole ``Reconciler.reconcile()``
   passes that find the head unchanged (after one that applied it), 50 of them.

Run: python bench/service.py [--runs N] [--seconds 60] [--rate 200] [--bulk-every 100]
[--bulk-size 1000] [--no-executions] [--profile FILE]. ``--no-executions``: the single alerts
match no policy either, so only the webhook and the intake work (no execution competes).
Each figure is the median (min-max) of N runs, each on a fresh repository and store.
``--profile FILE`` runs the server child under ``python -m cProfile -o FILE`` (one run) and
prints its top functions; the profile covers the event loop's thread only, not SQLite's writer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import pstats
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import structlog

from reconciler.definitions.alert import fingerprint

DEFINITIONS = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: bench}
spec:
  params: {pod: {type: string}}
  steps:
    - {id: first, action: core.set, with: {pod: "{{ params.pod }}"}}
    - {id: second, action: core.log, with: {message: done}}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: bench}
spec:
  match: alert.labels.alertname == "Bench"
  workflow: bench
  params: {pod: "{{ alert.labels.pod }}"}
  target: "{{ alert.labels.pod }}"
"""
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
POLLS = 200
PASSES = 50


def quiet_logs() -> None:
    # The service logs every decision and transition at info level; measure it, not the terminal.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


def make_repo(folder: Path) -> Path:
    """A local Git repository on branch main with the benchmark's definitions, committed."""
    repo = folder / "repo"
    repo.mkdir()
    (repo / "bench.yaml").write_text(DEFINITIONS)
    environment = {**os.environ, **GIT_IDENTITY}
    for command in (
        ["git", "init", "--quiet", "-b", "main"],
        ["git", "add", "bench.yaml"],
        ["git", "commit", "--quiet", "-m", "bench definitions"],
    ):
        subprocess.run(command, cwd=repo, env=environment, check=True)
    return repo


def settings_for(folder: Path, port: int = 0) -> object:
    from reconciler.settings import ServiceSettings

    return ServiceSettings(
        repo=str(folder / "repo"),
        state_dir=str(folder / "state"),
        listen=f"127.0.0.1:{port}",
        interval=30,
    )


# -- the server (child process) ----------------------------------------------------------------
def serve(folder: Path, port: int) -> None:
    """Child mode: the service as ``reconciler run`` builds it, until SIGINT."""
    import uvicorn

    from reconciler.app.auth import Tokens
    from reconciler.app.http import create_app
    from reconciler.app.service import Service, tune_gc

    quiet_logs()
    service = Service(settings_for(folder, port))  # type: ignore[arg-type]
    app = create_app(service, webhook=Tokens({}), api=Tokens({}))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    tune_gc()  # as `reconciler run` does
    # uvicorn shuts down on SIGINT, then raises it again: end normally (cProfile writes its file).
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path, port: int, profile: Path | None) -> subprocess.Popen[bytes]:
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [str(Path(__file__).resolve()), "--serve", str(folder), str(port)]
    with (folder / "server.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def stop_server(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the store closes cleanly
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


# -- the load (this process) -------------------------------------------------------------------
@dataclass
class Load:
    sent: dict[str, float] = field(default_factory=dict)  # pod -> time.time() before its POST
    answers: list[float] = field(default_factory=list)  # POST latency, seconds (2xx only)
    bulk_answers: list[float] = field(default_factory=list)  # of them, bulk payloads'
    refused: dict[str, int] = field(default_factory=dict)  # status code or error -> count
    elapsed: float = 0.0  # from the first send to the last scheduled send
    acknowledged: int = 0  # alerts in payloads answered 2xx
    server_cpu: float = 0.0  # CPU seconds the server used while the load was offered
    wall: float = 0.0  # seconds from the first send to the last answer


def payload(pods: list[str], alertname: str = "Bench") -> dict[str, object]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": alertname, "pod": pod, "severity": "warning"},
            "annotations": {},
            "startsAt": now,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            # Alertmanager sends each alert's fingerprint (amtool-style lists do not).
            "fingerprint": fingerprint({"alertname": alertname, "pod": pod, "severity": "warning"}),
        }
        for pod in pods
    ]
    return {
        "version": "4",
        "status": "firing",
        "receiver": "r",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {"alertname": alertname},
        "commonAnnotations": {},
        "externalURL": "",
        "truncatedAlerts": 0,
    }


async def wait_ready(client: aiohttp.ClientSession, child: subprocess.Popen[bytes]) -> None:
    """Until the first reconcile pass activated the repository's revision."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with {child.returncode} before being ready")
        with contextlib.suppress(aiohttp.ClientError):
            async with client.get("/api/v1/status") as answer:
                if answer.status == 200 and (await answer.json()).get("active_revision"):
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError("the server was not ready within 60 s")


async def send(
    client: aiohttp.ClientSession, pods: list[str], body: bytes, load: Load, *, bulk: bool
) -> None:
    """One POST: a single matching alert, or a bulk payload of alerts no policy matches (stored
    and evaluated, starting nothing). Bodies are built before the clock starts: encoding a
    1,000-alert payload would stall this process's loop and inflate every other answer."""
    headers = {"content-type": "application/json"}
    if not bulk:
        load.sent[pods[0]] = time.time()
    start = time.perf_counter()
    try:
        async with client.post("/api/v1/alerts", data=body, headers=headers) as answer:
            await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        key = type(exc).__name__
        load.refused[key] = load.refused.get(key, 0) + 1
        return
    if 200 <= status < 300:
        load.answers.append(time.perf_counter() - start)
        load.acknowledged += len(pods)
        if bulk:
            load.bulk_answers.append(load.answers[-1])
    else:
        load.refused[str(status)] = load.refused.get(str(status), 0) + 1


@dataclass(frozen=True)
class Mix:
    """The offered load: ``rate`` POSTs/s for ``seconds``; every ``bulk_every``-th POST (0:
    none) carries ``bulk_size`` alerts."""

    seconds: float
    rate: float
    bulk_every: int = 0
    bulk_size: int = 1000
    single_alertname: str = "Bench"  # another name: single alerts start nothing either


async def offer(port: int, child: subprocess.Popen[bytes], mix: Mix, timeout: float = 60) -> Load:
    load = Load()
    # aiohttp, not httpx: at thousands of requests in flight httpcore's pool costs the load
    # generator more CPU than the service uses (docs/decisions/0005-http-client.md). Idle
    # connections are dropped before uvicorn's 5 s keep-alive timeout would close them under a
    # request (the client's race, not the service's).
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(
        f"http://127.0.0.1:{port}",
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as client:
        await wait_ready(client, child)
        count = round(mix.seconds * mix.rate)
        tag = os.urandom(3).hex()
        posts = []
        for i in range(count):
            bulk = mix.bulk_every > 0 and i % mix.bulk_every == mix.bulk_every - 1
            pods = (
                [f"bulk-{tag}-{i:06d}-{j:04d}" for j in range(mix.bulk_size)]
                if bulk
                else [f"pod-{tag}-{i:06d}"]
            )
            body = json.dumps(payload(pods, "BenchBulk" if bulk else mix.single_alertname)).encode()
            posts.append((pods, body, bulk))
        tasks = []
        loop = asyncio.get_running_loop()
        cpu = cpu_seconds(child.pid)
        t0 = loop.time() + 0.05
        for i, (pods, body, bulk) in enumerate(posts):
            delay = t0 + i / mix.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(client, pods, body, load, bulk=bulk)))
        load.elapsed = loop.time() - t0
        await asyncio.gather(*tasks)
        load.wall = loop.time() - t0
        load.server_cpu = cpu_seconds(child.pid) - cpu
    return load


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_steps_started(database: Path) -> int:
    """How many first steps have started (read-only; the server keeps writing)."""
    if not database.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM nodes WHERE key = 'first' "
            "AND json_extract(record, '$.started_at') IS NOT NULL"
        ).fetchone()
    return int(count)


async def settle(database: Path, expected: int, stall: float = 30.0) -> None:
    """After the load: until every first step has started, or none started for ``stall`` s."""
    seen, since = -1, time.monotonic()
    while (count := first_steps_started(database)) < expected:
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since > stall:
            return
        await asyncio.sleep(0.5)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass
class Result:
    load: Load
    latencies: list[float]  # seconds, POST -> first step started, one per started execution
    stages: dict[str, list[float]]  # seconds, per stage of the way


def read_store(database: Path, load: Load) -> Result:
    """Each execution's first step start, mapped back to its alert through ``params.pod``."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        executions = {
            i: json.loads(h) for i, h in connection.execute("SELECT id, header FROM executions")
        }
        first = {
            e: json.loads(r)["started_at"]
            for e, r in connection.execute("SELECT execution, record FROM nodes WHERE key='first'")
        }
        received = {
            json.loads(r)["labels"]["pod"]: at
            for r, at in connection.execute("SELECT record, first_received_at FROM alerts")
        }
        decided = {
            e: json.loads(r)["at"]
            for e, r in connection.execute(
                "SELECT execution, record FROM decisions WHERE execution IS NOT NULL"
            )
        }
    latencies: list[float] = []
    stages: dict[str, list[float]] = {
        "POST sent -> alert stored": [],
        "alert stored -> decision": [],
        "decision -> execution created": [],
        "execution created -> first step started": [],
    }
    for execution_id, header in executions.items():
        pod = header["params"].get("pod")
        started = first.get(execution_id)
        if pod not in load.sent or not started:
            continue
        sent = load.sent[pod]
        latencies.append(epoch(started) - sent)
        if pod in received and execution_id in decided:
            marks = [sent, *(epoch(s) for s in (received[pod], decided[execution_id]))]
            marks += [epoch(header["created_at"]), epoch(started)]
            for values, (a, b) in zip(stages.values(), itertools.pairwise(marks), strict=True):
                values.append(b - a)
    return Result(load, latencies, stages)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def under_load(mix: Mix, profile: Path | None) -> Result:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        make_repo(folder)
        port = free_port()
        child = start_server(folder, port, profile)
        try:
            load = asyncio.run(offer(port, child, mix))
            database = folder / "state" / "reconciler.db"
            asyncio.run(settle(database, len(load.sent)))
        except BaseException:
            stop_server(child)
            sys.stderr.write((folder / "server.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            stop_server(child)
        if child.returncode not in (0, None):
            sys.stderr.write((folder / "server.log").read_text(errors="replace")[-4000:])
        return read_store(database, load)


# -- the poll (no server) ----------------------------------------------------------------------
def timed_heads(repo: Path, cache: Path) -> list[float]:
    from reconciler.source.gitsource import GitSource
    from reconciler.source.opening import open_source

    source = open_source(repo.resolve().as_uri(), branch="main", cache_dir=cache)
    assert isinstance(source, GitSource)
    for _ in range(10):
        source.head()
    times = []
    for _ in range(POLLS):
        start = time.perf_counter()
        source.head()
        times.append(time.perf_counter() - start)
    return times


async def timed_passes(folder: Path) -> list[float]:
    from reconciler.app.service import Service

    service = Service(settings_for(folder))  # type: ignore[arg-type]
    await service.store.open()
    try:
        applied = await service.reconciler.reconcile()
        assert applied.result == "applied", applied
        times = []
        for _ in range(PASSES):
            start = time.perf_counter()
            outcome = await service.reconciler.reconcile()
            times.append(time.perf_counter() - start)
            assert outcome.result == "unchanged", outcome
    finally:
        await service.engine.close()
        await service.store.close()
    return times


def polling() -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        repo = make_repo(folder)
        heads = timed_heads(repo, folder / "cache")
        passes = asyncio.run(timed_passes(folder))
    return heads, passes


# -- output ------------------------------------------------------------------------------------
def describe(label: str, values: list[float], unit: str) -> str:
    return f"{label}: median {statistics.median(values):,.2f} {unit} (min {min(values):,.2f}, max {max(values):,.2f}, n={len(values)})"


def show_profile(path: Path, top: int = 25) -> None:
    for order in ("cumulative", "tottime"):
        print(f"\nserver profile, top {top} by {order} ({path}):")
        stats = pstats.Stats(str(path), stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(top)


def _loop_name() -> str:
    """The event loop uvicorn picks (``loop="auto"``): uvloop when installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio loop, h11"
    return "uvloop, httptools"


def main() -> None:
    quiet_logs()
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load")
    parser.add_argument("--rate", type=float, default=200.0, help="POSTs per second")
    parser.add_argument(
        "--bulk-every", type=int, default=100, help="every Nth POST is a bulk payload (0: none)"
    )
    parser.add_argument("--bulk-size", type=int, default=1000, help="alerts in a bulk payload")
    parser.add_argument(
        "--no-executions",
        action="store_true",
        help="single alerts match no policy either: the webhook and intake alone",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the server child into this file")
    parser.add_argument("--serve", nargs=2)  # internal: child mode (the server)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    runs = 1 if args.profile else args.runs
    mix = Mix(
        args.seconds,
        args.rate,
        args.bulk_every,
        args.bulk_size,
        "BenchNone" if args.no_executions else "Bench",
    )
    bulk = f", 1 in {mix.bulk_every} with {mix.bulk_size} alerts" if mix.bulk_every else ""
    print(
        f"service in a child process (uvicorn, {_loop_name()}), load from this process "
        f"(aiohttp, asyncio); "
        f"{os.cpu_count()} CPUs; {args.rate:g} POSTs/s{bulk} for {args.seconds:g} s, open loop; "
        f"{runs} run(s)",
        flush=True,
    )
    figures: dict[str, list[float]] = {
        k: []
        for k in (
            "p50", "p99", "post50", "post99", "bulk99", "sent", "started", "bad", "head", "pass"
        )
    }  # fmt: skip
    stages: dict[str, list[tuple[float, float]]] = {}
    for run in range(runs):
        result = under_load(mix, args.profile)
        load = result.load
        heads, passes = polling()
        ms = [v * 1000 for v in result.latencies]
        post = [v * 1000 for v in load.answers]
        values = {
            "p50": percentile(ms, 50),
            "p99": percentile(ms, 99),
            "post50": percentile(post, 50),
            "post99": percentile(post, 99),
            "bulk99": percentile([v * 1000 for v in load.bulk_answers], 99),
            "sent": len(load.sent),
            "started": len(ms),
            "bad": sum(load.refused.values()),
            "head": statistics.median(heads) * 1000,
            "pass": statistics.median(passes) * 1000,
        }
        for key, value in values.items():
            figures[key].append(value)
        for name, spans in result.stages.items():
            spans_ms = [v * 1000 for v in spans]
            stages.setdefault(name, []).append((percentile(spans_ms, 50), percentile(spans_ms, 99)))
        print(
            f"run {run + 1}: alert->first step p50 {values['p50']:.1f} ms, p99 "
            f"{values['p99']:.1f} ms (max {max(ms, default=float('nan')):.1f}); POST p50 "
            f"{values['post50']:.1f} ms, p99 {values['post99']:.1f} ms (max "
            f"{max(post, default=float('nan')):.1f}; bulk payloads' p99 {values['bulk99']:.1f}); "
            f"server CPU {load.server_cpu / load.wall:.2f} s/s; sent {len(load.sent)} in "
            f"{load.elapsed:.1f} s, started {len(ms)}, non-2xx {load.refused or 0}; head() "
            f"{values['head']:.2f} ms (min {min(heads) * 1000:.2f}, max {max(heads) * 1000:.2f}); "
            f"unchanged reconcile {values['pass']:.2f} ms "
            f"(min {min(passes) * 1000:.2f}, max {max(passes) * 1000:.2f})",
            flush=True,
        )
        for name, spans in result.stages.items():
            spans_ms = [v * 1000 for v in spans]
            print(
                f"    {name}: p50 {percentile(spans_ms, 50):.1f} ms, "
                f"p99 {percentile(spans_ms, 99):.1f} ms"
            )
    load_label = f"{args.rate:g} POSTs/s{bulk} for {args.seconds:g} s"
    print(describe(f"alert POST -> first step started, p50 ({load_label})", figures["p50"], "ms"))
    print(
        describe(f"alert POST -> first step started, p99 ({load_label})", figures["p99"], "ms"),
        "target <= 10 ms",
    )
    print(describe("POST /api/v1/alerts answered, p50 (client side)", figures["post50"], "ms"))
    print(
        describe("POST /api/v1/alerts answered, p99 (client side)", figures["post99"], "ms"),
        "target < 100 ms",
    )
    if mix.bulk_every:
        print(describe("of them bulk payloads, p99", figures["bulk99"], "ms"))
    print(describe("single alerts sent", figures["sent"], "alerts"))
    print(describe("executions whose first step started", figures["started"], "executions"))
    print(describe("non-2xx answers and errors", figures["bad"], "answers"))
    print(
        describe(f"GitSource.head() on file://, median of {POLLS}", figures["head"], "ms"),
        "target <= 5 ms",
    )
    print(
        describe(f"Reconciler.reconcile() unchanged, median of {PASSES}", figures["pass"], "ms"),
        "target <= 5 ms",
    )
    if args.profile:
        show_profile(args.profile)


if __name__ == "__main__":
    main()
