"""Benchmark the webhook past its capacity: is an overload refused (503 + Retry-After) or
absorbed (memory, latency, work for clients that gave up)?

The service runs as in ``bench/service.py`` (its helpers: a child process under uvicorn, SQLite
synchronous=FULL, the same repository). The load, from this process: ``--rate`` POSTs/s (600)
for ``--seconds`` (20), ``--bulk-rate`` of them per second (30) carrying ``--bulk-size`` alerts
(1,000, no policy matches them), the others one alert each; every client gives up after
``--timeout`` s (30). Printed per run: answers by status (2xx, 503, client timeouts, other
errors), the POST's p50/p99 for those answered 2xx, the server's peak RSS (sampled every
100 ms), alerts acknowledged (in 2xx answers) against alert deliveries the store counted once
the server stopped (work done for clients that had gone shows as the difference).

Run: python bench/overload.py [--runs N] [--seconds 20] [--rate 600] [--bulk-rate 30].
Each figure is the median (min-max) of N runs, each on a fresh repository and store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import service as bench  # bench/service.py: the server child, the payloads, the load


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def peak_rss(pid: int, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        with contextlib.suppress(OSError):
            peak = max(peak, rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    return peak


async def offered(port: int, child: object, mix: bench.Mix, timeout: float) -> tuple[object, float]:
    stop = asyncio.Event()
    sampler = asyncio.create_task(peak_rss(child.pid, stop))  # type: ignore[attr-defined]
    try:
        load = await bench.offer(port, child, mix, timeout=timeout)  # type: ignore[arg-type]
    finally:
        stop.set()
    return load, await sampler


def counted(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        (total,) = connection.execute("SELECT COALESCE(SUM(deliveries), 0) FROM alerts").fetchone()
    return int(total)


def one_run(mix: bench.Mix, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        bench.make_repo(folder)
        port = bench.free_port()
        child = bench.start_server(folder, port, None)
        try:
            load, peak = asyncio.run(offered(port, child, mix, timeout))
        finally:
            bench.stop_server(child)
        stored = counted(folder / "state" / "reconciler.db")
    answers = [v * 1000 for v in load.answers]  # type: ignore[attr-defined]
    refused: dict[str, int] = load.refused  # type: ignore[attr-defined]
    return {
        "ok": len(answers),
        "503": refused.get("503", 0),
        "timeouts": sum(v for k, v in refused.items() if "Timeout" in k),
        "errors": sum(v for k, v in refused.items() if k != "503" and "Timeout" not in k),
        "p50": bench.percentile(answers, 50),
        "p99": bench.percentile(answers, 99),
        "rss": peak,
        "acknowledged": load.acknowledged,  # type: ignore[attr-defined]
        "stored": stored,
        "refused": refused,  # type: ignore[dict-item]
    }


def main() -> None:
    bench.quiet_logs()
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=600.0, help="POSTs per second")
    parser.add_argument("--bulk-rate", type=float, default=30.0, help="bulk POSTs per second")
    parser.add_argument("--bulk-size", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout, seconds")
    args = parser.parse_args()
    mix = bench.Mix(args.seconds, args.rate, round(args.rate / args.bulk_rate), args.bulk_size)
    print(
        f"{args.rate:g} POSTs/s for {args.seconds:g} s, 1 in {mix.bulk_every} with "
        f"{mix.bulk_size} alerts; clients give up after {args.timeout:g} s; {args.runs} run(s)",
        flush=True,
    )
    figures: dict[str, list[float]] = {}
    for run in range(args.runs):
        values = one_run(mix, args.timeout)
        for key, value in values.items():
            if key != "refused":
                figures.setdefault(key, []).append(value)
        print(
            f"run {run + 1}: 2xx {values['ok']:.0f}, 503 {values['503']:.0f}, client timeouts "
            f"{values['timeouts']:.0f}, other errors {values['errors']:.0f}; 2xx p50 "
            f"{values['p50']:.0f} ms, p99 {values['p99']:.0f} ms; peak RSS {values['rss']:.0f} MB; "
            f"alerts acknowledged {values['acknowledged']:.0f}, stored deliveries "
            f"{values['stored']:.0f}; {values['refused']}",
            flush=True,
        )
    for key, unit in (("503", "answers"), ("timeouts", "requests"), ("rss", "MB")):
        print(bench.describe(f"overload: {key}", figures[key], unit))
    print(bench.describe("overload: alerts acknowledged", figures["acknowledged"], "alerts"))
    print(bench.describe("overload: alert deliveries stored", figures["stored"], "alerts"))


if __name__ == "__main__":
    main()
