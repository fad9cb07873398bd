"""The rules every mutating Kubernetes action follows, in one place.

:func:`mutate` reads the object, refuses it when it carries ``reconciler.dev/ignore: "true"``,
asks the action for its change (a :class:`Change`), and sends one patch holding the change, the
idempotency marker (``reconciler.dev/last-action: <execution>/<step>/<attempt>``) and the
resourceVersion it read, so the change lands only on the object it was computed from: a 409 means
someone wrote in between, and the loop reads again and recomputes (a few times). Then
:func:`record_event` creates a core/v1 Event on the object (not in dry-run mode), and
:func:`check` answers the engine's question after a crash: is the marker of this call there?
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, objects
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import ActionError, PermanentError, TemporaryError

MARKER = "reconciler.dev/last-action"
IGNORE = "reconciler.dev/ignore"
COMPONENT = "reconciler"
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Change:
    """What one mutating call writes, and what it reports.

    ``patch`` is a strategic or merge patch (a map) or a JSON patch (a list of operations);
    :func:`mutate` adds the marker and the resourceVersion to it. ``summary`` goes into the
    Event's message; ``output`` into the step's output.
    """

    patch: Any
    summary: str
    patch_type: str = "merge"
    output: dict[str, Any] = field(default_factory=dict)


Plan = Callable[[Obj], Awaitable[Change]]


@dataclass(frozen=True)
class Written:
    before: Obj  # the object as read
    after: Obj  # as the API server answered the patch (in dry-run mode: as it would be)
    change: Change


def require(context: ActionContext, action: str) -> KubeCluster:
    """The cluster of this call, or the error every Kubernetes action gives without one."""
    if context.cluster is None:
        raise PermanentError(
            f"no cluster configured: {action} needs a Kubernetes cluster (--cluster)"
        )
    return context.cluster


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def refuse_if_ignored(obj: Obj, action: str) -> None:
    if str(annotations_of(obj).get(IGNORE, "")).lower() == "true":
        raise PermanentError(
            f'{action} refused: {Ref.to(obj)} has the annotation {IGNORE}: "true" (its owners '
            "asked reconciler to leave it alone; remove the annotation to allow changes)"
        )


async def mutate(context: ActionContext, action: str, ref: Ref, plan: Plan) -> Written:
    """Read, refuse if ignored, plan, and patch with the marker; re-read on a conflict."""
    cluster = require(context, action)
    for _ in range(CONFLICT_RETRIES):
        before = await objects.read(cluster, ref)
        refuse_if_ignored(before, action)
        change = await plan(before)
        body = with_marker(change, before, context.marker)
        try:
            after = await objects.patch(
                cluster, ref, body, change.patch_type, dry_run=context.dry_run
            )
        except errors.Conflict:
            continue
        return Written(before, after, change)
    raise TemporaryError(
        f"{action}: {ref} changed while reconciler was writing it, {CONFLICT_RETRIES} times in "
        "a row; try again later"
    )


def with_marker(change: Change, current: Obj, marker: str) -> Any:
    """The change's patch, plus the marker annotation and the resourceVersion that was read."""
    metadata = current.get("metadata") or {}
    version = metadata.get("resourceVersion")
    if change.patch_type == "json":
        ops = list(change.patch)
        if isinstance(metadata.get("annotations"), dict):
            path = "/metadata/annotations/" + MARKER.replace("~", "~0").replace("/", "~1")
            ops.append({"op": "add", "path": path, "value": marker})
        else:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {MARKER: marker}})
        if version:
            ops.append({"op": "replace", "path": "/metadata/resourceVersion", "value": version})
        return ops
    body = dict(change.patch)
    written = dict(body.get("metadata") or {})
    written["annotations"] = {**(written.get("annotations") or {}), MARKER: marker}
    if version:
        written["resourceVersion"] = version
    body["metadata"] = written
    return body


def identity(ref: Ref) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    return out


async def finish(
    context: ActionContext, written: Written, reason: str, **extra: Any
) -> dict[str, Any]:
    """Record the Event (unless dry run) and build the step's output."""
    ref = Ref.to(written.before)
    event = None
    if not context.dry_run:
        event = await record_event(
            context, written.after or written.before, reason, written.change.summary
        )
    return {
        **identity(ref),
        **written.change.output,
        **extra,
        "dry_run": context.dry_run,
        "marker": context.marker,
        "event": event,
    }


async def record_event(context: ActionContext, obj: Obj, reason: str, summary: str) -> str | None:
    """A Normal Event on the object naming this call; best effort (the change is done).

    The Event's name derives from the marker, so a call that runs again records it once."""
    assert context.cluster is not None
    ref = Ref.to(obj)
    namespace = ref.namespace or "default"  # where kubectl looks for a node's events
    digest = hashlib.sha256(f"{context.marker}|{reason}".encode()).hexdigest()[:16]
    name = f"{ref.name[:200].rstrip('-.')}.{digest}"
    metadata = obj.get("metadata") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = (
        f"{summary} (reconciler execution {context.execution}, step {context.step}, "
        f"attempt {context.attempt})"
    )
    involved = {
        "apiVersion": obj.get("apiVersion"),
        "kind": ref.kind,
        "name": ref.name,
        "namespace": ref.namespace,
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "reason": reason,
        "message": message[:1024],
        "type": "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await objects.create_event(context.cluster, namespace, event)
    except errors.Conflict:
        pass  # this call already recorded it (it ran again after a crash)
    except ActionError as exc:
        context.log("kubernetes event not recorded", {"object": str(ref), "error": str(exc)})
        return None
    return name


async def check(context: ActionContext, kind: str, namespace: str | None, name: str) -> CheckResult:
    """DONE when the object carries this call's marker, NOT_DONE when not, UNKNOWN if unread."""
    if context.cluster is None:
        return CheckResult.UNKNOWN
    try:
        obj = await objects.read(context.cluster, Ref.of(kind, namespace, name))
    except ActionError:
        return CheckResult.UNKNOWN
    return (
        CheckResult.DONE
        if annotations_of(obj).get(MARKER) == context.marker
        else CheckResult.NOT_DONE
    )
