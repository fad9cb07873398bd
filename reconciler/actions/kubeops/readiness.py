"""``kubernetes.wait_ready``: poll an object until it reports ready, as ``kubectl rollout status``.

Ready means: a Deployment's controller has seen its latest generation and every replica is
updated and available (no old ones left); a StatefulSet's replicas are ready and updated; a
DaemonSet's scheduled pods are updated and available; a Pod's ``Ready`` condition is true; a
Node's too; a Job has completed. States that waiting cannot fix fail at once (PermanentError):
a Deployment past its progress deadline, a failed Job, a finished Pod. Not ready within
``timeout``: TemporaryError saying what was still missing. Reads that fail transiently are
retried until the deadline. Time is the engine's (``context.clock``): in ``reconciler test`` the
polls move the fake clock and take no real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.actions.kubeops import marker, objects
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext
from reconciler.definitions.durations import format_duration
from reconciler.errors import PermanentError, TemporaryError

if TYPE_CHECKING:
    from reconciler.actions import k8s

ACTION = "kubernetes.wait_ready"


async def wait_ready(params: k8s.WaitReadyParams, context: ActionContext) -> dict[str, Any]:
    cluster = marker.require(context, ACTION)
    ref = Ref.of(params.kind, params.namespace, params.name)
    clock = context.clock
    started = clock.monotonic()
    deadline = started + params.timeout.total_seconds()
    while True:
        missing: str | None
        try:
            obj = await objects.read(cluster, ref)
        except TemporaryError as exc:
            missing = f"the last read failed: {exc}"
        else:
            missing = READY[params.kind](obj)
            if missing is None:
                return {
                    **marker.identity(ref),
                    "ready": True,
                    "waited_seconds": round(clock.monotonic() - started, 3),
                }
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise TemporaryError(
                f"{ref} not ready after {format_duration(params.timeout)}: {missing}"
            )
        await clock.sleep(min(params.interval.total_seconds(), remaining))


def _status(obj: Obj) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _condition(obj: Obj, kind: str) -> dict[str, Any]:
    return next((c for c in _status(obj).get("conditions") or [] if c.get("type") == kind), {})


def _unobserved(obj: Obj) -> str | None:
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(_status(obj).get("observedGeneration") or 0)
    if observed < generation:
        return f"its controller has not seen generation {generation} yet (saw {observed})"
    return None


def _deployment(obj: Obj) -> str | None:
    progressing = _condition(obj, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        raise PermanentError(
            f"{Ref.to(obj)}: the rollout exceeded its progress deadline "
            f"({progressing.get('message') or 'ProgressDeadlineExceeded'})"
        )
    if waiting := _unobserved(obj):
        return waiting
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    status = _status(obj)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return f"{updated} of {wanted} replicas updated"
    if total > updated:
        return f"{total - updated} old replicas pending termination"
    if available < wanted:
        return f"{available} of {wanted} updated replicas available"
    return None


def _stateful_set(obj: Obj) -> str | None:
    if waiting := _unobserved(obj):
        return waiting
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    status = _status(obj)
    ready = int(status.get("readyReplicas") or 0)
    if ready < wanted:
        return f"{ready} of {wanted} replicas ready"
    strategy = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate":
        updated = int(status.get("updatedReplicas") or 0)
        if updated < wanted:
            return f"{updated} of {wanted} replicas updated"
        current, update = status.get("currentRevision"), status.get("updateRevision")
        if current and update and current != update:
            return f"rolling update to {update} in progress"
    return None


def _daemon_set(obj: Obj) -> str | None:
    if waiting := _unobserved(obj):
        return waiting
    status = _status(obj)
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    if updated < desired:
        return f"{updated} of {desired} scheduled pods updated"
    if available < desired:
        return f"{available} of {desired} pods available"
    return None


def _pod(obj: Obj) -> str | None:
    phase = _status(obj).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise PermanentError(
            f"{Ref.to(obj)} has finished (phase {phase}): it will not become ready"
        )
    return _ready_condition(obj)


def _ready_condition(obj: Obj) -> str | None:
    ready = _condition(obj, "Ready")
    if ready.get("status") == "True":
        return None
    detail = (
        ready.get("reason") or ready.get("message") or ready.get("status") or "no Ready condition"
    )
    return f"Ready is not True ({detail})"


def _job(obj: Obj) -> str | None:
    if _condition(obj, "Failed").get("status") == "True":
        failed = _condition(obj, "Failed")
        raise PermanentError(
            f"{Ref.to(obj)} failed ({failed.get('reason') or ''}: {failed.get('message') or ''})"
        )
    if _condition(obj, "Complete").get("status") == "True":
        return None
    status = _status(obj)
    return f"not complete ({int(status.get('succeeded') or 0)} succeeded, {int(status.get('active') or 0)} active)"


READY: dict[str, Callable[[Obj], str | None]] = {
    "Deployment": _deployment,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "Pod": _pod,
    "Node": _ready_condition,
    "Job": _job,
}
