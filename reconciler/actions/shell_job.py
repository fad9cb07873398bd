"""``shell`` with ``image:``: the argv run as a Kubernetes Job in the cluster.

Called by :mod:`reconciler.actions.process`. The Job runs the image with the argv as its
``command`` (never through a shell) and the params' ``env`` as environment variables; the call
waits for it to finish (polling, within the step's ``timeout``), returns the pod's log (size
limited) and deletes the Job. The Job carries the idempotency marker, so a resumed step can
find it. A Job that fails fails the step.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from reconciler.actions.kubeops import names
from reconciler.actions.spec import ActionContext
from reconciler.errors import PermanentError, TemporaryError

if TYPE_CHECKING:
    from reconciler.actions.process import ShellParams

MARKER = "reconciler.dev/last-action"
POLL = 0.5  # seconds between looks at the Job


async def run_job(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    cluster = context.cluster
    if cluster is None:
        raise PermanentError("no cluster configured: shell with image: runs as a Kubernetes Job")
    namespace = params.namespace or "default"
    names.check_namespace(namespace)  # it goes into the URL path: no "..", no "/"
    batch = kubernetes.client.BatchV1Api(cluster.api)
    core = kubernetes.client.CoreV1Api(cluster.api)
    deadline = time.monotonic() + params.timeout.total_seconds()
    try:
        created = await cluster.run(batch.create_namespaced_job, namespace, _job(params, context))
        name = str(created.metadata.name)  # type: ignore[union-attr]
        while True:
            read = await cluster.run(batch.read_namespaced_job, name, namespace)
            status: dict[str, Any] = cluster.api.sanitize_for_serialization(read).get("status", {})
            if status.get("succeeded") or status.get("failed"):
                break
            if time.monotonic() > deadline:
                await _delete(cluster, batch, name, namespace)
                raise TemporaryError(
                    f"shell Job {namespace}/{name} did not finish in {params.timeout}"
                )
            await asyncio.sleep(POLL)
        log = await _log(cluster, core, name, namespace, params.max_output_bytes)
        await _delete(cluster, batch, name, namespace)
    except ApiException as exc:
        if exc.status in (429, 500, 502, 503, 504):
            raise TemporaryError(f"shell Job in {namespace}: {exc.status} {exc.reason}") from exc
        raise PermanentError(f"shell Job in {namespace}: {exc.status} {exc.reason}") from exc
    if not status.get("succeeded"):
        raise PermanentError(f"shell Job {namespace}/{name} failed: {log['stdout'][-200:]}")
    return {"job": f"{namespace}/{name}", "succeeded": True, **log}


def _job(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "reconciler"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "reconciler-shell-",
            "labels": labels,
            "annotations": {MARKER: context.marker},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(int(params.timeout.total_seconds()), 1),
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "shell",
                            "image": params.image,
                            "command": list(params.command),
                            "env": [
                                {"name": k, "value": v}
                                for k, v in {
                                    **params.env,
                                    "RECONCILER_EXECUTION": context.execution,
                                    "RECONCILER_STEP": context.step,
                                }.items()
                            ],
                        }
                    ],
                },
            },
        },
    }


async def _log(cluster: Any, core: Any, job: str, namespace: str, limit: int) -> dict[str, Any]:
    pods = await cluster.run(core.list_namespaced_pod, namespace, label_selector=f"job-name={job}")
    names = [p["metadata"]["name"] for p in cluster.api.sanitize_for_serialization(pods)["items"]]
    if not names:
        return {"stdout": "", "truncated": False}
    text = await cluster.run(core.read_namespaced_pod_log, names[0], namespace)
    data = str(text).encode()
    return {"stdout": data[:limit].decode("utf-8", "replace"), "truncated": len(data) > limit}


async def _delete(cluster: Any, batch: Any, name: str, namespace: str) -> None:
    try:
        await cluster.run(
            batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
