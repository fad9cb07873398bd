"""``kubernetes.increase_resources``: raise the CPU/memory of a workload's containers.

``memory``/``cpu`` set a new limit (never a lower one); ``factor`` multiplies the current
requests and limits; ``max_memory``/``max_cpu`` cap every new value. A call that can raise
nothing because everything is at its cap fails (the remediation cannot help any more); one
whose explicit values are already there succeeds without a change. The patch is a strategic
merge of the containers by name, so other containers and fields stay as they are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reconciler.actions.kubeops import marker, quantities
from reconciler.actions.kubeops.marker import Change
from reconciler.actions.kubeops.objects import Obj, Ref
from reconciler.actions.spec import ActionContext, CheckResult
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.actions import k8s

ACTION = "kubernetes.increase_resources"
RESOURCES = ("cpu", "memory")


async def increase(params: k8s.IncreaseResourcesParams, context: ActionContext) -> dict[str, Any]:
    ref = Ref(params.kind, params.namespace, params.name)

    async def plan(obj: Obj) -> Change:
        return _plan(params, ref, obj)

    written = await marker.mutate(context, ACTION, ref, plan)
    return await marker.finish(context, written, "ReconcilerIncreasedResources")


async def check(params: k8s.IncreaseResourcesParams, context: ActionContext) -> CheckResult:
    return await marker.check(context, params.kind, params.namespace, params.name)


def _plan(params: k8s.IncreaseResourcesParams, ref: Ref, obj: Obj) -> Change:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    chosen = [c for c in containers if params.container in (None, c.get("name"))]
    if not chosen:
        names = ", ".join(str(c.get("name")) for c in containers)
        raise PermanentError(
            f"{ACTION}: {ref} has no container {params.container!r} (it has: {names})"
        )
    patches, report, notes, capped = [], {}, [], False
    for container in chosen:
        name = str(container.get("name"))
        current = container.get("resources") or {}
        requests = dict(current.get("requests") or {})
        limits = dict(current.get("limits") or {})
        new_requests, new_limits = dict(requests), dict(limits)
        for resource in RESOURCES:
            hit = _raise(params, ref, name, resource, requests, limits, new_requests, new_limits)
            capped = capped or hit
        if (new_requests, new_limits) == (requests, limits):
            continue
        patches.append(
            {"name": name, "resources": {"requests": new_requests, "limits": new_limits}}
        )
        report[name] = {
            "requests": new_requests,
            "limits": new_limits,
            "previous_requests": requests,
            "previous_limits": limits,
        }
        notes.append(f"{name}: {_describe(requests, limits, new_requests, new_limits)}")
    if not patches and (capped or params.factor is not None):
        raise PermanentError(
            f"{ACTION}: nothing to raise on {ref}: its containers are already at "
            f"max_cpu/max_memory ({params.max_cpu or '-'}/{params.max_memory or '-'}) or set no "
            "requests or limits to multiply"
        )
    summary = "raised resources: " + "; ".join(notes) if notes else "resources already as asked"
    patch = {"spec": {"template": {"spec": {"containers": patches}}}} if patches else {}
    return Change(
        patch,
        summary,
        patch_type="strategic",
        output={"containers": report, "changed": bool(patches)},
    )


def _raise(
    params: k8s.IncreaseResourcesParams,
    ref: Ref,
    container: str,
    resource: str,
    requests: dict[str, Any],
    limits: dict[str, Any],
    new_requests: dict[str, Any],
    new_limits: dict[str, Any],
) -> bool:
    """Fill ``new_requests``/``new_limits`` for one resource; whether the cap held a value back."""
    where = f"{ref} container {container}"
    explicit = getattr(params, resource)
    cap_text = getattr(params, f"max_{resource}")
    cap = quantities.parse(cap_text, f"max_{resource}") if cap_text is not None else None
    capped = False

    def bounded(value: Decimal) -> Decimal:
        nonlocal capped
        if cap is not None and value > cap:
            capped = True
            return cap
        return value

    if explicit is not None:
        wanted = bounded(quantities.parse(explicit, resource))
        if resource in limits and wanted < quantities.parse(limits[resource], where):
            raise PermanentError(
                f"{ACTION}: {where}: {resource} limit {limits[resource]} is above the "
                f"{quantities.format_as(resource, wanted)} asked: this action only raises"
            )
        _set(new_limits, limits, resource, wanted)
        return capped
    if params.factor is None:
        return False
    factor = Decimal(str(params.factor))
    for old, new in ((requests, new_requests), (limits, new_limits)):
        if resource in old:
            current = quantities.parse(old[resource], where)
            _set(new, old, resource, max(bounded(current * factor), current))
    return capped


def _set(new: dict[str, Any], old: dict[str, Any], resource: str, value: Decimal) -> None:
    """Write a value, keeping the original text when the amount does not change."""
    if resource in old and quantities.parse(old[resource], resource) == value:
        return
    new[resource] = quantities.format_as(resource, value)


def _describe(
    requests: dict[str, Any],
    limits: dict[str, Any],
    new_requests: dict[str, Any],
    new_limits: dict[str, Any],
) -> str:
    parts = []
    for label, old, new in (("request", requests, new_requests), ("limit", limits, new_limits)):
        for resource in RESOURCES:
            if old.get(resource) != new.get(resource):
                parts.append(
                    f"{resource} {label} {old.get(resource, 'unset')} -> {new.get(resource)}"
                )
    return ", ".join(parts)
