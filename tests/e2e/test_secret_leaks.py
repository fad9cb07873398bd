"""A secret read through secret() leaks nowhere: `reconciler run` as a process, a workflow that
logs the secret (core.log), sends it to a local server that echoes it back in several encodings
(http.request), has a shell step print it, and passes the echoed value on to a later step.

Then the SQLite file's bytes, ``GET /api/v1/executions/{id}``, ``executions show -o json`` and
the service's log lines hold no form of it, and the later step still sent the real value (the
engine keeps it in memory; records hold ``***``).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from servicekit import GIT_ENV, Remote, http_peer, wait_for

SECRET = "Sup3r-s3cret/Token+42&more"
DATABASE_URL = "postgres://app:db-pass-9876@db.internal:5432/app"


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        secret.upper(),
        secret.lower(),
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        secret[: len(secret) // 2 + 2],  # cut short
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


class Echo(BaseHTTPRequestHandler):
    """Echoes the bearer token it was sent in several encodings, and keeps what it got."""

    received: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        raw = token.encode()
        body = {
            "exact": token,
            "upper": token.upper(),
            "base64": base64.b64encode(raw).decode(),
            "base64url": base64.urlsafe_b64encode(raw).decode(),
            "hex": raw.hex(),
            "url": quote(token, safe=""),
            "basic": base64.b64encode(b"user:" + raw).decode(),
            "half": token[: len(token) // 2 + 2],
            "database": DATABASE_URL,
        }
        self._answer(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append(json.loads(self.rfile.read(length)))
        self._answer({"ok": True})

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def echo() -> Iterator[str]:
    Echo.received = []
    with http_peer(Echo) as url:
        yield url


WORKFLOW = """\
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: leaky}
spec:
  match: alert.labels.alertname == "SecretLeak"
  workflow: leaky
  params: {url: "ECHO"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: leaky}
spec:
  params:
    url: {type: string}
  steps:
    - id: say
      action: core.log
      with: {message: "the token is {{ secret('api', 'token') }}"}
    - id: ask
      action: http.request
      with:
        method: GET
        url: "{{ params.url }}/echo"
        headers: {Authorization: "Bearer {{ secret('api', 'token') }}"}
    - id: print
      action: shell
      with:
        command: [PYTHON, "-c", "import os; t = os.environ['T']; print(t, t.upper(), t.encode().hex())"]
        env: {T: "{{ secret('api', 'token') }}"}
    - id: use
      action: http.request
      with:
        method: POST
        url: "{{ params.url }}/use"
        json: {token: "{{ steps.ask.output.json.exact }}", upper: "{{ steps.ask.output.json.upper }}"}
    - id: leak
      action: core.fail
      with: {message: "failed with {{ steps.ask.output.json.base64 }}"}
"""


def test_a_secret_leaks_into_no_record_answer_or_log_line(tmp_path: Path, echo: str) -> None:
    definitions = WORKFLOW.replace("ECHO", echo).replace("PYTHON", sys.executable)
    remote = Remote(tmp_path / "git", files={"leaky.yaml": definitions})
    (tmp_path / "secrets" / "api").mkdir(parents=True)
    (tmp_path / "secrets" / "api" / "token").write_text(SECRET + "\n")
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    env = {**GIT_ENV, "RECONCILER_SERVER": server, "RECONCILER_INTERVAL": "0.5"}
    service = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "run",
            "--repo", remote.url,
            "--state-dir", str(tmp_path / "state"),
            "--secrets-dir", str(tmp_path / "secrets"),
            "--listen", f"127.0.0.1:{port}",
            "--cluster", "none",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _get(f"{server}/api/v1/status", "active_revision"), timeout=60)
        alert = [{"labels": {"alertname": "SecretLeak"}, "startsAt": "2026-01-01T00:00:00Z"}]
        assert httpx.post(f"{server}/api/v1/alerts", json=alert).status_code < 300

        def finished() -> list[dict[str, Any]]:
            rows = httpx.get(f"{server}/api/v1/executions").json()
            return [r for r in rows if r["status"] in ("succeeded", "failed")]

        (execution,) = wait_for(finished, timeout=60)
        answer = httpx.get(f"{server}/api/v1/executions/{execution['id']}").text
        shown = cli("executions", "show", execution["id"], "-o", "json", env=env)
        assert shown.returncode == 0, shown.stderr
    finally:
        service.terminate()
        logs, _ = service.communicate(timeout=30)

    view = json.loads(answer)
    steps = {s["key"]: s for s in view["steps"]}
    assert steps["use"]["phase"] == "succeeded", steps["use"]
    # The later step got the real value, not ***, though every record shows ***.
    assert Echo.received == [{"token": SECRET, "upper": SECRET.upper()}]
    assert steps["ask"]["output"]["json"]["exact"] == "***"
    assert "***" in steps["leak"]["error"]
    assert steps["ask"]["output"]["json"]["database"] == "postgres://***@db.internal:5432/app"
    assert any(e.get("kind") == "log" and "***" in e.get("message", "") for e in view["timeline"])
    # The database and its write-ahead log, whatever was checkpointed.
    database = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("reconciler.db*"))
    for where, text in {
        "api": answer,
        "executions show": shown.stdout,
        "logs": logs,
        "sqlite": database.decode("utf-8", "replace"),
    }.items():
        leaked = [f for f in forms(SECRET) if f in text]
        assert leaked == [], f"{where} shows {leaked}"
        assert "db-pass-9876" not in text, where


def _get(url: str, key: str) -> Any:
    try:
        return httpx.get(url).json()[key]
    except httpx.HTTPError:
        return None
