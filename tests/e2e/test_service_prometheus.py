"""`--prometheus-url` is a setting of the service: a `prometheus.query` step without `url:`
queries it (a local server speaking Prometheus's query API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from servicekit import Remote, Running, alert, http_peer, settings, wait_for

DEFINITIONS = """\
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: measure}
spec:
  steps:
    - id: rate
      action: prometheus.query
      with: {query: 'rate(errors_total{job="api"}[5m])'}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: measure-errors}
spec:
  match: alert.labels.alertname == "ErrorRate"
  workflow: measure
"""


class Prometheus(BaseHTTPRequestHandler):
    queries: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        Prometheus.queries.extend(parse_qs(url.query).get("query", []))
        sample = {"metric": {"job": "api"}, "value": [1735689600, "0.5"]}
        body = json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
        ).encode()
        self.send_response(200 if url.path == "/api/v1/query" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prometheus() -> Iterator[str]:
    with http_peer(Prometheus) as url:
        yield url


def test_a_query_without_url_goes_to_the_services_prometheus_url(
    tmp_path: Path, prometheus: str
) -> None:
    remote = Remote(tmp_path / "git", files={"definitions.yaml": DEFINITIONS})
    with Running(settings(tmp_path, remote.url, prometheus_url=prometheus)) as running:
        wait_for(lambda: running.status()["active_revision"])
        assert running.fire(alert("ErrorRate")).status_code == 200
        (found,) = wait_for(lambda: running.executions(status="succeeded"), timeout=30)
        view = running.execution(found["id"])
    (step,) = (s for s in view["steps"] if s["step"] == "rate")
    assert step["output"]["value"] == 0.5
    assert 'rate(errors_total{job="api"}[5m])' in Prometheus.queries
