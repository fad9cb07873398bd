"""End-to-end set-up for the service: a real Git remote on disk, and `reconciler run`'s app
served by uvicorn on 127.0.0.1:0 in a thread, reached over real HTTP.

Every server a test starts is stopped by the test (context managers), even when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from reconciler.app.auth import Tokens
from reconciler.app.http import create_app
from reconciler.app.service import Service
from reconciler.settings import ServiceSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "service"
T = TypeVar("T")

# A fresh machine has no Git identity, and a developer's global config must not leak in.
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "reconciler tests",
    "GIT_AUTHOR_EMAIL": "tests@reconciler.invalid",
    "GIT_COMMITTER_NAME": "reconciler tests",
    "GIT_COMMITTER_EMAIL": "tests@reconciler.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Remote:
    """A bare repository (what the service polls) and a clone to push commits from."""

    def __init__(self, root: Path, files: dict[str, str] | None = None) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        git("init", "--bare", "-b", "main", cwd=self.bare)
        self.work.mkdir()
        git("init", "-b", "main", cwd=self.work)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.commit(files if files is not None else fixture_files(), "initial definitions")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (or, for None, delete) files, commit and push; returns the commit."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def force_push(self, files: dict[str, str], message: str) -> str:
        """Rewrite history: a new root commit, force-pushed over main."""
        git("checkout", "-q", "--orphan", "rewritten", cwd=self.work)
        git("rm", "-rq", "--cached", ".", cwd=self.work)
        for child in self.work.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for name, text in files.items():
            (self.work / name).write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "--force", "origin", "rewritten:main", cwd=self.work)
        git("branch", "-M", "rewritten", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def fixture_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in FIXTURES.glob("*.yaml")}


class Running:
    """``reconciler run``'s app under uvicorn on a free loopback port, in a thread.

    ``client`` sends the first API token, if any (reads need one once tokens are set);
    ``settings.listen`` decides the service's policy (Host names, open control), while the
    server always binds 127.0.0.1: tests send traffic to loopback only."""

    def __init__(
        self, settings: ServiceSettings, *, webhook: Tokens | None = None, api: Tokens | None = None
    ) -> None:
        self.service = Service(settings)
        self.api = api or Tokens({})
        app = create_app(self.service, webhook=webhook or Tokens({}), api=self.api)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.url = ""
        self.http: httpx.Client | None = None

    def __enter__(self) -> Running:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), timeout=30)
        assert self.server.started, "the service did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        token = next(iter(self.api.by_name.values()), None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, timeout=30, headers=headers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.http is not None:
            self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the service did not stop"

    # -- helpers -------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        assert self.http is not None
        return self.http

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/api/v1/status").json()
        return data

    def fire(self, *alerts: dict[str, Any]) -> httpx.Response:
        return self.client.post("/api/v1/alerts", json=payload(*alerts))

    def executions(self, **filters: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.client.get("/api/v1/executions", params=filters).json()
        return rows

    def execution(self, execution_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.client.get(f"/api/v1/executions/{execution_id}").json()
        return view

    def decisions(self, alertname: str) -> list[dict[str, Any]]:
        found = []
        for alert in self.client.get("/api/v1/alerts").json():
            if alert["labels"]["alertname"] == alertname:
                found.extend(alert["decisions"])
        return sorted(found, key=lambda d: d["at"])

    def settled(self) -> None:
        """Wait until every stored alert has been evaluated."""
        wait_for(lambda: not any(a["pending"] for a in self.client.get("/api/v1/alerts").json()))


def settings(tmp_path: Path, repo: str, **overrides: Any) -> ServiceSettings:
    overrides.setdefault("cluster", "none")  # never the developer's kubeconfig
    return ServiceSettings(repo=repo, state_dir=str(tmp_path / "state"), interval=0.2, **overrides)


def alert(
    name: str, pod: str = "web-1", *, status: str = "firing", starts_at: str = ""
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "pod": pod, "namespace": "prod"},
        "annotations": {"summary": f"{name} on {pod}"},
        "startsAt": starts_at or "2026-01-01T10:00:00Z",
        "endsAt": "2026-01-01T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "",
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager webhook payload, version 4."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="test"}',
        "truncatedAlerts": 0,
        "status": alerts[0]["status"] if alerts else "firing",
        "receiver": "reconciler",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }


def wait_for(predicate: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll until ``predicate`` is truthy (no fixed sleeps); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(0.02)


@contextmanager
def http_peer(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local HTTP server answering with ``handler`` on 127.0.0.1:0, its URL; stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
