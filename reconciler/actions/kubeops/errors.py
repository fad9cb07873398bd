"""Kubernetes API failures classified once: what the engine should do next about each.

Called by :func:`reconciler.actions.kubeops.objects.call` for every API call, so no action
decides on its own what a status code means:

====================  ===========================================================================
404                   :class:`NotFound` (a PermanentError) naming the kind, namespace and name
409                   :class:`Conflict` (a TemporaryError): the object changed between our read
                      and our write; the mutation loop re-reads and retries a few times
429                   :class:`TooManyRequests` (a TemporaryError; a drain waits on it), ``delay``
                      from the server's ``Retry-After``
5xx                   TemporaryError, ``delay`` from ``Retry-After``
timeouts, resets      TemporaryError (urllib3 errors: the API server could not be reached)
403                   PermanentError: the RBAC does not grant the call
401                   PermanentError: the credentials are not accepted
400, 422, other 4xx   PermanentError with the server's message
====================  ===========================================================================

Messages go through :func:`reconciler.errors.sanitize` (no tokens or URL credentials).
"""

from __future__ import annotations

import email.utils
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.errors import ActionError, PermanentError, TemporaryError, sanitize

if TYPE_CHECKING:  # the client is imported by the calls that raise its errors (objects.py)
    from kubernetes.client.exceptions import ApiException


class NotFound(PermanentError):
    """404: the object (or the API path) does not exist."""


class TooManyRequests(TemporaryError):
    """429: throttled, or an eviction a PodDisruptionBudget does not allow now."""


class Conflict(TemporaryError):
    """409: the object changed since it was read (or already exists, for a create)."""

    def __init__(self, message: str, *, reason: str = "Conflict") -> None:
        super().__init__(message)
        self.reason = reason


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call later may succeed (429, 5xx, conflicts, timeouts)."""
    # Looked up, not imported: an exception of the client exists only once the client is loaded.
    api_errors = sys.modules.get("kubernetes.client.exceptions")
    if api_errors is not None and isinstance(exc, api_errors.ApiException):
        status = int(exc.status or 0)
        return status in (409, 410, 429) or status >= 500
    urllib3 = sys.modules.get("urllib3.exceptions")
    if urllib3 is not None and isinstance(exc, urllib3.HTTPError):
        return True
    return isinstance(exc, TimeoutError | ConnectionError)


def classify(exc: ApiException, verb: str, what: str) -> ActionError:
    """The action error for a failed call: ``verb`` (get, patch, ...) on ``what`` (a Ref)."""
    status = int(exc.status or 0)
    message = server_message(exc)
    if status == 404:
        return NotFound(f"{what} not found")
    if status == 409:
        reason = _status_field(exc, "reason") or "Conflict"
        return Conflict(f"{verb} {what}: conflict ({message})", reason=str(reason))
    if status == 429:
        return TooManyRequests(
            f"{verb} {what}: the API server answered 429 ({message})", delay=retry_after(exc)
        )
    if status >= 500:
        return TemporaryError(
            f"{verb} {what}: the API server answered {status} ({message})",
            delay=retry_after(exc),
        )
    if status == 410:  # an expired list continuation: start over
        return TemporaryError(f"{verb} {what}: {message}")
    if status == 403:
        return PermanentError(
            f"{verb} {what}: forbidden by the cluster's RBAC: reconciler's service account "
            f"needs '{verb}' on it (see manifests/): {message}"
        )
    if status == 401:
        return PermanentError(
            f"{verb} {what}: the API server did not accept reconciler's credentials ({message})"
        )
    if status == 422:
        return PermanentError(f"{verb} {what}: rejected by the API server: {message}")
    if status == 0:  # raised by the client itself (TLS, a body it cannot send)
        return PermanentError(f"{verb} {what}: {sanitize(str(exc.reason))}")
    return PermanentError(f"{verb} {what}: the API server answered {status}: {message}")


def unreachable(exc: BaseException, verb: str, what: str, cluster: str) -> TemporaryError:
    """A call that got no answer (timeout, refused or reset connection)."""
    detail = sanitize(str(exc)) or type(exc).__name__
    return TemporaryError(f"{verb} {what}: cannot reach the Kubernetes API of {cluster}: {detail}")


def server_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status answer, else its reason phrase."""
    message = _status_field(exc, "message")
    return sanitize(str(message or exc.reason or f"HTTP {exc.status}"))


def retry_after(exc: ApiException) -> float | None:
    """The ``Retry-After`` header in seconds (a number or an HTTP date), if present."""
    headers = exc.headers or {}
    value = str(headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def _status_field(exc: ApiException, name: str) -> Any:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return None
    return body.get(name) if isinstance(body, dict) else None
