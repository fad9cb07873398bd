"""`prometheus.query` against a local HTTP server that speaks Prometheus's query API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.actions.registry import default_registry
from reconciler.actions.spec import ActionContext
from reconciler.errors import PermanentError


class Prometheus(BaseHTTPRequestHandler):
    seen: list[dict[str, list[str]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        Prometheus.seen.append(query)
        if url.path != "/api/v1/query":
            self._answer(404, {"status": "error", "errorType": "not_found", "error": "no"})
        elif query["query"][0] == "bad(":
            self._answer(400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
        else:
            sample = {"metric": {"pod": "web-1"}, "value": [1735689600, "0.25"]}
            self._answer(
                200, {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
            )

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def query(prometheus_url: str = "", **params: Any) -> dict[str, Any]:
    spec = default_registry().get("prometheus.query")
    assert spec is not None
    context = ActionContext("e", "s", 1, prometheus_url=prometheus_url)
    return asyncio.run(spec.call(spec.params.model_validate(params), context))


def test_an_instant_query_answers_its_samples_and_first_value(prometheus: str) -> None:
    output = query(
        url=prometheus, query='rate(errors_total{job="api"}[5m])', time="2026-01-01T00:00:00Z"
    )
    assert output["result_type"] == "vector"
    assert output["value"] == 0.25 and output["result"][0]["metric"] == {"pod": "web-1"}
    assert Prometheus.seen[-1] == {
        "query": ['rate(errors_total{job="api"}[5m])'],
        "time": ["2026-01-01T00:00:00Z"],
    }


def test_a_bad_query_fails_with_prometheus_own_message(prometheus: str) -> None:
    with pytest.raises(PermanentError, match="bad_data: parse error"):
        query(url=prometheus, query="bad(")


def test_the_url_comes_from_the_service_setting_when_not_given(
    prometheus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The variable is read by `reconciler run` as --prometheus-url, not by the action itself.
    monkeypatch.setenv("RECONCILER_PROMETHEUS_URL", prometheus)
    with pytest.raises(PermanentError, match="--prometheus-url"):
        query(query="up")
    assert query(prometheus_url=prometheus, query="up")["values"] == [0.25]
