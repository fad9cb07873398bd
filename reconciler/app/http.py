"""The HTTP API of ``reconciler run`` (SPEC §4), with its OpenAPI document at ``/openapi.json``.

Layers, outside in: :mod:`reconciler.app.guard` (Host names, JSON-only POSTs), the webhook
(:mod:`reconciler.app.webhook`), then this FastAPI app. With ``--api-token-file``, control and
reads of ``/api/v1`` need a named token (approvals record its name); without one, control is
open on loopback only and refused (403) on a listener beyond it. The OpenAPI document declares
every status each route can answer. No ``/docs``: FastAPI's page loads its JavaScript from a
CDN. The app's lifespan starts and stops the service.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# definition time, and some name dependencies local to create_app.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import structlog
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from reconciler import __version__
from reconciler.app.auth import Tokens
from reconciler.app.guard import Guard, Hosts, is_loopback
from reconciler.app.service import Service
from reconciler.app.views import summary
from reconciler.app.webhook import PATH as WEBHOOK
from reconciler.app.webhook import Rejected, Webhook, deliver
from reconciler.definitions.alert import Alert, WebhookPayload
from reconciler.engine.control import ControlError
from reconciler.engine.state import Status, iso
from reconciler.errors import EngineError

log = structlog.get_logger("reconciler.api")

Operation = Literal["pause", "resume", "cancel", "retry", "approve", "reject"]


class ControlRequest(BaseModel):
    step: str | None = Field(
        None,
        description="approve/reject: the step (default: any waiting); cancel: that step only "
        "(not started or waiting: it fails as cancelled); retry: that failed step only",
    )
    comment: str | None = Field(None, description="approve/reject: recorded with the decision")
    reason: str | None = Field(None, description="cancel: recorded as the reason")


class SuspendRequest(BaseModel):
    reason: str = Field("", description="recorded with the suspension")


class Empty(BaseModel):
    """No fields: a POST still sends a JSON body (``{}``), which no web page can forge."""


class Problem(BaseModel):
    detail: str = Field(description="what went wrong, and what to do")


# What each refusal means, for the OpenAPI document (every status a route can answer).
_MEANING = {
    400: "the body could not be parsed",
    401: "no valid bearer token (one is required: --api-token-file or --webhook-token-file)",
    403: "control refused: the service listens beyond loopback without --api-token-file",
    404: "no such execution",
    409: "the execution's state does not allow it",
    413: "the body is too large (1 MiB for alerts, 64 KiB for control requests)",
    415: "the body is not Content-Type: application/json",
    421: "the Host header is not one of the service's names (--allowed-hosts)",
    422: "the body or a parameter is not valid",
    503: "not ready, or the alerts could not be stored now (see Retry-After)",
}


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: 421 (the Host check) on every route, plus ``statuses``."""
    return {s: {"model": Problem, "description": _MEANING[s]} for s in (421, *statuses)}


class Readiness(BaseModel):
    ready: bool
    problems: list[str] = Field(description="why not ready (empty when ready)")


class Payload(WebhookPayload):
    """The webhook's body as the document shows it (parse_alerts refuses other versions)."""

    version: Literal["4"] = "4"


class Receipt(BaseModel):
    received: int = Field(description="alerts in the payload, now durably stored")
    repeats: int = Field(description="of which re-deliveries of alerts already stored")


def create_app(service: Service, *, webhook: Tokens, api: Tokens) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    settings = service.settings
    app = FastAPI(
        title="reconciler",
        version=__version__,
        summary="Alertmanager alerts in, reviewed Kubernetes remediation out.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their JavaScript from a CDN
        redoc_url=None,
    )
    api_bearer = HTTPBearer(
        scheme_name="apiToken", description="a token of --api-token-file", auto_error=False
    )
    webhook_bearer = HTTPBearer(
        scheme_name="webhookToken", description="the --webhook-token-file", auto_error=False
    )
    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(api_bearer)]
    open_control = is_loopback(settings.listen)

    def token_name(credentials: HTTPAuthorizationCredentials | None) -> str:
        name = api.who(f"Bearer {credentials.credentials}") if credentials else None
        if name is None:
            raise _unauthorized("a valid API token (Authorization: Bearer ...) is required")
        return name

    def operator(credentials: Credentials) -> str:
        """Who calls a control endpoint: the API token's name; anyone on a loopback listener
        when no token is set; nobody on a wider listener without tokens."""
        if api.enabled:
            return token_name(credentials)
        if open_control:
            return "anonymous"
        raise HTTPException(
            403,
            f"control is refused: the service listens on {settings.listen}, beyond loopback, "
            "and no API token is set; give it --api-token-file (RECONCILER_API_TOKEN_FILE)",
        )

    def reader(credentials: Credentials) -> None:
        """Reads show alerts, outputs and approvals: they need a token once tokens are set."""
        if api.enabled:
            token_name(credentials)

    Operator = Annotated[str, Depends(operator)]
    read = [Depends(reader)]

    @app.post(
        WEBHOOK,
        response_model=Receipt,
        tags=["alerts"],
        responses=_answers(401, 413, 415, 422, 503),
        dependencies=[Depends(webhook_bearer)],  # for the document: deliver() checks it
    )
    async def receive_alerts(
        request: Request, alerts: Annotated[Payload | list[Alert], Body()]
    ) -> Response:
        """Alertmanager webhook (payload version 4), or a list of alerts as ``amtool`` sends.
        Bearer token in ``Authorization`` when ``--webhook-token-file`` is set. (Served by
        :class:`~reconciler.app.webhook.Webhook` in front of this app; declared here for the
        OpenAPI document, its body too.)"""
        try:
            body = await deliver(service, webhook, request)
        except Rejected as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers) from exc
        return Response(body, media_type="application/json")

    @app.get("/api/v1/alerts", tags=["alerts"], dependencies=read, responses=_answers(401))
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

    @app.get("/api/v1/executions", tags=["executions"], dependencies=read, responses=_answers(401))
    async def list_executions(
        status: Status | None = None,
        workflow: str | None = None,
        policy: str | None = None,
        target: str | None = None,
        since: Annotated[
            AwareDatetime | None, Query(description="created at or after this time (RFC 3339)")
        ] = None,
        alert: Annotated[
            str | None, Query(description="started by an alert of this name or fingerprint")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Executions, newest first; every filter given must hold."""
        headers = await service.store.query(
            status=status,
            workflow=workflow,
            policy=policy,
            target=target,
            since=iso(since) if since else None,
            alert=alert,
            limit=limit,
        )
        return [summary(h) for h in headers]

    @app.get(
        "/api/v1/executions/{execution_id}",
        tags=["executions"],
        dependencies=read,
        responses=_answers(401, 404),
    )
    async def show_execution(execution_id: str) -> dict[str, Any]:
        """Steps, attempts, outputs, the timeline and the intake's decisions."""
        view = await service.execution(execution_id)
        if view is None:
            raise HTTPException(404, f"no execution {execution_id!r}")
        return view

    @app.post(
        "/api/v1/executions/{execution_id}/{operation}",
        tags=["executions"],
        responses=_answers(400, 401, 403, 404, 409, 413, 415),
    )
    async def control(
        execution_id: str, operation: Operation, who: Operator, request: ControlRequest
    ) -> dict[str, Any]:
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
                reason = request.reason or f"cancelled by {who}"
                await engine.cancel(execution_id, reason=reason, step=request.step)
            elif operation == "retry":
                await engine.retry(execution_id, step=request.step)
            elif request.step is not None:
                raise ControlError(f"{operation} applies to a whole execution: send no step")
            else:
                await getattr(engine, operation)(execution_id)
        except (ControlError, EngineError) as exc:
            raise HTTPException(409, str(exc)) from exc
        log.info("execution control", execution=execution_id, operation=operation, by=who)
        view = await service.execution(execution_id)
        assert view is not None
        return view

    @app.get("/api/v1/status", tags=["service"], dependencies=read, responses=_answers(401))
    async def status() -> dict[str, Any]:
        """Active revision, last sync, conditions, last error, suspension."""
        return await service.status()

    @app.post("/api/v1/suspend", tags=["service"], responses=_answers(400, 401, 403, 413, 415))
    async def suspend(who: Operator, body: SuspendRequest) -> dict[str, Any]:
        """The kill switch: no mutating work starts; in-flight executions pause."""
        return {"suspended": await service.suspend(who, body.reason)}

    @app.post("/api/v1/unsuspend", tags=["service"], responses=_answers(400, 401, 403, 413, 415))
    async def unsuspend(who: Operator, body: Empty) -> dict[str, Any]:
        return {"suspended": None, "woken": await service.unsuspend(who)}

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_answers()},
    )
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

    @app.get("/healthz", tags=["service"], responses=_answers())
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["service"],
        response_model=Readiness,
        responses={**_answers(), 503: {"model": Readiness, "description": "not ready"}},
    )
    async def readyz() -> JSONResponse:
        """Ready when the store is open and can write, and the intake works, even with no
        revision active yet."""
        problems = service.problems()
        body = {"ready": not problems, "problems": problems}
        return JSONResponse(body, status_code=503 if problems else 200)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A 405's ``Allow`` names every method of the path (Starlette names only those of the
        first route on it: ``POST`` alone for ``/api/v1/alerts``)."""
        if exc.status_code == 405:
            path = request.url.path
            methods = {
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(path)
                for method in route.methods or ()
            }
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
        return await http_exception_handler(request, exc)

    hosts = Hosts.of(settings.listen, settings.allowed_hosts)
    posts = [
        r.path_regex for r in app.routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())
    ]
    alerts = Webhook(app, service, webhook)
    return Guard(alerts, hosts, posts, webhook_path=WEBHOOK, rejected=alerts.rejected)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
