"""HTTP-speaking actions: ``http.request``, ``notify.webhook``, ``notify.slack``, ``prometheus.query``.

Through httpx, with a timeout per call and a bounded response. Status codes are classified the
way retries need: 429 and 5xx (and connection failures) are temporary, honouring Retry-After;
other 4xx are permanent. ``prometheus.query`` runs an instant query over Prometheus's HTTP API.
Calls go through the engine's pooled clients (:mod:`reconciler.actions.http_clients`, in the
call's context); a call without a pool (an action called on its own) builds a client for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import Field, model_validator

from reconciler.actions import http_clients
from reconciler.actions.spec import ActionContext, ActionSpec, Params
from reconciler.definitions.durations import Duration
from reconciler.errors import PermanentError, TemporaryError, sanitize

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class HttpRequestParams(Params):
    method: Method = "GET"
    url: str = Field(pattern=r"^https?://", description="http:// or https:// URL")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", description="JSON body")
    body: str | None = Field(None, description="raw body")
    timeout: Duration = timedelta(seconds=10)
    expect_status: list[int] | None = Field(
        None, description="statuses counted as success (2xx when absent)"
    )

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("set json or body, not both")
        return self


class WebhookParams(Params):
    url: str = Field(pattern=r"^https?://")
    text: str | None = None
    json_body: dict[str, Any] | None = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _content(self) -> WebhookParams:
        if (self.text is None) == (self.json_body is None):
            raise ValueError("set exactly one of text and json")
        return self


class SlackParams(Params):
    url: str = Field(
        pattern=r"^https://", description="Slack incoming-webhook URL (keep it in a secret)"
    )
    text: str = Field(min_length=1)
    channel: str | None = None
    username: str | None = None
    timeout: Duration = timedelta(seconds=10)


class PrometheusQueryParams(Params):
    query: str = Field(min_length=1, description="PromQL")
    url: str | None = Field(
        None, description="Prometheus base URL; the service setting when absent"
    )
    time: str | None = Field(None, description="evaluation time (RFC 3339); now when absent")
    timeout: Duration = timedelta(seconds=10)


PROMETHEUS_URL = "RECONCILER_PROMETHEUS_URL"  # the default `url:` of prometheus.query


async def _prometheus(params: PrometheusQueryParams, context: ActionContext) -> dict[str, Any]:
    """An instant query over Prometheus's HTTP API (``/api/v1/query``)."""
    base = params.url or os.environ.get(PROMETHEUS_URL)
    if not base:
        raise PermanentError(
            f"prometheus.query: no Prometheus: give `url:` or set {PROMETHEUS_URL}"
        )
    query = {"query": params.query, **({"time": params.time} if params.time else {})}
    url = f"{base.rstrip('/')}/api/v1/query?{urlencode(query)}"
    # Prometheus explains a bad query in a JSON body with 400 or 422: read it.
    answer = await _send(
        "GET",
        url,
        headers={"Accept": "application/json"},
        timeout=params.timeout,
        expect=[200, 400, 422],
        clients=context.http,
    )
    data = answer.get("json")
    if not isinstance(data, dict) or "status" not in data:
        raise PermanentError(f"prometheus.query: not a Prometheus answer (HTTP {answer['status']})")
    if data["status"] != "success":
        raise PermanentError(f"prometheus.query: {data.get('errorType')}: {data.get('error')}")
    kind, result = data["data"]["resultType"], data["data"]["result"]
    output: dict[str, Any] = {"result_type": kind, "result": result}
    if kind == "vector":
        output["values"] = [float(sample["value"][1]) for sample in result]
        output["value"] = output["values"][0] if result else None
    elif kind == "scalar":
        output["value"] = float(result[1])
    return output


def _http_mutates(params: Mapping[str, Any]) -> bool:
    return str(params.get("method", "GET")).upper() not in {"GET", "HEAD"}


MAX_BODY = 64 * 1024


async def _send(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: Any = None,
    body: str | None = None,
    timeout: timedelta,
    expect: list[int] | None = None,
    clients: http_clients.HttpClients | None = None,
) -> dict[str, Any]:
    where = f"{method} {sanitize(url)}"
    try:
        request = _Request(method, url, headers, json_body, body, timeout)
        # httpx's timeout bounds each read; wait_for bounds the whole request.
        response, raw, truncated = await asyncio.wait_for(
            _exchange(request, clients), timeout.total_seconds()
        )
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise TemporaryError(f"{where}: timed out after {timeout.total_seconds():g}s") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, OverflowError) as exc:
        raise PermanentError(f"{where}: invalid URL: {sanitize(str(exc))}") from exc
    except httpx.HTTPError as exc:
        raise TemporaryError(f"{where}: {type(exc).__name__}: {sanitize(str(exc))}") from exc
    except Exception as exc:
        raise PermanentError(f"{where}: {type(exc).__name__}: {sanitize(str(exc))}") from exc
    text = raw.decode(response.encoding or "utf-8", "replace")
    output: dict[str, Any] = {
        "status": response.status_code,
        "headers": {
            k.lower(): v for k, v in response.headers.items() if k.lower() not in _SECRET_HEADERS
        },
        "body": text,
        "truncated": truncated,
    }
    if "json" in response.headers.get("content-type", "") and not truncated:
        with contextlib.suppress(ValueError):
            output["json"] = json.loads(raw)
    ok = response.status_code in expect if expect else 200 <= response.status_code < 300
    if ok:
        return output
    summary = f"{method} {sanitize(url)}: HTTP {response.status_code}"
    if response.status_code == 429 or response.status_code >= 500:
        raise TemporaryError(summary, delay=_retry_after(response))
    raise PermanentError(summary)


_SECRET_HEADERS = {"set-cookie", "authorization", "proxy-authorization"}


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    json_body: Any
    body: str | None
    timeout: timedelta


async def _exchange(
    request: _Request, clients: http_clients.HttpClients | None
) -> tuple[httpx.Response, bytes, bool]:
    """Send the request on a pooled client (or one of its own when there is no pool)."""
    async with http_clients.lease(clients, request.url) as client:
        return await _over(client, request)


async def _over(
    client: httpx.AsyncClient, request: _Request
) -> tuple[httpx.Response, bytes, bool]:
    """Read at most MAX_BODY bytes of the answer (never the whole of a big one)."""
    built = client.build_request(
        request.method,
        request.url,
        headers=request.headers,
        json=request.json_body,
        content=request.body.encode() if request.body is not None else None,
        timeout=request.timeout.total_seconds(),
    )
    response = await client.send(built, stream=True)
    try:
        kept = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            kept.extend(chunk)
            if len(kept) > MAX_BODY:
                truncated = True
                break
        return response, bytes(kept[:MAX_BODY]), truncated
    finally:
        await response.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


async def _http_request(params: HttpRequestParams, context: ActionContext) -> dict[str, Any]:
    if context.dry_run and params.method not in ("GET", "HEAD"):
        return {"dry_run": True, "method": params.method, "url": sanitize(params.url)}
    return await _send(
        params.method,
        params.url,
        headers=params.headers,
        json_body=params.json_body,
        body=params.body,
        timeout=params.timeout,
        expect=params.expect_status,
        clients=context.http,
    )


async def _webhook(params: WebhookParams, context: ActionContext) -> dict[str, Any]:
    payload = params.json_body if params.json_body is not None else {"text": params.text}
    result = await _send(
        "POST",
        params.url,
        headers=params.headers,
        json_body=payload,
        timeout=params.timeout,
        clients=context.http,
    )
    return {"status": result["status"]}


async def _slack(params: SlackParams, context: ActionContext) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": params.text}
    if params.channel:
        payload["channel"] = params.channel
    if params.username:
        payload["username"] = params.username
    result = await _send(
        "POST",
        params.url,
        headers={},
        json_body=payload,
        timeout=params.timeout,
        clients=context.http,
    )
    return {"status": result["status"]}


ACTIONS: list[ActionSpec] = [
    ActionSpec(
        "http.request",
        "call an HTTP endpoint",
        HttpRequestParams,
        mutating=True,
        idempotent=False,
        dry_run=False,
        run=_http_request,
        mutating_when=_http_mutates,
    ),
    ActionSpec(
        "notify.webhook",
        "post a message to a webhook",
        WebhookParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        run=_webhook,
    ),
    ActionSpec(
        "notify.slack",
        "post a message to Slack",
        SlackParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        run=_slack,
    ),
    ActionSpec(
        "prometheus.query",
        "run a PromQL instant query",
        PrometheusQueryParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        run=_prometheus,
    ),
]
