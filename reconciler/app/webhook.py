"""The Alertmanager webhook, ``POST /api/v1/alerts``: the service's hottest path.

2xx only once the alerts are durably stored; 503 with ``Retry-After`` when they cannot be or
when the intake is full (alerts queued, deliveries or bytes in flight: Alertmanager retries 5xx,
not 4xx); 413 above 1 MiB, closing the connection rather than reading on; 422 for a body it
cannot read; 401 without the webhook token when one is set. A delivery whose client has gone is
not stored. (``reconciler.app.guard``, in front, refuses a foreign ``Host`` with 421 and a body
that is not ``application/json`` with 415.)

:class:`Webhook` serves it as a thin ASGI layer in front of the FastAPI app (built by
:mod:`reconciler.app.http`, which still declares the endpoint for the OpenAPI document and
serves it through :func:`deliver` too): FastAPI's middleware, routing and dependency solving
cost about a millisecond of CPU per request, more than storing a small delivery, and under load
every request's CPU is every other request's latency. A refusal past the bounds is answered
before anything is read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.app.auth import Tokens, bearer
from reconciler.app.service import Service
from reconciler.definitions.alert import Alert, parse_alerts
from reconciler.errors import InputError, Overloaded
from reconciler.intake.load import Holding

log = structlog.get_logger("reconciler.api")
PATH = "/api/v1/alerts"
MAX_BODY = 1024 * 1024
BIG = 64 * 1024  # a body parsed in a worker thread (about 250 alerts and more)


class Rejected(Exception):
    """A delivery refused: the status, the detail for the client and extra headers."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        why: str = "",
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.why = why or detail  # for the service's log: may say more than the client is told


async def deliver(service: Service, tokens: Tokens, request: Request) -> bytes:
    """Store one delivery; the receipt's JSON, or :class:`Rejected`."""
    authorization = request.headers.get("authorization")
    if tokens.enabled and tokens.who(authorization) is None:
        raise Rejected(
            401,
            "a valid webhook token (Authorization: Bearer ...) is required",
            {"WWW-Authenticate": "Bearer"},
            # (Worded so that the log's redaction, which masks what follows "bearer", keeps it.)
            why=(
                "no token was sent"
                if bearer(authorization) is None
                else "the token sent does not match --webhook-token-file"
            )
            + "; Alertmanager sends the one in http_config.authorization.credentials_file of "
            "its webhook_configs",
        )
    load = service.intake.load
    try:
        load.check_room()  # before reading anything
        with load.holding() as holding:
            body = await _read_limited(request, holding)
            async with _watching(request) as gone:
                if len(body) > BIG:
                    # A big body is parsed off the event loop (other deliveries are answered
                    # meanwhile), and not at all for a client that has gone.
                    await gone()
                    alerts = await asyncio.to_thread(_parse, body)
                else:
                    alerts = _parse(body)
                await gone()  # nothing is stored for a client that has gone
                receipt = await service.intake.receive(alerts)
    except Overloaded as exc:
        service.metrics.webhook_refused.labels(reason=exc.reason).inc()
        log.warning("webhook refused: the intake is full", reason=exc.reason)
        raise _unavailable(str(exc), exc.retry_after) from exc
    except (_Gone, ClientDisconnect) as exc:
        service.metrics.webhook_abandoned.inc()  # the answer reaches no one
        raise _unavailable("the client disconnected before its alerts were stored", 1) from exc
    except Rejected:
        raise
    except Exception as exc:
        service.metrics.webhook_refused.labels(reason="store").inc()
        log.exception("alerts could not be stored")
        raise _unavailable("the alerts could not be stored; send them again", 1) from exc
    return b'{"received":%d,"repeats":%d}' % (receipt.received, receipt.repeats)


class Webhook:
    """ASGI: serves ``POST /api/v1/alerts`` itself; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, service: Service, tokens: Tokens) -> None:
        self.app = app
        self.service = service
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            # Past the bounds, refuse before reading: each refusal must cost next to nothing,
            # or refusing is itself the overload.
            self.service.intake.load.admit()
            body = await deliver(self.service, self.tokens, Request(scope, receive))
        except Overloaded as exc:
            self.service.metrics.webhook_refused.labels(reason=exc.reason).inc()
            self.rejected(scope, 503, exc.reason)
            await _answer(send, 503, _detail(str(exc)), {"Retry-After": str(exc.retry_after)})
        except Rejected as exc:
            self.rejected(scope, exc.status, exc.why)
            await _answer(send, exc.status, _detail(exc.detail), exc.headers)
        else:
            await _answer(send, 200, body, {})

    def rejected(self, scope: Scope, status: int, why: str) -> None:
        """Count a delivery answered with an error and, for a 4xx, log it: Alertmanager does
        not retry a 4xx, so its log would otherwise be the only place a wrong token or a broken
        payload shows. (503s are logged where they are decided, and not under overload, where
        each refusal must cost next to nothing.) Never a header's value: no token reaches a
        log."""
        self.service.metrics.webhook_rejected.labels(status=str(status)).inc()
        if status < 500:
            client = scope.get("client")
            log.warning(
                "webhook delivery rejected",
                status=status,
                reason=why if len(why) <= 500 else why[:500] + "...",
                client=f"{client[0]}:{client[1]}" if client else None,
            )


async def _answer(send: Send, status: int, body: bytes, headers: Mapping[str, str]) -> None:
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _detail(message: str) -> bytes:
    """An error body as FastAPI writes one (``{"detail": ...}``)."""
    return json.dumps({"detail": message}).encode()


async def _read_limited(request: Request, holding: Holding) -> bytes:
    """The body, refused with 413 as soon as it passes :data:`MAX_BODY` (never read whole),
    its bytes counted in flight (the declared length before reading any)."""
    declared = request.headers.get("content-length")
    known = declared is not None and declared.isdigit()
    if known and int(declared or 0) > MAX_BODY:
        raise _too_large()
    if known:
        holding.add(int(declared or 0))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        if not known:
            holding.add(len(chunk))
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> list[Alert]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise Rejected(422, f"the body is not JSON: {exc}") from exc
    except RecursionError as exc:
        # Python's JSON reader recurses once per level; an alert payload is 4 levels deep.
        raise Rejected(422, "the body's JSON is nested too deeply to be an alert payload") from exc
    try:
        alerts = parse_alerts(data, "payload")
    except InputError as exc:
        raise Rejected(422, str(exc)) from exc
    if isinstance(data, dict) and data.get("truncatedAlerts"):
        log.warning("Alertmanager truncated the payload", truncated=data["truncatedAlerts"])
    return alerts


class _Gone(Exception):
    """The client went away: nothing of its delivery is stored (it will send it again)."""


@asynccontextmanager
async def _watching(request: Request) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Once the body is read, the server's next message can only say the client left: listen
    for it in the background (as Starlette's streaming responses do), and give a check that
    raises :class:`_Gone` once it came. (``Request.is_disconnected`` polls with a cancel scope
    each time, which cost more than storing a small delivery.)"""
    listener = asyncio.ensure_future(request.receive())

    async def gone() -> None:
        await asyncio.sleep(0)  # the listener hears what has already come
        if listener.done() and listener.result().get("type") == "http.disconnect":
            raise _Gone

    try:
        yield gone
    finally:
        listener.cancel()


def _too_large() -> Rejected:
    # Close the connection rather than read the rest of a body nobody will use.
    return Rejected(413, f"the body is larger than {MAX_BODY} bytes", {"Connection": "close"})


def _unavailable(message: str, retry_after: int) -> Rejected:
    """503: Alertmanager retries 5xx. The connection stays open: a body not read yet is
    discarded by uvicorn's parser (closing instead would reset it under the client's feet, and
    the client would see a connection error, not the 503)."""
    return Rejected(503, message, {"Retry-After": str(retry_after)})
