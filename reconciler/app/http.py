"""The HTTP API of ``reconciler run`` (SPEC §4), with its OpenAPI document at ``/openapi.json``.

The webhook answers 2xx only once the alerts are durably stored; 503 with ``Retry-After`` when
they cannot be or when the intake is full (alerts queued, bytes in flight: so Alertmanager,
which retries 5xx and not 4xx, sends them again later); 413 above 1 MiB, closing the connection
rather than reading on; 422 for a body it cannot read. A delivery whose client disconnected is
dropped before it is stored. Control endpoints need a named API token when ``--api-token-file`` is set;
approvals record the token's name. The app's lifespan starts and stops the service.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# definition time, and some name dependencies local to create_app.
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler import __version__
from reconciler.app.auth import Tokens
from reconciler.app.service import Service
from reconciler.app.views import summary
from reconciler.definitions.alert import Alert, parse_alerts
from reconciler.engine.control import ControlError
from reconciler.errors import EngineError, InputError, Overloaded
from reconciler.intake.load import Holding

log = structlog.get_logger("reconciler.api")
MAX_BODY = 1024 * 1024
WEBHOOK = "/api/v1/alerts"
BIG = 64 * 1024  # a body parsed in a worker thread (about 250 alerts and more)

Operation = Literal["pause", "resume", "cancel", "retry", "approve", "reject"]


class ControlRequest(BaseModel):
    step: str | None = Field(None, description="approve/reject: the step (default: any waiting)")
    comment: str | None = Field(None, description="approve/reject: recorded with the decision")
    reason: str | None = Field(None, description="cancel: recorded as the reason")


class SuspendRequest(BaseModel):
    reason: str = Field("", description="recorded with the suspension")


class Receipt(BaseModel):
    received: int = Field(description="alerts in the payload, now durably stored")
    repeats: int = Field(description="of which re-deliveries of alerts already stored")


def create_app(service: Service, *, webhook: Tokens, api: Tokens) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="reconciler",
        version=__version__,
        summary="Alertmanager alerts in, reviewed Kubernetes remediation out.",
        lifespan=lifespan,
    )
    app.add_middleware(_Shed, service=service)

    def operator(authorization: Annotated[str | None, Header()] = None) -> str:
        """Who calls a control endpoint: the API token's name (anyone, when none is set)."""
        if not api.enabled:
            return "anonymous"
        name = api.who(authorization)
        if name is None:
            raise _unauthorized("a valid API token (Authorization: Bearer ...) is required")
        return name

    Operator = Annotated[str, Depends(operator)]

    @app.post(WEBHOOK, response_model=Receipt, tags=["alerts"])
    async def receive_alerts(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Receipt:
        """Alertmanager webhook (payload version 4), or a list of alerts as ``amtool`` sends."""
        if webhook.enabled and webhook.who(authorization) is None:
            raise _unauthorized("a valid webhook token (Authorization: Bearer ...) is required")
        load = service.intake.load
        try:
            load.check_room()  # before reading anything (again: _Shed checked first)
            with load.holding() as holding:
                body = await _read_limited(request, holding)
                await _still_there(request)
                # A big body is parsed off the event loop: other deliveries are answered meanwhile.
                alerts = await asyncio.to_thread(_parse, body) if len(body) > BIG else _parse(body)
                await _still_there(request)
                receipt = await service.intake.receive(alerts)
        except Overloaded as exc:
            service.metrics.webhook_refused.labels(reason=exc.reason).inc()
            log.warning("webhook refused: the intake is full", reason=exc.reason)
            raise _unavailable(str(exc), exc.retry_after) from exc
        except (_Gone, ClientDisconnect) as exc:
            service.metrics.webhook_abandoned.inc()  # the answer reaches no one
            raise _unavailable("the client disconnected before its alerts were stored", 1) from exc
        except HTTPException:
            raise
        except Exception as exc:
            service.metrics.webhook_refused.labels(reason="store").inc()
            log.exception("alerts could not be stored")
            raise _unavailable("the alerts could not be stored; send them again", 1) from exc
        return Receipt(received=receipt.received, repeats=receipt.repeats)

    @app.get("/api/v1/alerts", tags=["alerts"])
    async def list_alerts(
        status: Literal["firing", "resolved"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Recent alerts, each with the decisions taken for it."""
        found = await service.store.alerts(status=status, limit=limit)
        for alert in found:
            alert["decisions"] = await service.store.decisions(
                fingerprint=alert["fingerprint"], starts_at=alert["starts_at"]
            )
        return found

    @app.get("/api/v1/executions", tags=["executions"])
    async def list_executions(
        status: str | None = None,
        workflow: str | None = None,
        policy: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        headers = await service.store.query(
            status=status, workflow=workflow, policy=policy, limit=limit
        )
        return [summary(h) for h in headers]

    @app.get("/api/v1/executions/{execution_id}", tags=["executions"])
    async def show_execution(execution_id: str) -> dict[str, Any]:
        """Steps, attempts, outputs, the timeline and the intake's decisions."""
        view = await service.execution(execution_id)
        if view is None:
            raise HTTPException(404, f"no execution {execution_id!r}")
        return view

    @app.post("/api/v1/executions/{execution_id}/{operation}", tags=["executions"])
    async def control(
        execution_id: str, operation: Operation, who: Operator, body: ControlRequest | None = None
    ) -> dict[str, Any]:
        request = body or ControlRequest()
        if await service.store.load(execution_id) is None:
            raise HTTPException(404, f"no execution {execution_id!r}")
        engine = service.engine
        try:
            if operation in ("approve", "reject"):
                await engine.approve(
                    execution_id,
                    by=who,
                    step=request.step,
                    comment=request.comment,
                    approve=operation == "approve",
                )
            elif operation == "cancel":
                await engine.cancel(execution_id, reason=request.reason or f"cancelled by {who}")
            else:
                await getattr(engine, operation)(execution_id)
        except (ControlError, EngineError) as exc:
            raise HTTPException(409, str(exc)) from exc
        log.info("execution control", execution=execution_id, operation=operation, by=who)
        view = await service.execution(execution_id)
        assert view is not None
        return view

    @app.get("/api/v1/status", tags=["service"])
    async def status() -> dict[str, Any]:
        """Active revision, last sync, conditions, last error, suspension."""
        return await service.status()

    @app.post("/api/v1/suspend", tags=["service"])
    async def suspend(who: Operator, body: SuspendRequest | None = None) -> dict[str, Any]:
        """The kill switch: no mutating work starts; in-flight executions pause."""
        return {"suspended": await service.suspend(who, (body or SuspendRequest()).reason)}

    @app.post("/api/v1/unsuspend", tags=["service"])
    async def unsuspend(who: Operator) -> dict[str, Any]:
        return {"suspended": None, "woken": await service.unsuspend(who)}

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics, all named ``reconciler_*``."""
        gauge = service.metrics.executions
        gauge.clear()
        for name, count in (await service.store.count_by_status()).items():
            gauge.labels(status=name).set(count)
        service.metrics.executions_overdue.set(await service.overdue())
        service.metrics.alerts_queued.set(service.intake.load.queued)
        service.metrics.webhook_bytes.set(service.intake.load.bytes)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"])
    async def readyz() -> JSONResponse:
        """Ready when the store is open and can write, and the intake works, even with no
        revision active yet."""
        problems = service.problems()
        body = {"ready": not problems, "problems": problems}
        return JSONResponse(body, status_code=503 if problems else 200)

    return app


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
        raise HTTPException(422, f"the body is not JSON: {exc}") from exc
    try:
        alerts = parse_alerts(data, "payload")
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    if isinstance(data, dict) and data.get("truncatedAlerts"):
        log.warning("Alertmanager truncated the payload", truncated=data["truncatedAlerts"])
    return alerts


class _Shed:
    """Refuses a webhook delivery past the intake's bounds before FastAPI routes it: when the
    service is saturated, each refusal must cost next to nothing (a few tens of microseconds
    instead of a millisecond through routing and dependencies), or refusing is itself the
    overload. The endpoint checks again (and counts bytes and alerts)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK and scope["method"] == "POST":
            try:
                self.service.intake.load.admit()
            except Overloaded as exc:
                self.service.metrics.webhook_refused.labels(reason=exc.reason).inc()
                body = json.dumps({"detail": str(exc)}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(exc.retry_after).encode()),
                ]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class _Gone(Exception):
    """The client went away: nothing of its delivery is stored (it will send it again)."""


async def _still_there(request: Request) -> None:
    if await request.is_disconnected():
        raise _Gone


def _too_large() -> HTTPException:
    # Close the connection rather than read the rest of a body nobody will use.
    return HTTPException(
        413, f"the body is larger than {MAX_BODY} bytes", headers={"Connection": "close"}
    )


def _unavailable(message: str, retry_after: int) -> HTTPException:
    """503: Alertmanager retries 5xx. The connection stays open: a body not read yet is
    discarded by uvicorn's parser (closing instead would reset it under the client's feet, and
    the client would see a connection error, not the 503)."""
    return HTTPException(503, message, headers={"Retry-After": str(retry_after)})


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
