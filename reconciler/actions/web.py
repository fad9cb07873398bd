"""HTTP-speaking actions: ``http.request``, ``notify.webhook``, ``notify.slack``, ``prometheus.query``.

Schemas and flags now; implementations land with the engine issue (Prometheus with Kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from reconciler.actions.spec import ActionSpec, Params, declared
from reconciler.definitions.durations import Duration

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


def _http_mutates(params: Mapping[str, Any]) -> bool:
    return str(params.get("method", "GET")).upper() not in {"GET", "HEAD"}


ENGINE_ISSUE = "the engine issue"

ACTIONS: list[ActionSpec] = [
    declared(
        "http.request",
        "call an HTTP endpoint",
        HttpRequestParams,
        mutating=True,
        idempotent=False,
        dry_run=False,
        lands_with=ENGINE_ISSUE,
        mutating_when=_http_mutates,
    ),
    declared(
        "notify.webhook",
        "post a message to a webhook",
        WebhookParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        lands_with=ENGINE_ISSUE,
    ),
    declared(
        "notify.slack",
        "post a message to Slack",
        SlackParams,
        mutating=False,
        idempotent=False,
        dry_run=False,
        lands_with=ENGINE_ISSUE,
    ),
    declared(
        "prometheus.query",
        "run a PromQL instant query",
        PrometheusQueryParams,
        mutating=False,
        idempotent=True,
        dry_run=True,
        lands_with="the Kubernetes issue",
    ),
]
