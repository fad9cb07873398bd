"""Benchmark the command line's start: how long ``reconciler`` takes to answer, in fresh
processes, as a person or a script runs it (SPEC §3: the read-only and client commands start
at once).

Three commands, each run ``--runs`` times (10) after one untimed warm-up, each in a new process
(the console script next to this Python, else ``python -m reconciler``):

1. ``reconciler --help`` (target: median <= 150 ms on an idle machine);
2. ``reconciler validate example-repo`` (target <= 400 ms);
3. ``reconciler executions list`` against a running service (target <= 250 ms). The service is
   ``reconciler run --cluster none`` on a copy of example-repo committed to a temporary local Git
   repository, started by this script and stopped at the end; one Watchdog alert is fired first
   so the list has a row.

For each: wall-clock time (median, min-max) and the CPU time of the child (user + system,
median): on a loaded machine wall time mostly measures the wait for a core, CPU time what the
command costs. Every run must exit 0.

Run: python bench/cli.py [--runs 10] [--tree DIR]. ``--tree DIR`` measures another checkout
(``git worktree add DIR COMMIT``) with this environment's packages: a before and after. ``python -X importtime -m reconciler --help 2>imp.txt``
shows where a command's start goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example-repo"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@reconciler.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@reconciler.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


# Runs the `reconciler` of another source tree (--tree): its folder first on sys.path, and this
# environment's editable-install finder (which points at this checkout) left out.
FROM_TREE = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
    "sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'reconciler'; "
    "from reconciler.cli import main; main()"
)


def reconciler(tree: Path | None) -> list[str]:
    if tree is not None:
        return [sys.executable, "-c", FROM_TREE, str(tree)]
    script = Path(sys.executable).with_name("reconciler")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds (user + system) of one run; it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(label: str, argv: list[str], runs: int, target_ms: float) -> dict[str, object]:
    timed(argv)  # warm-up: file system cache, .pyc files
    walls, cpus = zip(*(timed(argv) for _ in range(runs)), strict=True)
    wall_ms = [w * 1e3 for w in walls]
    cpu_ms = [c * 1e3 for c in cpus]
    median = statistics.median(wall_ms)
    print(
        f"{label}: median {median:.0f} ms (min {min(wall_ms):.0f}, max {max(wall_ms):.0f}, "
        f"n={runs}); CPU median {statistics.median(cpu_ms):.0f} ms "
        f"(min {min(cpu_ms):.0f}, max {max(cpu_ms):.0f}); target <= {target_ms:g} ms: "
        f"{'met' if median <= target_ms else 'NOT met'}",
        flush=True,
    )
    return {"label": label, "wall_ms": wall_ms, "cpu_ms": cpu_ms, "target_ms": target_ms}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def git_copy(where: Path) -> Path:
    repo = where / "example-repo"
    shutil.copytree(EXAMPLE, repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "example"]):
        subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True)
    return repo


def wait_active(url: str, service: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Poll the status endpoint until a revision is active (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the service exited ({service.returncode}): see its log")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/status", timeout=5) as answer:
                if json.load(answer).get("active_revision"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"the service at {url} had no active revision after {timeout:g}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--tree", type=Path, help="measure the reconciler of this checkout (a before/after)"
    )
    args = parser.parse_args()
    cli = reconciler(args.tree)
    results = [
        measure("reconciler --help", [*cli, "--help"], args.runs, 150),
        measure(
            "reconciler validate example-repo", [*cli, "validate", str(EXAMPLE)], args.runs, 400
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-cli-") as tmp:
        where = Path(tmp)
        repo = git_copy(where)
        url = f"http://127.0.0.1:{free_port()}"
        log = (where / "service.log").open("wb")  # a pipe nobody reads would fill and block it
        service = subprocess.Popen(
            [
                *cli, "run", "--repo", str(repo), "--state-dir", str(where / "state"),
                "--cluster", "none", "--listen", url.removeprefix("http://"),
            ],
            env=GIT_ENV, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_active(url, service)
            timed([*cli, "fire", str(EXAMPLE / "alerts" / "Watchdog.json"), "--server", url])
            results.append(
                measure(
                    "reconciler executions list",
                    [*cli, "executions", "list", "--server", url],
                    args.runs,
                    250,
                )
            )
        finally:
            service.terminate()
            service.wait(timeout=60)
            log.close()
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
