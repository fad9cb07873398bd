"""HTTP-speaking actions: ``http.request``, ``notify.webhook``, ``notify.slack``, ``prometheus.query``.

Through aiohttp, with a timeout over the whole call and a bounded response. Status codes are classified the
way retries need: 429 and 5xx (and connection failures) are temporary, honouring Retry-After;
other 4xx are permanent. ``prometheus.query`` runs an instant query over Prometheus's HTTP API.
Calls go through the engine's pooled sessions (:mod:`reconciler.actions.http_clients`, in the
call's context); a call without a pool (an action called on its own) builds a session for itself.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from pydantic import Field, model_validator

from reconciler.actions import http_clients
from reconciler.actions.spec import ActionContext, ActionSpec, Effect, Params
from reconciler.definitions.durations import Duration
from reconciler.errors import PermanentError, TemporaryError, sanitize

if TYPE_CHECKING:  # aiohttp is imported when a call is made, not when the catalogue is read
    import aiohttp

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
# RFC 9110 §9.2: safe methods read; idempotent ones may be sent again after an unknown outcome.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = SAFE_METHODS | {"PUT", "DELETE"}


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


async def _prometheus(params: PrometheusQueryParams, context: ActionContext) -> dict[str, Any]:
    """An instant query over Prometheus's HTTP API (``/api/v1/query``); without ``url:``, the
    service's ``--prometheus-url``."""
    base = params.url or context.prometheus_url
    if not base:
        raise PermanentError(
            "prometheus.query: no Prometheus: give the step a `url:`, or the service "
            "--prometheus-url (RECONCILER_PROMETHEUS_URL, prometheus_url: in the settings file)"
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
    return str(params.get("method", "GET")).upper() not in SAFE_METHODS


def _http_idempotent(params: Mapping[str, Any]) -> bool:
    return str(params.get("method", "GET")).upper() in IDEMPOTENT_METHODS


def _http_effect(params: Mapping[str, Any]) -> Effect:
    return "write" if _http_mutates(params) else "read"


def _sends(method: str) -> Callable[[Mapping[str, Any]], str]:
    """What a skipped call would have sent (the URL without credentials)."""
    return lambda params: (
        f"sent {str(params.get('method', method)).upper()} {sanitize(str(params.get('url', '')))}"
    )


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
    import aiohttp

    where = f"{method} {sanitize(url)}"
    request = _request(where, method, url, headers, json_body, body, timeout)
    try:
        # aiohttp's total timeout bounds the whole call: connecting, sending, reading the body.
        answer = await _exchange(request, clients)
    except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
        raise TemporaryError(f"{where}: timed out after {timeout.total_seconds():g}s") from exc
    except (aiohttp.InvalidURL, ValueError, OverflowError) as exc:
        raise PermanentError(f"{where}: invalid URL: {sanitize(str(exc))}") from exc
    except aiohttp.ClientError as exc:  # connecting, the connection dropped, a bad answer
        raise TemporaryError(f"{where}: {type(exc).__name__}: {sanitize(str(exc))}") from exc
    except Exception as exc:
        raise PermanentError(f"{where}: {type(exc).__name__}: {sanitize(str(exc))}") from exc
    output: dict[str, Any] = {
        "status": answer.status,
        "headers": answer.headers,
        "body": answer.text(),
        "truncated": answer.truncated,
    }
    if "json" in answer.headers.get("content-type", "") and not answer.truncated:
        with contextlib.suppress(ValueError):
            output["json"] = json.loads(answer.raw)
    ok = answer.status in expect if expect else 200 <= answer.status < 300
    if ok:
        return output
    summary = f"{where}: HTTP {answer.status}"
    if answer.status == 429 or answer.status >= 500:
        raise TemporaryError(summary, delay=_retry_after(answer.headers))
    raise PermanentError(summary)


_SECRET_HEADERS = {"set-cookie", "authorization", "proxy-authorization"}


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    data: bytes | None
    timeout: timedelta


def _request(
    where: str,
    method: str,
    url: str,
    headers: dict[str, str],
    json_body: Any,
    body: str | None,
    timeout: timedelta,
) -> _Request:
    """The request with its body encoded (JSON as httpx wrote it: compact, UTF-8)."""
    headers = dict(headers)
    if json_body is None:
        return _Request(method, url, headers, body.encode() if body is not None else None, timeout)
    try:
        data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"{where}: the json body cannot be sent: {exc}") from exc
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return _Request(method, url, headers, data.encode(), timeout)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]  # names lower-cased, repeats joined with ", ", secrets left out
    raw: bytes
    truncated: bool
    charset: str | None

    def text(self) -> str:
        try:
            return self.raw.decode(self.charset or "utf-8", "replace")
        except LookupError:  # a charset Python does not know
            return self.raw.decode("utf-8", "replace")


async def _exchange(request: _Request, clients: http_clients.HttpClients | None) -> _Answer:
    """Send the request on the pool's session (or one of its own when there is no pool)."""
    async with http_clients.lease(clients) as session:
        return await _over(session, request)


async def _over(session: aiohttp.ClientSession, request: _Request) -> _Answer:
    """Read at most MAX_BODY bytes of the answer (never the whole of a big one)."""
    import aiohttp

    async with session.request(
        request.method,
        request.url,
        headers=request.headers,
        data=request.data,
        allow_redirects=False,
        proxy=http_clients.proxy(request.url),
        timeout=aiohttp.ClientTimeout(total=request.timeout.total_seconds()),
        # No Content-Type of aiohttp's own on a raw body (the caller's, or none).
        skip_auto_headers=("Content-Type",),
    ) as response:
        kept = bytearray()
        while len(kept) <= MAX_BODY:
            chunk = await response.content.read(MAX_BODY + 1 - len(kept))
            if not chunk:
                break
            kept += chunk
        headers: dict[str, str] = {}
        for name, value in response.headers.items():
            key = name.lower()
            if key not in _SECRET_HEADERS:
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
        truncated = len(kept) > MAX_BODY
        return _Answer(
            response.status, headers, bytes(kept[:MAX_BODY]), truncated, response.charset
        )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


async def _http_request(params: HttpRequestParams, context: ActionContext) -> dict[str, Any]:
    # The engine skips a write in dry-run mode before calling (it declares no server-side dry
    # run); an action handed a dry-run context by any other caller still never writes.
    if context.dry_run and params.method not in SAFE_METHODS:
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
        effect="write",
        run=_http_request,
        mutating_when=_http_mutates,
        idempotent_when=_http_idempotent,
        effect_when=_http_effect,
        would=_sends("GET"),
        url_params=("url",),
    ),
    ActionSpec(
        "notify.webhook",
        "post a message to a webhook",
        WebhookParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        effect="write",  # a notification leaves the process: dry-run never sends it
        run=_webhook,
        would=_sends("POST"),
        url_params=("url",),
    ),
    ActionSpec(
        "notify.slack",
        "post a message to Slack",
        SlackParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        effect="write",
        run=_slack,
        would=lambda params: "posted a message to Slack",  # the webhook URL stays out of it
        url_params=("url",),
    ),
    ActionSpec(
        "prometheus.query",
        "run a PromQL instant query",
        PrometheusQueryParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        effect="read",
        run=_prometheus,
        url_params=("url",),
    ),
]
