"""The HTTP API of ``reconciler run`` (SPEC §4), with its OpenAPI document at ``/openapi.json``.

The webhook is :mod:`reconciler.app.webhook`, served in front of this FastAPI app. Control
endpoints need a named API token when ``--api-token-file`` is set; approvals record the token's
name. The app's lifespan starts and stops the service.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# definition time, and some name dependencies local to create_app.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp

from reconciler import __version__
from reconciler.app.auth import Tokens
from reconciler.app.service import Service
from reconciler.app.views import summary
from reconciler.app.webhook import PATH as WEBHOOK
from reconciler.app.webhook import Rejected, Webhook, deliver
from reconciler.engine.control import ControlError
from reconciler.errors import EngineError

log = structlog.get_logger("reconciler.api")

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


def create_app(service: Service, *, webhook: Tokens, api: Tokens) -> ASGIApp:
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
    async def receive_alerts(request: Request) -> Response:
        """Alertmanager webhook (payload version 4), or a list of alerts as ``amtool`` sends.
        Bearer token in ``Authorization`` when ``--webhook-token-file`` is set. (Served by
        :class:`~reconciler.app.webhook.Webhook` in front of this app; declared here for the
        OpenAPI document.)"""
        try:
            body = await deliver(service, webhook, request)
        except Rejected as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers) from exc
        return Response(body, media_type="application/json")

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

    return Webhook(app, service, webhook)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
